"""SavedModel export for TensorFlow Serving: raw strings in, tokenised in-graph.

`export_run` writes `EXPORT/<version>/`, the layout TF Serving watches, into a
temporary directory beside it and renames it into place, so a server never
sees a half-written version. The vocabulary is an asset of the SavedModel and
text goes through `data.normalize_text`, the function training used, so
serving tokenises exactly as training did. The graphs use only core
TensorFlow ops and the two tensorflow-text ops that tensorflow-text 2.12.1
(the version stock TF Serving embeds) registers: `CaseFoldUTF8` and
`TFText>WhitespaceTokenizeWithOffsetsV2` (see `SERVING_TEXT_OPS`).

Signatures of a text model (N sentences, K slots of D dims, T tokens, L
generated tokens). An *optional* input is a 1-D tensor with zero or one
element: `[]` takes the documented default.

```none
score, serving_default
  in:  sentences string [N]; num_samples int32 [0 or 1] (default DEFAULT_NUM_SAMPLES)
  out: nll float32 [N]        IWAE estimate of -log p(x), nats
       elbo float32 [N]       one-sample ELBO
       kl float32 [N]         KL(q(Z|x) || p(Z)), nats
       num_tokens int32 [N]   tokens scored, <eos> included
encode
  in:  sentences string [N]
  out: posterior_mean, posterior_stddev float32 [N, K, D]   (bottom level,
       along the posterior's mean path)
       tokens string [N, T]                ("" after <eos>)
       posterior_attention float32 [N, K, T]   which words each latent read
       assignment float32 [N, T, K]   which latent produced each word (the
       alignment posterior with exact or variational alignment, else the
       decoder's read weights)
decode
  in:  latents float32 [N, K, D]; max_length int32 [0|1] (DEFAULT_MAX_LENGTH);
       temperature float32 [0|1] (1.0; <= 0 decodes greedily); seed int32 [0|1] (0)
  out: sentences string [N]; tokens string [N, L] ("" after <eos>);
       attention float32 [N, L, K]   which latent produced each word
reconstruct
  in:  sentences string [N]
  out: reconstructions string [N] (greedy decode of the posterior mean);
       tokens string [N, L]; attention float32 [N, L, K];
       posterior_attention float32 [N, K, T]
sample
  in:  num_samples int32 [0|1] (1); temperature float32 [0|1] (1.0); seed int32 [0|1] (0)
  out: sentences string [S]; tokens string [S, L]; latents float32 [S, K, D];
       attention float32 [S, L, K]
```
Image models export `score` (`images` float32 [N, 28, 28] in [0, 1],
binarised at 0.5; out `nll`, `elbo`, `kl`), `score_uint8` (`images` uint8
[N, 28, 28], 0/1 or 0..255, binarised at half the maximum), `encode`
(`posterior_mean`, `posterior_stddev`, `posterior_attention` over rows),
`decode` (`latents` -> `images` float32 [N, 28, 28], `attention` [N, 28, K])
and `sample`, with the same optional-input convention.
"""

import contextlib
import functools
import os
import re
import shutil
import time

import keras
import tensorflow as tf

from inverse_draw_tf import checkpoints
from inverse_draw_tf import data
from inverse_draw_tf import objectives

DEFAULT_NUM_SAMPLES = 100
DEFAULT_MAX_LENGTH = 50
# Sentences are cut to this many tokens (<eos> included) before scoring so a
# request cannot ask for unbounded memory.
MAX_TOKENS = 200
IWAE_CHUNK_SIZE = 25
SERVING_SEED = (0, 0)
# tensorflow-text ops the graphs may use: registered by tensorflow-text
# 2.12.1 (checked in its wheel), which stock TF Serving embeds.
SERVING_TEXT_OPS = frozenset({"CaseFoldUTF8",
                              "TFText>WhitespaceTokenizeWithOffsetsV2"})
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})


class ExportError(ValueError):
  """An export that would overwrite or cannot be made (one line)."""


def _optional(value, default):
  """First element of a 0-or-1 element vector, else `default`."""
  tf.debugging.assert_less_equal(
      tf.size(value), 1,
      message="optional inputs take zero or one value, e.g. [] or [10]")
  return tf.concat([value, tf.constant([default], value.dtype)], 0)[0]


def _seed(seed):
  return tf.stack([tf.cast(seed, tf.int32), tf.constant(0, tf.int32)])


def _check_latents(model, latents):
  """Checks `(N, K, D)` at run time and makes K and D static."""
  slots, dims = model.num_slots[0], model.latent_dim[0]
  check = tf.debugging.assert_equal(
      tf.shape(latents)[1:], tf.constant([slots, dims]),
      message=f"`latents` must have shape [N, {slots}, {dims}]")
  with tf.control_dependencies([check]):
    return tf.ensure_shape(tf.identity(latents), [None, slots, dims])


def _blank_after_eos(tokens, mask):
  return tf.where(mask, tokens, tf.constant("", tf.string))


WEIGHTS_DTYPES = ("float32", "float16")


def _stored_weights(method):
  """Runs a signature's body with the model reading the module's stored
  weights (see `_Serving`)."""

  @functools.wraps(method)
  def wrapped(self, *args):
    with self.weights_scope():
      return method(self, *args)

  return wrapped


class _Untracked:
  """Holds an object without making it part of the SavedModel's object graph."""

  def __init__(self, value):
    self.value = value


class _Serving(tf.Module):
  """Saves the model's weights as plain `tf.Variable`s, not the Keras objects.

  A SavedModel whose object graph contains the Keras 3 layers loads in TF2
  but fails in the session-based loader of TensorFlow Serving and
  `saved_model_cli run` ("Could not find variable ...", keras-team/keras
  #20095); keras' own ExportArchive likewise saves only the variables.

  With `weights_dtype="float16"` the variables are stored at half precision
  (half the size on disk) and cast back to the model's dtype in the graph:
  every signature runs inside a `keras.StatelessScope` that maps each Keras
  weight to its cast copy, so the model computes exactly as before on
  weights rounded to 11 significant bits.
  """

  def __init__(self, model, name, weights_dtype="float32"):
    super().__init__(name=name)
    if weights_dtype not in WEIGHTS_DTYPES:
      raise ExportError(f"`weights_dtype` must be one of {WEIGHTS_DTYPES}, "
                        f"received {weights_dtype!r}.")
    self._model = _Untracked(model)
    self._half = weights_dtype == "float16"
    if self._half:
      self.model_variables = [
          tf.Variable(tf.cast(v.value, tf.float16), trainable=False)
          for v in model.weights]
    else:
      self.model_variables = [v.value for v in model.weights]

  def weights_scope(self):
    """Where the model reads the stored weights (a no-op at float32)."""
    if not self._half:
      return contextlib.nullcontext()
    model_weights = self.model.weights
    return keras.StatelessScope(state_mapping=[
        (weight, tf.cast(stored, weight.dtype))
        for weight, stored in zip(model_weights, self.model_variables)])

  @property
  def model(self):
    return self._model.value


class TextServing(_Serving):
  """The serving signatures of a text model (see the module docstring)."""

  def __init__(self, model, vocabulary, weights_dtype="float32"):
    super().__init__(model, name="inverse_draw_text",
                     weights_dtype=weights_dtype)
    self.vocabulary = vocabulary

  def _tokens(self, sentences):
    tf.debugging.assert_positive(
        tf.size(sentences),
        message="`sentences` must hold at least one sentence")
    ids = self.vocabulary.encode(sentences)[:, :MAX_TOKENS]
    # A cut sentence still ends with <eos>.
    length = tf.reduce_sum(tf.cast(ids != data.PAD_ID, tf.int32), 1)
    last = tf.one_hot(length - 1, tf.shape(ids)[1], on_value=True,
                      off_value=False)
    return tf.where(last, tf.constant(data.EOS_ID, tf.int32), ids)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences"),
      tf.TensorSpec([None], tf.int32, name="num_samples")])
  @_stored_weights
  def score(self, sentences, num_samples):
    batch = {"tokens": self._tokens(sentences)}
    samples = _optional(num_samples, DEFAULT_NUM_SAMPLES)
    seed = tf.constant(SERVING_SEED, tf.int32)
    iwae = objectives.iwae_bound(self.model, batch, samples, seed=seed,
                                 chunk_size=IWAE_CHUNK_SIZE)
    terms = objectives.evidence_lower_bound(self.model, batch, seed=seed)
    return dict(nll=-iwae, elbo=terms["elbo"], kl=terms["kl"],
                num_tokens=terms["num_elements"])

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences")])
  def score_default(self, sentences):  # `score` reads the stored weights.
    return self.score(sentences, tf.zeros([0], tf.int32))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences")])
  @_stored_weights
  def encode(self, sentences):
    tokens = self._tokens(sentences)
    out = self.model.posterior_mean({"tokens": tokens})
    return dict(
        posterior_mean=out["posterior_loc"][0],
        posterior_stddev=out["posterior_scale"][0],
        tokens=_blank_after_eos(self.vocabulary.ids_to_tokens(tokens),
                                tokens != data.PAD_ID),
        posterior_attention=out["posterior_weights"][0],
        # Which latent produced each word of the input: the alignment
        # posterior p(a_t | x, z) with an exact or variational alignment,
        # else the decoder's read weights (teacher-forced, posterior means).
        assignment=out.get("alignment_posterior", out["decoder_weights"]))

  def _decode(self, latents, max_length, temperature, seed):
    out = self.model.generate(latents, max_length, temperature=temperature,
                              seed=seed)
    ids = out["elements"]
    return dict(
        sentences=self.vocabulary.detokenize(ids),
        tokens=_blank_after_eos(self.vocabulary.ids_to_tokens(ids),
                                out["element_mask"]),
        attention=out["read_weights"])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32, name="latents"),
      tf.TensorSpec([None], tf.int32, name="max_length"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def decode(self, latents, max_length, temperature, seed):
    latents = self._check_latents(latents)
    return self._decode(latents, _optional(max_length, DEFAULT_MAX_LENGTH),
                        _optional(temperature, 1.0),
                        _seed(_optional(seed, 0)))

  def _check_latents(self, latents):
    return _check_latents(self.model, latents)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences")])
  @_stored_weights
  def reconstruct(self, sentences):
    tokens = self._tokens(sentences)
    out = self.model.posterior_mean({"tokens": tokens})
    decoded = self._decode(out["posterior_loc"][0], DEFAULT_MAX_LENGTH, 0.0,
                           _seed(0))
    return dict(reconstructions=decoded["sentences"],
                tokens=decoded["tokens"], attention=decoded["attention"],
                posterior_attention=out["posterior_weights"][0])

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.int32, name="num_samples"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def sample(self, num_samples, temperature, seed):
    count = _optional(num_samples, 1)
    tf.debugging.assert_positive(
        count, message="`num_samples` must be a positive integer")
    seed = _seed(_optional(seed, 0))
    latents = self.model.sample_prior(count, seed)[0]
    decoded = self._decode(
        latents, DEFAULT_MAX_LENGTH, _optional(temperature, 1.0),
        tf.random.experimental.stateless_fold_in(seed, 1))
    decoded["latents"] = latents
    return decoded

  def signatures(self):
    return {
        "serving_default": self.score_default,
        "score": self.score,
        "encode": self.encode,
        "decode": self.decode,
        "reconstruct": self.reconstruct,
        "sample": self.sample,
    }


class ImageServing(_Serving):
  """The serving signatures of a binary-image model."""

  def __init__(self, model, weights_dtype="float32"):
    super().__init__(model, name="inverse_draw_images",
                     weights_dtype=weights_dtype)
    self.steps = (model.image_shape[0] * model.image_shape[1] //
                  model.pixels_per_step)

  def _score(self, pixels, num_samples):
    batch = {"pixels": pixels}
    seed = tf.constant(SERVING_SEED, tf.int32)
    iwae = objectives.iwae_bound(
        self.model, batch, _optional(num_samples, DEFAULT_NUM_SAMPLES),
        seed=seed, chunk_size=IWAE_CHUNK_SIZE)
    terms = objectives.evidence_lower_bound(self.model, batch, seed=seed)
    return dict(nll=-iwae, elbo=terms["elbo"], kl=terms["kl"])

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.float32, name="images"),
      tf.TensorSpec([None], tf.int32, name="num_samples")])
  @_stored_weights
  def score(self, images, num_samples):
    return self._score(tf.cast(images >= 0.5, tf.float32), num_samples)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.uint8, name="images"),
      tf.TensorSpec([None], tf.int32, name="num_samples")])
  @_stored_weights
  def score_uint8(self, images, num_samples):
    # 0/1 images and 0..255 images both binarise at half their maximum.
    top = tf.maximum(tf.reduce_max(tf.cast(images, tf.float32)), 1.0)
    return self._score(tf.cast(tf.cast(images, tf.float32) >= top / 2,
                               tf.float32), num_samples)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.float32, name="images")])
  def score_default(self, images):  # `score` reads the stored weights.
    return self.score(images, tf.zeros([0], tf.int32))

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.float32, name="images")])
  @_stored_weights
  def encode(self, images):
    batch = {"pixels": tf.cast(images >= 0.5, tf.float32)}
    out = self.model.posterior_mean(batch)
    return dict(posterior_mean=out["posterior_loc"][0],
                posterior_stddev=out["posterior_scale"][0],
                posterior_attention=out["posterior_weights"][0])

  def _decode(self, latents, temperature, seed):
    out = self.model.generate(latents, self.steps, temperature=temperature,
                              seed=seed)
    images = tf.reshape(out["elements"], [-1, *self.model.image_shape])
    return dict(images=images, attention=out["read_weights"])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32, name="latents"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def decode(self, latents, temperature, seed):
    latents = _check_latents(self.model, latents)
    return self._decode(latents, _optional(temperature, 1.0),
                        _seed(_optional(seed, 0)))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.int32, name="num_samples"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def sample(self, num_samples, temperature, seed):
    seed = _seed(_optional(seed, 0))
    latents = self.model.sample_prior(_optional(num_samples, 1), seed)[0]
    out = self._decode(latents, _optional(temperature, 1.0),
                       tf.random.experimental.stateless_fold_in(seed, 1))
    out["latents"] = latents
    return out

  def signatures(self):
    return {"serving_default": self.score_default, "score": self.score,
            "score_uint8": self.score_uint8, "encode": self.encode,
            "decode": self.decode, "sample": self.sample}


def serving_module(model, vocabulary=None, weights_dtype="float32"):
  """The tf.Module whose signatures are exported for `model`, its weights
  stored as `weights_dtype` ("float32" or "float16")."""
  if not model.num_levels:
    raise ExportError("a model without latents (num_slots=0) has nothing to "
                      "encode or decode; export needs num_slots >= 1.")
  if model.observation == "text":
    return TextServing(model, vocabulary, weights_dtype)
  return ImageServing(model, weights_dtype)


def graph_op_types(saved_model_dir):
  """Every op type in a SavedModel's graphs, function library included."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  proto = saved_model_pb2.SavedModel()
  with tf.io.gfile.GFile(os.path.join(saved_model_dir, "saved_model.pb"),
                         "rb") as f:
    proto.ParseFromString(f.read())
  types = set()
  for meta_graph in proto.meta_graphs:
    types.update(node.op for node in meta_graph.graph_def.node)
    for function in meta_graph.graph_def.library.function:
      types.update(node.op for node in function.node_def)
  return types


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
