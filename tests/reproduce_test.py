"""bin/reproduce trains, evaluates, and skips what is already done."""

import json
import os
import signal
import time

import pytest
import tensorflow as tf

import subprocess_utils as sp


class ReproduceTest(tf.test.TestCase):

  @pytest.mark.slow  # 48 s on 2 idle cores; `make test-all` runs it.
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
    # An evaluation with fewer samples than configs/results.py lists is
    # done again (and replaced only once the new one is written).
    result["num_samples"] = 0
    with open(os.path.join(results, "ptb_lm.json"), "w") as f:
      json.dump(result, f)
    code, log = sp.run("reproduce", flags)
    self.assertEqual(code, 0, log)
    self.assertIn("has S=0 < 1; evaluating again", log)
    with open(os.path.join(results, "ptb_lm.json")) as f:
      self.assertEqual(json.load(f)["num_samples"], 1)

  @pytest.mark.slow  # 32 s on 2 AMD EPYC cores; `make test-all` runs it.
  def test_config_arg_joins_the_rows_own_arg(self):
    root = self.create_tempdir().full_path
    code, log = sp.run("reproduce", [
        "--runs=ptb_lm_long", "--config_arg=runlocal",
        f"--runs_dir={root}/runs", f"--results_dir={root}/results"])
    self.assertEqual(code, 0, log)
    self.assertIn("training configs/ptb_lm.py:budget=long,runlocal", log)
    with open(os.path.join(root, "runs", "ptb_lm_long", "config.json")) as f:
      self.assertEqual(json.load(f)["train"]["num_steps"], 20)

  @pytest.mark.slow  # Two smoke runs and an S=500 evaluation.
  def test_a_rows_first_phase_trains_first_in_its_own_workdir(self):
    root = self.create_tempdir().full_path
    # Two training runs and an evaluation: longer than one run's 300 s.
    code, log = sp.run("reproduce", [
        "--runs=ptb_vae_li_fb5", "--config_arg=runlocal",
        f"--runs_dir={root}/runs", f"--results_dir={root}/results"],
                       timeout=900)
    self.assertEqual(code, 0, log)
    first = log.index("ptb_vae_li_ae: training")
    self.assertLess(first, log.index("ptb_vae_li_fb5: training"))
    with open(os.path.join(root, "runs", "ptb_vae_li_ae", "config.json")) as f:
      self.assertEqual(json.load(f)["objective"]["kl_schedule"], "zero")
    # The first phase is trained, not evaluated.
    self.assertEqual(os.listdir(os.path.join(root, "results")),
                     ["ptb_vae_li_fb5.json"])

  def test_sigterm_stops_the_running_child_too(self):
    root = self.create_tempdir().full_path
    log_path = os.path.join(root, "reproduce.log")
    parent = sp.start("reproduce", [
        "--runs=ptb_lm", "--config_arg=runlocal",
        f"--runs_dir={root}/runs", f"--results_dir={root}/results"],
                      log_path=log_path)
    child = _wait_for_child(parent.pid)
    parent.send_signal(signal.SIGTERM)
    code = parent.wait(timeout=120)
    with open(log_path) as f:
      log = f.read()
    still_running = _running(child)
    if still_running:
      os.kill(child, signal.SIGKILL)
    self.assertFalse(still_running, "bin/train outlived bin/reproduce")
    self.assertEqual(code, 1, log)
    self.assertIn("bin/reproduce: stopped by SIGTERM; bin/train exited with",
                  log)
    self.assertFalse(os.path.exists(os.path.join(root, "results",
                                                 "ptb_lm.json")))

  def test_unknown_run_is_a_one_line_error(self):
    code, log = sp.run("reproduce", ["--runs=ptb_gpt"])
    self.assertNotEqual(code, 0)
    self.assertIn("unknown --runs ['ptb_gpt']", log)


def _stat_fields(pid):
  """`/proc/<pid>/stat` after the command name (state, ppid, ...), or None
  once the process is gone."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()
  except (FileNotFoundError, ProcessLookupError):
    return None


def _running(pid):
  """Whether `pid` is a live process (not gone, not a zombie)."""
  fields = _stat_fields(pid)
  return fields is not None and fields[0] != "Z"


def _wait_for_child(parent_pid, timeout=60):
  """The pid of `parent_pid`'s first child process, once it exists."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    for entry in os.listdir("/proc"):
      fields = _stat_fields(entry) if entry.isdigit() else None
      if fields and int(fields[1]) == parent_pid:
        return int(entry)
    time.sleep(0.05)
  raise AssertionError(f"process {parent_pid} started no child in {timeout}s")


if __name__ == "__main__":
  tf.test.main()
