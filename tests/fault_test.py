"""Faults, for real: bin/train killed with SIGKILL or SIGTERM, corrupt
checkpoints, a workdir of another config, and two real MultiWorkerMirrored
workers on localhost."""

import json
import os
import signal

import pytest
import tensorflow as tf

import subprocess_utils as sp

TRAIN_FLAGS = [
    "--config=configs/ptb_small.py:runlocal",
    "--config.train.num_steps=160",
    "--config.train.checkpoint_every=40",
    "--config.train.log_every=1",
    "--config.train.eval_every=1000",
    "--config.train.keep_checkpoints=5",
]


class FaultTest(tf.test.TestCase):

  def workdir(self, name):
    return os.path.join(self.create_tempdir().full_path, name)

  @pytest.mark.slow  # 89 s on 2 idle cores; `make test-all` runs it.
  def test_sigkill_then_resume_equals_an_uninterrupted_run(self):
    reference = self.workdir("reference")
    code, output = sp.run("train", TRAIN_FLAGS + [f"--workdir={reference}"])
    self.assertEqual(code, 0, output)

    workdir = self.workdir("killed")
    process = sp.start("train", TRAIN_FLAGS + [f"--workdir={workdir}"],
                       log_path=workdir + ".log")
    killed_at = sp.wait_for_step(workdir, 90, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    resumed_from = sp.checkpoint_step(latest)
    # The periodic checkpoint before the kill (80, or 120 if the signal landed
    # late on a loaded machine), never the end of the run.
    self.assertIn(resumed_from, (80, 120), f"killed at {killed_at}")

    code, output = sp.run("train", TRAIN_FLAGS + [f"--workdir={workdir}"])
    self.assertEqual(code, 0, output)
    steps = sp.logged_steps(workdir)
    # After the restart, logging resumes at the checkpoint: only the steps
    # after it (at most one checkpoint interval) are done twice.
    restart = len(steps) - 1 - steps[::-1].index(resumed_from + 1)
    self.assertEqual(steps[restart:], list(range(resumed_from + 1, 161)))
    # Same data order, same noise, same updates: the same final weights.
    sp.assert_same_weights(
        self,
        sp.checkpoint_weights(os.path.join(reference, "checkpoints",
                                           "ckpt-160")),
        sp.checkpoint_weights(os.path.join(workdir, "checkpoints",
                                           "ckpt-160")),
        atol=1e-6)

  @pytest.mark.slow  # 27 s on 2 AMD EPYC cores; `make test-all` runs it.
  def test_sigterm_saves_a_checkpoint_and_exits(self):
    workdir = self.workdir("sigterm")
    process = sp.start("train", TRAIN_FLAGS + [f"--workdir={workdir}"],
                       log_path=workdir + ".log")
    sp.wait_for_step(workdir, 50, process)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    with open(workdir + ".log") as f:
      log = f.read()
    self.assertEqual(code, 42, log)
    self.assertIn("preempted at step", log)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    saved_step = sp.checkpoint_step(latest)
    self.assertEqual(latest.rsplit("-", 1)[1], str(saved_step))
    self.assertEqual(saved_step, sp.logged_steps(workdir)[-1])
    self.assertNotEqual(saved_step % 40, 0, "not the periodic checkpoint")

  def corrupt_then_resume(self, name, trained_steps, corrupt):
    """Trains `trained_steps` (checkpoints every 10), lets `corrupt` mangle
    the last checkpoint's data file, then resumes for 10 more steps.

    Returns:
      `(workdir, data_file, returncode, output)` of the resumed run.
    """
    workdir = self.workdir(name)
    flags = TRAIN_FLAGS[:1] + [f"--config.train.num_steps={trained_steps}",
                               "--config.train.checkpoint_every=10",
                               f"--workdir={workdir}"]
    code, output = sp.run("train", flags)
    self.assertEqual(code, 0, output)
    data_file = os.path.join(workdir, "checkpoints",
                             f"ckpt-{trained_steps}.data-00000-of-00001")
    with open(data_file, "rb") as f:
      content = f.read()
    with open(data_file, "wb") as f:
      f.write(corrupt(content))
    flags[1] = f"--config.train.num_steps={trained_steps + 10}"
    return (workdir, data_file) + sp.run("train", flags)

  @pytest.mark.slow  # 56 s on 2 idle cores; `make test-all` runs it.
  def test_truncated_checkpoint_falls_back_to_the_previous_one(self):
    workdir, data_file, code, output = self.corrupt_then_resume(
        "truncated", 20, lambda content: content[:len(content) // 2])
    self.assertEqual(code, 0, output)
    self.assertIn("ckpt-20 is unreadable", output)
    self.assertTrue(os.path.exists(data_file + ".corrupt"))
    # Resumed from step 10: steps 11.. were trained again, up to 30.
    train_steps = sp.logged_steps(workdir)
    self.assertEqual(train_steps[-1], 30)
    self.assertIn(15, train_steps[train_steps.index(20) + 1:])

  @pytest.mark.slow  # 34 s on 2 idle cores; `make test-all` runs it.
  def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(self):
    _, _, code, output = self.corrupt_then_resume(
        "all_corrupt", 10, lambda content: b"garbage")
    self.assertNotEqual(code, 0)
    self.assertRegex(output, r"bin/train: error: no readable checkpoint in "
                             r"`.*checkpoints`")

  @pytest.mark.slow  # 33 s on 2 idle cores; `make test-all` runs it.
  def test_workdir_of_another_config_is_refused(self):
    workdir = self.workdir("other")
    flags = TRAIN_FLAGS[:1] + ["--config.train.num_steps=2",
                               "--config.train.eval_every=2",
                               f"--workdir={workdir}"]
    code, output = sp.run("train", flags)
    self.assertEqual(code, 0, output)
    code, output = sp.run("train", flags + ["--config.model.num_slots=7"])
    self.assertEqual(code, 1)
    self.assertIn("holds a run of a different config (model.num_slots: 4 -> 7",
                  output)

  def test_invalid_config_fails_before_any_work(self):
    workdir = self.workdir("invalid")
    code, output = sp.run("train", TRAIN_FLAGS[:1] + [
        "--config.objective.kl_schedule=sometimes", f"--workdir={workdir}"])
    self.assertEqual(code, 1)
    self.assertEqual(
        output.strip().splitlines()[-1],
        "bin/train: error: `config.objective.kl_schedule` must be one of "
        "('none', 'linear', 'cyclical', 'zero'), received 'sometimes'.")
    self.assertFalse(os.path.exists(os.path.join(workdir, "checkpoints")))


class StrategyFlagsTest(tf.test.TestCase):

  @pytest.mark.slow  # 37 s on 2 idle cores; `make test-all` runs it.
  def test_mirrored_over_logical_cpu_devices(self):
    workdir = os.path.join(self.create_tempdir().full_path, "mirrored")
    code, output = sp.run("train", TRAIN_FLAGS[:1] + [
        "--config.train.num_steps=4", "--config.train.eval_every=4",
        "--strategy=mirrored", "--cpu_devices=2", f"--workdir={workdir}"])
    self.assertEqual(code, 0, output)
    self.assertRegex(output, r"MirroredStrategy.*devices.*CPU:0.*CPU:1")
    self.assertEqual(sp.logged_steps(workdir)[-1], 4)

  def test_odd_batch_cannot_be_split_over_two_replicas(self):
    code, output = sp.run("train", TRAIN_FLAGS[:1] + [
        "--config.input.batch_size=7", "--strategy=mirrored",
        "--cpu_devices=2",
        f"--workdir={self.create_tempdir().full_path}/odd"])
    self.assertEqual(code, 1)
    self.assertIn("`config.input.batch_size` (7) must be divisible by the "
                  "number of replicas (2)", output)


class MultiWorkerTest(tf.test.TestCase):

  @pytest.mark.slow  # 34 s on 2 idle cores; `make test-all` runs it.
  def test_two_workers_end_with_identical_weights(self):
    workdir = os.path.join(self.create_tempdir().full_path, "multi_worker")
    ports = [sp.free_port(), sp.free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    flags = TRAIN_FLAGS[:1] + ["--config.train.num_steps=12",
                               "--config.train.checkpoint_every=6",
                               "--config.train.eval_every=12",
                               "--strategy=multi_worker",
                               f"--workdir={workdir}"]
    processes = []
    for index in range(2):
      env = sp.environment(TF_CONFIG=json.dumps(
          {"cluster": cluster, "task": {"type": "worker", "index": index}}))
      processes.append(sp.start("train", flags, env=env,
                                log_path=f"{workdir}-{index}.log"))
    for index, process in enumerate(processes):
      code = process.wait(timeout=300)
      with open(f"{workdir}-{index}.log") as f:
        self.assertEqual(code, 0, f.read()[-3000:])
    chief = os.path.join(workdir, "checkpoints", "ckpt-12")
    worker = os.path.join(workdir, ".worker-1", "checkpoints", "ckpt-12")
    self.assertEqual(sp.checkpoint_step(chief), 12)
    sp.assert_same_weights(self, sp.checkpoint_weights(chief),
                           sp.checkpoint_weights(worker))
    # Only the chief writes the run's metrics.
    self.assertEqual(sp.logged_steps(workdir)[-1], 12)


if __name__ == "__main__":
  tf.test.main()
