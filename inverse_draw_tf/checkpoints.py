"""Checkpoints: the training loop's checkpoint manager and restoring a run.

A workdir made by `bin/train` holds its config, vocabulary and checkpoints:

```none
workdir/config.json        the config the run was started with
workdir/vocab.txt          the vocabulary (text)
workdir/checkpoints/       latest checkpoints (model, optimizer, step, counters)
workdir/best/              the checkpoint with the best validation ELBO
```
`restore(workdir)` rebuilds the run's model from its config and loads a
checkpoint; evaluation, the report, export and warm starts all go through
it, so none of them depends on the training loop.
"""

import collections
import os

from absl import logging
import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management  # pylint: disable=g-direct-tensorflow-import

from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import model as model_lib

WHICH = ("best", "latest")


class CheckpointError(RuntimeError):
  """Checkpoints exist but none of them can be read."""


Restored = collections.namedtuple(
    "Restored", ["config", "inputs", "model", "checkpoint_path", "step"])


def _check_which(which):
  if which not in WHICH:
    raise ValueError(f"`which` must be one of {WHICH}, received {which!r}.")


def find(workdir, which="best"):
  """The path of the run's `which` checkpoint ("best": best validation
  ELBO, the latest if there is no best yet; "latest"), or None."""
  _check_which(which)
  directories = [os.path.join(workdir, "best")] if which == "best" else []
  directories.append(os.path.join(workdir, "checkpoints"))
  for directory in directories:
    path = tf.train.latest_checkpoint(directory)
    if path:
      return path
  return None


def restore(workdir, checkpoint=None, which="best"):
  """Builds the run's model from its config and restores a checkpoint.

  Args:
    workdir: a run directory made by bin/train.
    checkpoint: optional checkpoint path or directory; overrides `which`.
    which: "best" or "latest" (see `find`).

  Returns:
    `Restored(config, inputs, model, checkpoint_path, step)`; `inputs` is the
    run's `data.Input` (vocabulary and datasets).

  Raises:
    config_lib.ConfigError: the workdir has no config or no checkpoint.
  """
  _check_which(which)
  config = config_lib.load_workdir_config(workdir)
  inputs = data.Input(config.input, workdir)
  model = model_lib.build_model(config.model, inputs.vocab_size)
  model(model_lib.example_batch(model))
  if checkpoint is None:
    checkpoint = find(workdir, which)
  elif tf.io.gfile.isdir(checkpoint):
    checkpoint = tf.train.latest_checkpoint(checkpoint)
  if not checkpoint:
    raise config_lib.ConfigError(
        f"no checkpoint found in `{workdir}`; train first (bin/train) or "
        "pass --checkpoint.")
  step = tf.Variable(0, dtype=tf.int64)
  tf.train.Checkpoint(model=model, step=step).restore(
      checkpoint).expect_partial().assert_existing_objects_matched()
  return Restored(config, inputs, model, checkpoint, int(step))


def restore_latest(checkpoint, directory, **manager_kwargs):
  """Makes the run's CheckpointManager and restores its newest readable save.

  A checkpoint that cannot be read (truncated or corrupt files) is renamed
  aside with a `.corrupt` suffix and the previous one is tried, so a resume
  never silently starts from scratch and never trips over the same file again.

  Returns:
    `(manager, restored_path or None)`.

  Raises:
    CheckpointError: checkpoints exist but none can be read.
  """
  manager = tf.train.CheckpointManager(checkpoint, directory, **manager_kwargs)
  errors = []
  for path in reversed(manager.checkpoints):
    try:
      checkpoint.restore(path).assert_existing_objects_matched()
    # Truncated files surface as IndexError ("Read less bytes than
    # requested") from the reader, not only as tf.errors.
    except (tf.errors.OpError, ValueError, AssertionError, IndexError,
            KeyError, EOFError) as error:
      message = str(error).strip().splitlines()[0]
      logging.warning("checkpoint %s is unreadable (%s); trying the previous "
                      "one", path, message)
      errors.append(f"{path}: {message}")
      continue
    if errors:
      _set_aside(directory, manager.checkpoints, path)
      manager = tf.train.CheckpointManager(checkpoint, directory,
                                           **manager_kwargs)
    return manager, path
  if errors:
    raise CheckpointError(
        f"no readable checkpoint in `{directory}` ({'; '.join(errors)}); "
        "delete or restore the files to continue.")
  return manager, None


def _set_aside(directory, paths, good_path):
  """Renames the checkpoints newer than `good_path` and points state at it."""
  newer = paths[paths.index(good_path) + 1:]
  for path in newer:
    for name in tf.io.gfile.glob(path + ".*"):
      tf.io.gfile.rename(name, name + ".corrupt", overwrite=True)
  kept = paths[:paths.index(good_path) + 1]
  checkpoint_management.update_checkpoint_state_internal(
      directory, model_checkpoint_path=good_path,
      all_model_checkpoint_paths=kept, save_relative_paths=True)
