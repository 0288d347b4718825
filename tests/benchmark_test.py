"""bin/benchmark runs end to end on a tiny config (it asserts no speed)."""

import json
import os

import tensorflow as tf

import subprocess_utils as sp


class BenchmarkTest(tf.test.TestCase):

  def test_wiring_benchmark_runs(self):
    output = os.path.join(self.create_tempdir().full_path, "bench.json")
    code, log = sp.run("benchmark", [
        "--config=configs/ptb_small.py:runlocal", "--steps=2", "--warmup=1",
        f"--output={output}"])
    self.assertEqual(code, 0, log)
    with open(output) as f:
      rows = json.load(f)
    self.assertEqual([r["variant"] for r in rows],
                     ["input_feeding", "output_only"])
    for row in rows:
      self.assertGreater(row["elements_per_s"], 0)
      self.assertGreater(row["parameters"], 0)
    self.assertIn("ms/step", log)


if __name__ == "__main__":
  tf.test.main()
