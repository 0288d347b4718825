"""Tests of inverse_draw_tf/machine.py: what a benchmark reports of the CPU."""

import os

import tensorflow as tf

from inverse_draw_tf import benchmark
from inverse_draw_tf import machine


class CpuFeaturesTest(tf.test.TestCase):

  def test_flags_of_the_first_processor(self):
    path = os.path.join(self.create_tempdir().full_path, "cpuinfo")
    with open(path, "w") as f:
      f.write("processor\t: 0\nmodel name\t: Some Xeon\n"
              "flags\t\t: fpu avx2 avx512f amx_tile amx_bf16\n\n"
              "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n")
    features = machine.cpu_features(path)
    self.assertEqual(features["model"], "Some Xeon")
    self.assertEqual({k for k, v in features.items() if v is True},
                     {"avx2", "avx512f", "amx_tile", "amx_bf16"})
    self.assertFalse(features["avx512_bf16"])

  def test_a_missing_file_reports_nothing(self):
    features = machine.cpu_features("/nonexistent/cpuinfo")
    self.assertIsNone(features["model"])
    self.assertFalse(any(v for k, v in features.items() if k != "model"))

  def test_the_machine_line_names_every_feature(self):
    features = {name: name == "amx_bf16" for name in machine.CPU_FEATURES}
    row = dict(tensorflow="2.21", cpu_cores=2, memory_gib=24.0,
               intra_op_threads=0, inter_op_threads=0,
               matmul_ceiling_gflops_per_s=300.0, mode="quick",
               cpu=dict(model="Some Xeon", **features))
    line = benchmark.format_row("machine", row)
    self.assertIn("CPU Some Xeon: avx2 no", line)
    self.assertIn("amx_bf16 yes", line)


if __name__ == "__main__":
  tf.test.main()
