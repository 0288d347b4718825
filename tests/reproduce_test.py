"""bin/reproduce trains, evaluates, and skips what is already done."""

import json
import os

import tensorflow as tf

import subprocess_utils as sp


class ReproduceTest(tf.test.TestCase):

  def test_trains_evaluates_then_resumes_without_redoing(self):
    root = self.create_tempdir().full_path
    runs, results = os.path.join(root, "runs"), os.path.join(root, "results")
    flags = ["--runs=ptb_lm", "--config_arg=runlocal", f"--runs_dir={runs}",
             f"--results_dir={results}"]
    code, log = sp.run("reproduce", flags)
    self.assertEqual(code, 0, log)
    with open(os.path.join(results, "ptb_lm.json")) as f:
      result = json.load(f)
    self.assertEqual(result["num_samples"], 1)
    self.assertGreater(result["nll"], 0)
    self.assertGreater(result["peak_rss_mib"], 0)
    self.assertTrue(os.path.exists(os.path.join(runs, "ptb_lm", "train.log")))
    code, log = sp.run("reproduce", flags)
    self.assertEqual(code, 0, log)
    self.assertIn("evaluation skipped", log)

  def test_unknown_run_is_a_one_line_error(self):
    code, log = sp.run("reproduce", ["--runs=ptb_gpt"])
    self.assertNotEqual(code, 0)
    self.assertIn("unknown --runs ['ptb_gpt']", log)


if __name__ == "__main__":
  tf.test.main()
