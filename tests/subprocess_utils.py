"""Runs the real entry points (`bin/train`, `bin/evaluate`) in subprocesses."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def environment(**extra):
  env = dict(os.environ)
  env.update(TF_CPP_MIN_LOG_LEVEL="2", TF_DETERMINISTIC_OPS="1",
             PYTHONUNBUFFERED="1")
  env.pop("TF_CONFIG", None)
  env.update(extra)
  return env


def start(script, flags, env=None, log_path=None):
  """Starts `bin/<script>` with flags; output goes to `log_path`."""
  command = [sys.executable, os.path.join(REPO_ROOT, "bin", script)] + flags
  log = open(log_path, "w") if log_path else subprocess.DEVNULL  # pylint: disable=consider-using-with
  return subprocess.Popen(command, cwd=REPO_ROOT, env=env or environment(),
                          stdout=log, stderr=subprocess.STDOUT)


def run(script, flags, env=None, timeout=300):
  """Runs `bin/<script>` to completion; returns (returncode, output)."""
  command = [sys.executable, os.path.join(REPO_ROOT, "bin", script)] + flags
  done = subprocess.run(command, cwd=REPO_ROOT, env=env or environment(),
                        capture_output=True, text=True, timeout=timeout,
                        check=False)
  return done.returncode, done.stdout + done.stderr


def logged_steps(workdir, kind="train"):
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [r["step"] for r in records if r.get("kind") == kind]


def wait_for_step(workdir, step, process, timeout=240):
  """Blocks until the run has logged `step` (or fails if it exits first)."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    steps = logged_steps(workdir)
    if steps and steps[-1] >= step:
      return steps[-1]
    if process.poll() is not None:
      raise AssertionError(
          f"training exited with {process.returncode} before step {step}")
    time.sleep(0.05)
  raise AssertionError(f"training did not reach step {step} in {timeout}s")


def checkpoint_weights(path):
  """`{name: array}` of the model variables in a checkpoint."""
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.startswith("model/") and "OPTIMIZER_SLOT" not in name}


def checkpoint_step(path):
  reader = tf.train.load_checkpoint(path)
  return int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))


def assert_same_weights(test, a, b, atol=0.0):
  test.assertEqual(sorted(a), sorted(b))
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=atol, rtol=0,
                               err_msg=name)


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]
