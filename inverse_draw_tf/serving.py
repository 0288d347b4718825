"""The serving signatures: what an exported SavedModel computes.

`export.py` writes these modules; this module defines what each signature
takes, checks and returns. Raw strings go in and are tokenised in-graph
(`data.Vocabulary`, an asset of the SavedModel), so serving tokenises
exactly as training did. The graphs use only core TensorFlow ops and the
two tensorflow-text ops that tensorflow-text 2.12.1 (the version stock TF
Serving embeds) registers (`SERVING_TEXT_OPS`).

Every job has a signature that takes only its essential input and a
`*_with_options` one that takes every option, because TF Serving's Predict
needs a value for every input a signature lists. An option is a 1-D tensor
with zero or one element: `[]` takes the documented default.

Signatures of a text model (N sentences, K slots of D dims, T tokens, L
generated tokens, L <= max_length: the longest output):

```none
score, serving_default           sentences string [N]
score_with_options               sentences; num_samples int32 [0|1] (100);
                                 seed int32 [0|1] (0)
  out: nll float32 [N]           IWAE estimate of -log p(x), nats
       elbo float32 [N]          one-sample ELBO
       kl float32 [N]            KL(q(Z|x) || p(Z)), nats
       num_tokens int32 [N]      tokens scored, <eos> included
encode                           sentences string [N]
  out: posterior_mean, posterior_stddev float32 [N, K, D]   (bottom level,
       along the posterior's mean path); tokens string [N, T] ("" after
       <eos>); posterior_attention float32 [N, K, T] (which words each
       latent read); assignment float32 [N, T, K] (which latent produced
       each word: the alignment posterior with exact or variational
       alignment, else the decoder's read weights); with L >= 2 levels
       also assignment_level_l float32 [N, K_{l-1}, K_l] for l = 2..L
       (which level-l latent each level-(l-1) latent came from; level 1
       is the bottom, whose assignment is `assignment`)
decode                           latents float32 [N, K, D]
decode_with_options              latents; max_length int32 [0|1] (50);
                                 temperature float32 [0|1] (1.0; <= 0 is
                                 greedy); seed int32 [0|1] (0);
                                 beam_size int32 [0|1] (1; > 1 is beam
                                 search, which ignores temperature and seed)
  out: sentences string [N]; tokens string [N, L]; attention float32
       [N, L, K] (which latent produced each word)
reconstruct                      sentences string [N]
reconstruct_with_options         sentences; max_length int32 [0|1] (50);
                                 beam_size int32 [0|1] (4; 1 is greedy)
  out: reconstructions string [N] (decoded from the posterior mean);
       tokens string [N, L]; attention float32 [N, L, K];
       posterior_attention float32 [N, K, T]
sample                           num_samples int32 [] (a scalar)
sample_with_options              num_samples int32 [0|1] (1); temperature
                                 float32 [0|1] (1.0); seed int32 [0|1] (0);
                                 max_length int32 [0|1] (50)
  out: sentences string [S]; tokens string [S, L]; latents float32
       [S, K, D]; attention float32 [S, L, K]
```

Image models export the same jobs on `images` float32 [N, 28, 28] in
[0, 1] (binarised at 0.5): `score` / `score_with_options` (`num_samples`,
`seed`; out `nll`, `elbo`, `kl`), `score_uint8` / `score_uint8_with_options`
(`images` uint8, 0/1 or 0..255, binarised at half the maximum), `encode`
(`posterior_mean`, `posterior_stddev`, `posterior_attention` over rows),
`decode` / `decode_with_options` (`temperature`, `seed`; out `images`
float32 [N, 28, 28], `attention` [N, 28, K]) and `sample` /
`sample_with_options`.

Requests are bounded (`LIMITS`, enforced with a message naming the input)
and run in chunks inside the graph, so memory is that of one chunk whatever
the request's size. A score is a function of the example, `num_samples` and
`seed` alone: each example draws its noise from the seed folded with a
fingerprint of its tokens (or pixels), never from its place in the batch
(`example_seed`).
"""

import contextlib
import functools

import keras
import tensorflow as tf

from inverse_draw_tf import data
from inverse_draw_tf import objectives

DEFAULT_NUM_SAMPLES = 100
DEFAULT_MAX_LENGTH = 50
DEFAULT_RECONSTRUCT_BEAM_SIZE = 4
# Sentences are cut to this many tokens (<eos> included) before scoring.
MAX_TOKENS = 200
# The most a request may ask for. Memory is bounded by chunking whatever
# the size; these bound the time one request can hold a server.
LIMITS = dict(
    examples=1000,          # sentences / images / latents per call
    num_samples=5000,       # importance samples per example in `score`
    # examples x num_samples in one `score` call: 200 PTB test sentences
    # at the default S=100 took 110 s of the released model on 2 cores.
    scored_samples=20000,
    samples=1000,           # sentences or images one `sample` call draws
    max_length=MAX_TOKENS,  # tokens a decoded sentence may have
    beam_size=16,
)
IWAE_CHUNK_SIZE = 25
# Rows x tokens of one in-graph chunk of `encode` / `reconstruct`, and rows
# (beams included) of one chunk of `decode` / `sample`.
CHUNK_TOKENS = 4096
CHUNK_ROWS = 64
SERVING_SEED = (0, 0)
# tensorflow-text ops the graphs may use: registered by tensorflow-text
# 2.12.1 (checked in its wheel), which stock TF Serving embeds.
SERVING_TEXT_OPS = frozenset({"CaseFoldUTF8",
                              "TFText>WhitespaceTokenizeWithOffsetsV2"})
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
WEIGHTS_DTYPES = ("float32", "float16")


class ExportError(ValueError):
  """An export that would overwrite or cannot be made (one line)."""


# -- Input checks -----------------------------------------------------------


def _after(checks, *tensors):
  """`tensors`, computed only once every check in `checks` has passed (so a
  refused request does no work)."""
  with tf.control_dependencies(checks):
    out = tuple(tf.identity(t) for t in tensors)
  return out if len(out) > 1 else out[0]


def _optional(value, default):
  """First element of a 0-or-1 element vector, else `default`."""
  check = tf.debugging.assert_less_equal(
      tf.size(value), 1,
      message="optional inputs take zero or one value, e.g. [] or [10]")
  return _after([check], tf.concat([value, tf.constant([default],
                                                        value.dtype)], 0)[0])


def _in_range(value, name, low, high):
  """Asserts `low <= value <= high` with a message naming the input."""
  message = f"`{name}` must be between {low} and {high}"
  return [tf.debugging.assert_greater_equal(value, low, message=message),
          tf.debugging.assert_less_equal(value, high, message=message)]


def _count_check(count, name, what):
  """At least one and at most `LIMITS['examples']` rows."""
  limit = LIMITS["examples"]
  return [tf.debugging.assert_positive(
      count, message=f"`{name}` must hold at least one {what}"),
          tf.debugging.assert_less_equal(
              count, limit, message=f"`{name}` holds at most {limit} {what}s "
              "a call; split the request")]


def _finite_check(value, name):
  return tf.debugging.assert_equal(
      tf.reduce_all(tf.math.is_finite(value)), True,
      message=f"`{name}` must be finite (no NaN or inf)")


def _check_latents(model, latents):
  """Checks `(N, K, D)`, N and finiteness at run time; makes K, D static."""
  slots, dims = model.num_slots[0], model.latent_dim[0]
  checks = [tf.debugging.assert_equal(
      tf.shape(latents)[1:], tf.constant([slots, dims]),
      message=f"`latents` must have shape [N, {slots}, {dims}]")]
  checks += _count_check(tf.shape(latents)[0], "latents", "latent row")
  checks.append(_finite_check(latents, "latents"))
  return tf.ensure_shape(_after(checks, latents), [None, slots, dims])


def _temperature(value):
  temperature = _optional(value, 1.0)
  return _after([_finite_check(temperature, "temperature")], temperature)


def _max_length(value):
  length = _optional(value, DEFAULT_MAX_LENGTH)
  return _after(_in_range(length, "max_length", 1, LIMITS["max_length"]),
                length)


def _beam_size(value, default):
  beam = _optional(value, default)
  return _after(_in_range(beam, "beam_size", 1, LIMITS["beam_size"]), beam)


def _seed(seed):
  return tf.stack([tf.cast(seed, tf.int32), tf.constant(0, tf.int32)])


def example_seed(seed, example):
  """The noise seed of one example: `seed` `(2,)` folded with a fingerprint
  of the example's values (its token ids, or pixels), so the example's
  score does not depend on the request it came in."""
  key = tf.strings.reduce_join(
      tf.strings.as_string(tf.reshape(tf.cast(example, tf.int32), [-1])),
      separator=",")
  fingerprint = tf.strings.to_hash_bucket_fast(key, 2**31 - 1)
  return tf.random.experimental.stateless_fold_in(
      seed, tf.cast(fingerprint, tf.int32))


# -- Chunked and per-example computation -------------------------------------


def score_examples(model, batch, num_samples, seed):
  """`nll`, `elbo`, `kl` (and `num_tokens` for text) of each example of
  `batch`, one example at a time with its own `example_seed`.

  Memory is that of one example's importance chunk whatever the batch size,
  and each score is a function of the example, `num_samples` and `seed`
  alone (the IWAE chunking depends only on the example's length). Text
  examples are cut at their last real token, so padding changes nothing.
  """
  text = "tokens" in batch
  values = batch["tokens"] if text else batch["pixels"]

  def one(example):
    if text:
      length = tf.reduce_sum(tf.cast(example != data.PAD_ID, tf.int32))
      example = example[:length]
    rows = {("tokens" if text else "pixels"): example[None]}
    noise_seed = example_seed(seed, example)
    iwae = objectives.iwae_bound(model, rows, num_samples, seed=noise_seed,
                                 chunk_size=IWAE_CHUNK_SIZE)
    terms = objectives.evidence_lower_bound(
        model, rows, seed=tf.random.experimental.stateless_fold_in(
            noise_seed, 1))
    out = dict(nll=-iwae[0], elbo=terms["elbo"][0], kl=terms["kl"][0])
    if text:
      out["num_tokens"] = terms["num_elements"][0]
    return out

  signature = dict(nll=tf.float32, elbo=tf.float32, kl=tf.float32)
  if text:
    signature["num_tokens"] = tf.int32
  return tf.map_fn(one, values, fn_output_signature=signature,
                   parallel_iterations=1)


def map_chunks(fn, inputs, filler, rows_per_chunk, output_dtypes):
  """`fn` over consecutive chunks of `rows_per_chunk` rows of `inputs`,
  results concatenated along rows: one chunk in memory at a time.

  Args:
    fn: chunk (a tensor `(C, ...)`) and its index -> dict of tensors whose
      first dimension is C and whose other dimensions are the same for
      every chunk.
    inputs: `(N, ...)`.
    filler: one row `(...)` that pads the last chunk (its results are
      dropped).
    rows_per_chunk: C, an int32 scalar >= 1.
    output_dtypes: dict of `fn`'s output dtypes.

  Returns:
    dict of `(N, ...)` tensors.
  """
  count = tf.shape(inputs)[0]
  num_chunks = (count + rows_per_chunk - 1) // rows_per_chunk
  fill = tf.repeat(filler[None], num_chunks * rows_per_chunk - count, 0)
  chunks = tf.reshape(tf.concat([inputs, fill], 0), tf.concat(
      [[num_chunks, rows_per_chunk], tf.shape(inputs)[1:]], 0))
  out = tf.map_fn(lambda args: fn(*args), (chunks, tf.range(num_chunks)),
                  fn_output_signature=output_dtypes, parallel_iterations=1)
  return {name: tf.reshape(value, tf.concat([[-1], tf.shape(value)[2:]],
                                            0))[:count]
          for name, value in out.items()}


def _pad_steps(value, length):
  """Pads axis 1 of `value` with zeros (False) to `length`."""
  padding = tf.stack([0, length - tf.shape(value)[1]])
  paddings = tf.concat([[[0, 0]], padding[None],
                        tf.zeros([tf.rank(value) - 2, 2], tf.int32)], 0)
  return tf.pad(value, paddings)


# -- Modules ----------------------------------------------------------------


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

  def _score(self, batch, num_samples, seed):
    samples = _optional(num_samples, DEFAULT_NUM_SAMPLES)
    count = tf.shape(next(iter(batch.values())))[0]
    checks = _in_range(samples, "num_samples", 1, LIMITS["num_samples"])
    total = LIMITS["scored_samples"]
    checks.append(tf.debugging.assert_less_equal(
        count * samples, total, message=f"examples x `num_samples` must be "
        f"at most {total} a call; send fewer examples or samples"))
    samples = _after(checks, samples)
    return score_examples(self.model, batch, samples,
                          _seed(_optional(seed, 0)))

  def _sample_count(self, num_samples):
    count = _optional(num_samples, 1)
    return _after(_in_range(count, "num_samples", 1, LIMITS["samples"]),
                  count)


def _default(dtype=tf.int32):
  """An empty option: the signature's default."""
  return tf.zeros([0], dtype)


class TextServing(_Serving):
  """The serving signatures of a text model (see the module docstring)."""

  def __init__(self, model, vocabulary, weights_dtype="float32"):
    super().__init__(model, name="inverse_draw_text",
                     weights_dtype=weights_dtype)
    self.vocabulary = vocabulary

  def _tokens(self, sentences):
    sentences = _after(_count_check(tf.size(sentences), "sentences",
                                    "sentence"), sentences)
    ids = self.vocabulary.encode(sentences)[:, :MAX_TOKENS]
    # A cut sentence still ends with <eos>.
    length = tf.reduce_sum(tf.cast(ids != data.PAD_ID, tf.int32), 1)
    last = tf.one_hot(length - 1, tf.shape(ids)[1], on_value=True,
                      off_value=False)
    return tf.where(last, tf.constant(data.EOS_ID, tf.int32), ids)

  def _token_chunks(self, fn, ids, output_dtypes):
    """`fn` over chunks of at most `CHUNK_TOKENS` tokens of `ids` (N, T)."""
    width = tf.shape(ids)[1]
    filler = tf.where(tf.range(width) == 0, data.EOS_ID, data.PAD_ID)
    rows = tf.maximum(1, CHUNK_TOKENS // width)
    return map_chunks(lambda chunk, _: fn(chunk), ids, filler, rows,
                      output_dtypes)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences"),
      tf.TensorSpec([None], tf.int32, name="num_samples"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def score_with_options(self, sentences, num_samples, seed):
    return self._score({"tokens": self._tokens(sentences)}, num_samples, seed)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences")])
  def score(self, sentences):  # The callee reads the stored weights.
    return self.score_with_options(sentences, _default(),
                                   _default())

  def _encode_ids(self, ids):
    def encode_chunk(chunk):
      out = self.model.posterior_mean({"tokens": chunk})
      return dict(
          posterior_mean=out["posterior_loc"][0],
          posterior_stddev=out["posterior_scale"][0],
          posterior_attention=out["posterior_weights"][0],
          # Which latent produced each word of the input: the alignment
          # posterior p(a_t | x, z) with an exact or variational alignment,
          # else the decoder's read weights (teacher-forced, posterior
          # means).
          assignment=out.get("alignment_posterior", out["decoder_weights"]),
          # Which slot of level l (1 = bottom) each level l - 1 slot came from.
          **{f"assignment_level_{level + 2}": weights for level, weights in
             enumerate(out["level_assignment"])})

    dtype = tf.float32
    levels = len(self.model.num_slots)
    return self._token_chunks(encode_chunk, ids, dict(
        posterior_mean=dtype, posterior_stddev=dtype,
        posterior_attention=dtype, assignment=dtype,
        **{f"assignment_level_{level}": dtype
           for level in range(2, levels + 1)}))

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences")])
  @_stored_weights
  def encode(self, sentences):
    ids = self._tokens(sentences)
    out = self._encode_ids(ids)
    out["tokens"] = tf.where(ids != data.PAD_ID,
                             self.vocabulary.ids_to_tokens(ids), "")
    return out

  def _generate(self, latents, max_length, temperature, seed, beam_size):
    """Decodes `(N, K, D)` latents in chunks of `CHUNK_ROWS` beams; chunk i
    samples with seed `fold_in(seed, i)`."""

    def decode_chunk(chunk, index):
      def sampled():
        out = self.model.generate(
            chunk, max_length, temperature=temperature,
            seed=tf.random.experimental.stateless_fold_in(seed, index))
        return out["elements"], out["element_mask"], out["read_weights"]

      def searched():
        out = self.model.beam_search(chunk, max_length, beam_size)
        return out["elements"], out["element_mask"], out["read_weights"]

      if isinstance(beam_size, int):  # `sample`: never a beam.
        elements, mask, weights = sampled()
      else:
        elements, mask, weights = tf.cond(beam_size > 1, searched, sampled)
      return dict(elements=_pad_steps(elements, max_length),
                  mask=_pad_steps(mask, max_length),
                  attention=_pad_steps(weights, max_length))

    out = map_chunks(decode_chunk, latents, tf.zeros_like(latents[0]),
                     tf.maximum(1, CHUNK_ROWS // beam_size),
                     dict(elements=tf.int32, mask=tf.bool,
                          attention=tf.float32))
    # Every sentence ends in <eos>: the longest one sets the width.
    length = tf.reduce_max(tf.reduce_sum(tf.cast(out["mask"], tf.int32), 1))
    ids, mask = out["elements"][:, :length], out["mask"][:, :length]
    return dict(sentences=self.vocabulary.detokenize(ids),
                tokens=tf.where(mask, self.vocabulary.ids_to_tokens(ids), ""),
                attention=out["attention"][:, :length])

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32, name="latents"),
      tf.TensorSpec([None], tf.int32, name="max_length"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed"),
      tf.TensorSpec([None], tf.int32, name="beam_size")])
  @_stored_weights
  def decode_with_options(self, latents, max_length, temperature, seed,
                          beam_size):
    return self._generate(_check_latents(self.model, latents),
                          _max_length(max_length), _temperature(temperature),
                          _seed(_optional(seed, 0)), _beam_size(beam_size, 1))

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32, name="latents")])
  def decode(self, latents):
    none = _default()
    return self.decode_with_options(latents, none, _default(tf.float32), none,
                                    none)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences"),
      tf.TensorSpec([None], tf.int32, name="max_length"),
      tf.TensorSpec([None], tf.int32, name="beam_size")])
  @_stored_weights
  def reconstruct_with_options(self, sentences, max_length, beam_size):
    ids = self._tokens(sentences)
    max_length = _max_length(max_length)
    beam_size = _beam_size(beam_size, DEFAULT_RECONSTRUCT_BEAM_SIZE)
    encoded = self._encode_ids(ids)
    # Greedy (temperature 0) when the beam is one wide.
    decoded = self._generate(encoded["posterior_mean"], max_length, 0.0,
                             _seed(0), beam_size)
    return dict(reconstructions=decoded["sentences"],
                tokens=decoded["tokens"], attention=decoded["attention"],
                posterior_attention=encoded["posterior_attention"])

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.string, name="sentences")])
  def reconstruct(self, sentences):
    none = _default()
    return self.reconstruct_with_options(sentences, none, none)

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.int32, name="num_samples"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed"),
      tf.TensorSpec([None], tf.int32, name="max_length")])
  @_stored_weights
  def sample_with_options(self, num_samples, temperature, seed, max_length):
    count = self._sample_count(num_samples)
    seed = _seed(_optional(seed, 0))
    temperature = _temperature(temperature)
    max_length = _max_length(max_length)
    latents = sample_latents(self.model, count, seed)
    decoded = self._generate(
        latents, max_length, temperature,
        tf.random.experimental.stateless_fold_in(seed, 1), 1)
    decoded["latents"] = latents
    return decoded

  @tf.function(input_signature=[
      tf.TensorSpec([], tf.int32, name="num_samples")])
  def sample(self, num_samples):
    return self.sample_with_options(num_samples[None], _default(tf.float32),
                                    _default(), _default())

  def signatures(self):
    return {
        "serving_default": self.score,
        "score": self.score,
        "score_with_options": self.score_with_options,
        "encode": self.encode,
        "decode": self.decode,
        "decode_with_options": self.decode_with_options,
        "reconstruct": self.reconstruct,
        "reconstruct_with_options": self.reconstruct_with_options,
        "sample": self.sample,
        "sample_with_options": self.sample_with_options,
    }


def sample_latents(model, count, seed):
  """`count` bottom-level latent draws from the prior, `CHUNK_ROWS` at a
  time (chunk i from `fold_in(seed, i)`, a whole chunk drawn and cut), so
  sample j is a function of j and the seed alone."""
  def draw(_, index):
    return dict(latents=model.sample_prior(
        CHUNK_ROWS, tf.random.experimental.stateless_fold_in(seed, index))[0])

  indices = tf.zeros([count], tf.int32)
  return map_chunks(draw, indices, tf.constant(0), CHUNK_ROWS,
                    dict(latents=tf.float32))["latents"]


class ImageServing(_Serving):
  """The serving signatures of a binary-image model."""

  def __init__(self, model, weights_dtype="float32"):
    super().__init__(model, name="inverse_draw_images",
                     weights_dtype=weights_dtype)
    self.steps = (model.image_shape[0] * model.image_shape[1] //
                  model.pixels_per_step)

  def _pixels(self, images):
    return _after(_count_check(tf.shape(images)[0], "images", "image"),
                  images)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.float32, name="images"),
      tf.TensorSpec([None], tf.int32, name="num_samples"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def score_with_options(self, images, num_samples, seed):
    pixels = tf.cast(self._pixels(images) >= 0.5, tf.float32)
    return self._score({"pixels": pixels}, num_samples, seed)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.float32, name="images")])
  def score(self, images):
    none = _default()
    return self.score_with_options(images, none, none)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.uint8, name="images"),
      tf.TensorSpec([None], tf.int32, name="num_samples"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  def score_uint8_with_options(self, images, num_samples, seed):
    # 0/1 images and 0..255 images both binarise at half their maximum.
    values = tf.cast(images, tf.float32)
    top = tf.maximum(tf.reduce_max(values), 1.0)
    return self.score_with_options(
        tf.cast(values >= top / 2, tf.float32), num_samples, seed)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.uint8, name="images")])
  def score_uint8(self, images):
    none = _default()
    return self.score_uint8_with_options(images, none, none)

  @tf.function(input_signature=[
      tf.TensorSpec([None, 28, 28], tf.float32, name="images")])
  @_stored_weights
  def encode(self, images):
    pixels = tf.cast(self._pixels(images) >= 0.5, tf.float32)

    def encode_chunk(chunk, _):
      out = self.model.posterior_mean({"pixels": chunk})
      return dict(posterior_mean=out["posterior_loc"][0],
                  posterior_stddev=out["posterior_scale"][0],
                  posterior_attention=out["posterior_weights"][0])

    return map_chunks(encode_chunk, pixels, tf.zeros_like(pixels[0]),
                      CHUNK_ROWS, dict(posterior_mean=tf.float32,
                                       posterior_stddev=tf.float32,
                                       posterior_attention=tf.float32))

  def _generate(self, latents, temperature, seed):
    def decode_chunk(chunk, index):
      out = self.model.generate(
          chunk, self.steps, temperature=temperature,
          seed=tf.random.experimental.stateless_fold_in(seed, index))
      return dict(images=tf.reshape(out["elements"],
                                    [-1, *self.model.image_shape]),
                  attention=out["read_weights"])

    return map_chunks(decode_chunk, latents, tf.zeros_like(latents[0]),
                      CHUNK_ROWS, dict(images=tf.float32,
                                       attention=tf.float32))

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32, name="latents"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def decode_with_options(self, latents, temperature, seed):
    return self._generate(_check_latents(self.model, latents),
                          _temperature(temperature),
                          _seed(_optional(seed, 0)))

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None], tf.float32, name="latents")])
  def decode(self, latents):
    return self.decode_with_options(latents, _default(tf.float32),
                                    _default())

  @tf.function(input_signature=[
      tf.TensorSpec([None], tf.int32, name="num_samples"),
      tf.TensorSpec([None], tf.float32, name="temperature"),
      tf.TensorSpec([None], tf.int32, name="seed")])
  @_stored_weights
  def sample_with_options(self, num_samples, temperature, seed):
    count = self._sample_count(num_samples)
    seed = _seed(_optional(seed, 0))
    latents = sample_latents(self.model, count, seed)
    out = self._generate(latents, _temperature(temperature),
                         tf.random.experimental.stateless_fold_in(seed, 1))
    out["latents"] = latents
    return out

  @tf.function(input_signature=[
      tf.TensorSpec([], tf.int32, name="num_samples")])
  def sample(self, num_samples):
    return self.sample_with_options(num_samples[None], _default(tf.float32),
                                    _default())

  def signatures(self):
    return {"serving_default": self.score, "score": self.score,
            "score_with_options": self.score_with_options,
            "score_uint8": self.score_uint8,
            "score_uint8_with_options": self.score_uint8_with_options,
            "encode": self.encode, "decode": self.decode,
            "decode_with_options": self.decode_with_options,
            "sample": self.sample,
            "sample_with_options": self.sample_with_options}


def serving_module(model, vocabulary=None, weights_dtype="float32"):
  """The tf.Module whose signatures are exported for `model`, its weights
  stored as `weights_dtype` ("float32" or "float16")."""
  if not model.num_levels:
    raise ExportError("a model without latents (num_slots=0) has nothing "
                       "to encode or decode; export needs num_slots >= 1.")
  if model.observation == "text":
    return TextServing(model, vocabulary, weights_dtype)
  return ImageServing(model, weights_dtype)
