"""One-line errors from the bin/ tools (inverse_draw_tf/cli.py, and the
checks train and export run before any work), each on a real command."""

import os

import tensorflow as tf

import subprocess_utils as sp
from inverse_draw_tf import cli
from inverse_draw_tf import export

SMALL = "--config=configs/ptb_small.py:runlocal"


class FlagErrorsTest(tf.test.TestCase):

  def _usage_error(self, script, flags):
    code, output = sp.run(script, flags)
    lines = output.strip().splitlines()
    self.assertEqual(code, cli.USAGE_ERROR, output)
    self.assertLen(lines, 1, output)  # No traceback.
    self.assertStartsWith(lines[0], f"bin/{script}: error: ")
    return lines[0]

  def test_each_bad_config_flag_is_one_line_with_exit_code_2(self):
    workdir = f"--workdir={self.create_tempdir().full_path}/run"
    cases = [
        ([SMALL, "--config.model.nonexistent=1"],
         "--config.model.nonexistent: the config has no key "
         "`model.nonexistent`"),
        (["--config=configs/does_not_exist.py"],
         "config file `configs/does_not_exist.py` does not exist"),
        ([SMALL, "--config.model.num_slots=abc"],
         "flag --config.model.num_slots=abc: invalid literal for int()"),
        (["--config=configs/ptb_small.py:nokey=1"],
         "unknown config key `nokey` in 'nokey=1'"),
        ([SMALL, "--nosuchflag"], "Unknown command line flag 'nosuchflag'"),
    ]
    for flags, message in cases:
      self.assertIn(message, self._usage_error("train", flags + [workdir]))
    self.assertFalse(os.path.exists(workdir.split("=")[1]))

  def test_other_tools_share_the_parser(self):
    self.assertIn("config file `nowhere.py` does not exist",
                  self._usage_error("benchmark", ["--config=nowhere.py"]))
    self.assertIn("Unknown command line flag 'bogus'",
                  self._usage_error("export", ["--bogus"]))

  def test_messages_from_hand_made_errors(self):
    argv = ["bin/train", "--config=c.py", "--config.train.nope=3"]
    self.assertIn("--config.train.nope: the config has no key `train.nope`",
                  cli.usage_error_message(argv, AttributeError("'nope'")))
    self.assertEqual(
        cli.usage_error_message(argv, ValueError("bad\nValueError: last")),
        "last")


class DataErrorTest(tf.test.TestCase):

  def test_an_empty_split_fails_before_the_workdir_is_written(self):
    root = self.create_tempdir().full_path
    train_path = os.path.join(root, "train.txt")
    with open(train_path, "w") as f:
      f.write("the cat sat\na dog ran\n")
    blank = os.path.join(root, "valid.txt")
    with open(blank, "w") as f:
      f.write("  \n\n")
    workdir = os.path.join(root, "run")
    code, output = sp.run("train", [
        SMALL, "--config.input.dataset=text",
        f"--config.input.train_path={train_path}",
        f"--config.input.valid_path={blank}",
        f"--config.input.test_path={train_path}", f"--workdir={workdir}"])
    self.assertEqual(code, 1, output)
    self.assertEqual(output.strip().splitlines()[-1],
                     f"bin/train: error: text file `{blank}` has no "
                     "sentences; pass a file with one sentence per line.")
    # Nothing written: the corrected rerun is not "a different config".
    self.assertFalse(os.path.exists(workdir))


class ExportDirTest(tf.test.TestCase):

  def test_an_unwritable_export_dir_fails_first_in_one_line(self):
    blocker = os.path.join(self.create_tempdir().full_path, "a_file")
    with open(blocker, "w") as f:
      f.write("x")
    code, output = sp.run("export", [
        "--workdir=/nonexistent/run", f"--export_dir={blocker}/exports"])
    self.assertEqual(code, 1, output)
    last = output.strip().splitlines()[-1]
    # The directory is checked before the workdir is even read.
    self.assertStartsWith(last, "bin/export: error: cannot write to export "
                          f"directory `{blocker}/exports`")
    self.assertEndsWith(last, "pass an --export_dir you can create and "
                        "write.")

  def test_an_upgrade_without_a_version_fails_in_one_line(self):
    code, output = sp.run("export", [
        "--workdir=/nonexistent/run", "--upgrade=/nonexistent/export/3",
        f"--export_dir={self.create_tempdir().full_path}"])
    self.assertEqual(code, 1, output)
    self.assertEqual(output.strip().splitlines()[-1],
                     "bin/export: error: --upgrade needs --version (the old "
                     "export has no training step to default to).")
    # TensorFlow's C++ start-up INFO and WARNING lines are not shown.
    self.assertNotIn("cpu_feature_guard", output)

  def test_stale_temporaries_of_dead_exports_are_removed(self):
    root = self.create_tempdir().full_path
    # No process has pid 4194304 or more (Linux's pid_max limit).
    dead, alive = ".tmp-3-4194305", f".tmp-4-{os.getpid()}"
    for name in (dead, alive, "7", ".tmp-notes"):
      os.makedirs(os.path.join(root, name))
    self.assertEqual(export.remove_stale_temporaries(root), [dead])
    self.assertCountEqual(os.listdir(root), [alive, "7", ".tmp-notes"])


if __name__ == "__main__":
  tf.test.main()
