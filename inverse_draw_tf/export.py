"""SavedModel export for TensorFlow Serving.

`export_run` writes `EXPORT/<version>/`, the layout TF Serving watches, into a
temporary directory beside it and renames it into place, so a server never
sees a half-written version; the export directory is checked for writing
before any work, and temporaries of killed exports are removed. What the
exported signatures take and return: `serving.py`.
"""

import os
import re
import shutil
import time

import tensorflow as tf

from inverse_draw_tf import checkpoints
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import likelihood
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import serving

ExportError = serving.ExportError
serving_module = serving.serving_module


def _saved_model_proto(saved_model_dir):
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"),
                         "rb") as f:
    proto.ParseFromString(f.read())
  return proto


def graph_op_types(saved_model_dir):
  """Every op type in a SavedModel's graphs, function library included."""
  types = set()
  for meta_graph in _saved_model_proto(saved_model_dir).meta_graphs:
    types.update(node.op for node in meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
      types.update(node.op for node in function.node_def)
  return types


def xla_compiled_functions(saved_model_dir):
  """Names of the SavedModel's functions marked for XLA compilation, which
  TF Serving refuses unless started with its experimental XLA:CPU flag."""
  return sorted(
      function.signature.name
      for meta_graph in _saved_model_proto(saved_model_dir).meta_graphs
      for function in meta_graph.graph_def.library.function
      if function.attr["_XlaMustCompile"].b)


def _process_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # Alive, another user's.
    return True
  return True


def remove_stale_temporaries(export_dir):
  """Deletes `.tmp-<version>-<pid>` directories of processes that are gone
  (an export killed before its rename); returns their names. A live
  process's temporary is left alone: it may be exporting now."""
  removed = []
  if not os.path.isdir(export_dir):
    return removed
  for name in sorted(os.listdir(export_dir)):
    match = re.fullmatch(r"\.tmp-\d+-(\d+)", name)
    if match and not _process_alive(int(match.group(1))):
      shutil.rmtree(os.path.join(export_dir, name), ignore_errors=True)
      removed.append(name)
  return removed


def check_export_dir(export_dir):
  """Creates `export_dir` and checks it is writable, before any work, with a
  one-line ExportError naming the problem otherwise."""
  try:
    tf.io.gfile.makedirs(export_dir)
    probe = os.path.join(export_dir, f".write-test-{os.getpid()}")
    with tf.io.gfile.GFile(probe, "w") as f:
      f.write("")
    tf.io.gfile.remove(probe)
  except (OSError, tf.errors.OpError) as error:
    reason = getattr(error, "message", None) or getattr(
        error, "strerror", None) or str(error)
    raise ExportError(
        f"cannot write to export directory `{export_dir}` "
        f"({reason.splitlines()[0]}); pass an --export_dir you can "
        "create and write.") from None


def export(module, export_dir, version, overwrite=False):
  """Writes `module` to `export_dir/<version>` atomically; returns the path."""
  if int(version) != version or version < 0:
    raise ExportError(f"`version` must be a non-negative integer, received "
                      f"{version!r}.")
  target = os.path.join(export_dir, str(int(version)))
  if tf.io.gfile.exists(target) and not overwrite:
    raise ExportError(f"`{target}` already exists; pass --overwrite to "
                      "replace it or choose another --version.")
  check_export_dir(export_dir)
  remove_stale_temporaries(export_dir)
  # A dot-name: TF Serving only loads directories named by an integer.
  temp = os.path.join(export_dir, f".tmp-{version}-{os.getpid()}")
  if tf.io.gfile.exists(temp):
    tf.io.gfile.rmtree(temp)
  with likelihood.uncompiled():  # TF Serving runs no XLA by default.
    tf.saved_model.save(module, temp, signatures=module.signatures())
  if tf.io.gfile.exists(target):
    retired = os.path.join(export_dir, f".old-{version}-{int(time.time())}")
    tf.io.gfile.rename(target, retired)
    tf.io.gfile.rename(temp, target)
    shutil.rmtree(retired, ignore_errors=True)
  else:
    tf.io.gfile.rename(temp, target)
  return target


def export_run(workdir, export_dir, version=None, overwrite=False,
               checkpoint=None, which="best", weights_dtype="float32"):
  """Exports a trained run; the version defaults to the checkpoint's step."""
  check_export_dir(export_dir)  # Before the model is restored and traced.
  _, inputs, model, _, step = checkpoints.restore(workdir, checkpoint, which)
  module = serving_module(model, inputs.vocabulary, weights_dtype)
  return export(module, export_dir, step if version is None else version,
                overwrite=overwrite)


def upgrade_export(saved_model_dir, config_dir, export_dir, version,
                   overwrite=False, weights_dtype="float32"):
  """Re-exports a SavedModel that an earlier version of this package wrote,
  with today's signatures, from its own stored weights and vocabulary (for
  a model whose checkpoints are gone, like the release).

  Args:
    saved_model_dir: the old export, `.../<version>/`.
    config_dir: a directory with the run's `config.json` (its workdir or
      its record under results/runs/).
    export_dir, version, overwrite, weights_dtype: as in `export_run`.

  Returns:
    The new version's path.

  Raises:
    ExportError: the old export's weights do not fit the config's model.
  """
  check_export_dir(export_dir)
  config = config_lib.load_workdir_config(config_dir)
  old = tf.saved_model.load(saved_model_dir)
  vocabulary = data.Vocabulary(
      os.path.join(saved_model_dir, "assets", "vocab.txt"))
  model = model_lib.build_model(config.model, vocabulary.size)
  model(model_lib.example_batch(model))
  stored = list(old.model_variables)
  shapes = lambda variables: [tuple(v.shape) for v in variables]
  if shapes(stored) != shapes(model.weights):
    raise ExportError(
        f"the weights in `{saved_model_dir}` do not fit the model of "
        f"`{config_dir}/config.json` ({len(stored)} stored, "
        f"{len(model.weights)} built); pass the run that was exported.")
  for weight, value in zip(model.weights, stored):
    weight.assign(tf.cast(value, weight.dtype))
  return export(serving_module(model, vocabulary, weights_dtype), export_dir,
                version, overwrite=overwrite)
