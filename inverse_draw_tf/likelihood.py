"""The text likelihood of the output layer, log softmax(logits)[target], fused.

`tfd.Categorical(logits).log_prob(targets)` computes the same numbers, but
on the training step's `(B, T, V)` logits (V = 10,002 on PTB) most of the
output layer's time went to passes over the logits, not to its matmuls: at
the reference VAE's sizes (B=32, T=24, mixed_bfloat16, 2-core Xeon with
AMX, idle) the output layer's matmuls forward and backward took 17.7 ms and
the whole layer with TFP's likelihood 61.4 ms; with this one 45.0
(RESULTS.md, Performance). There:

  * with batch shapes unknown at trace time TFP broadcasts logits and
    targets against each other, a multiplication of the logits by ones
    (and its gradient);
  * `SparseSoftmaxCrossEntropyWithLogits` writes its gradient, a float32
    `(B*T, V)` softmax, in the forward pass, and the backward pass
    multiplies it by the upstream gradient and casts it back, two more
    passes.

Here both passes are XLA-compiled on their own (the rest of the step need
not be): the forward pass is a float32 log-sum-exp and the target's logit,
read in one fused loop over the logits; the backward pass recomputes the
softmax from the logits and writes `upstream * (onehot(target) - softmax)`
in the logits' dtype in one more. Nothing `(B, T, V)` is kept between them
but the logits themselves, so evaluation (no gradient) costs no extra
memory.

Evaluation needs no gradient, and there the logits need not exist at all:
`in_sequence_blocks` runs the output layer and its likelihood on a few
sequences at a time (`BLOCK_ELEMENTS` elements, a cache-sized `(rows, V)`
block of logits), so the logits are never written to memory and read back.
At an IWAE chunk's shape for the K=1 VAE ((36,800, 288) x (288, 10,002),
float32, XLA, 2-core Xeon with AMX, beside a training job, so rough) the
output layer and its log-sum-exp took 1,443 ms as one product and 1,106 ms
in blocks of 512 rows, the product alone 1,096; whole IWAE evaluations
gained 1.09-1.13x (RESULTS.md, Performance).

Exports trace it without XLA (`uncompiled`): TensorFlow Serving runs
XLA-compiled functions only with its experimental `--xla_cpu_compilation_enabled`
flag on (tensorflow/serving issues 1858 and 2214).
"""

import contextlib
import threading

import tensorflow as tf

_STATE = threading.local()


@contextlib.contextmanager
def uncompiled():
  """Within it, `categorical_log_prob` traces plain TensorFlow ops, no XLA
  cluster (for SavedModels that TF Serving loads)."""
  previous = getattr(_STATE, "compile", True)
  _STATE.compile = False
  try:
    yield
  finally:
    _STATE.compile = previous


def compiled_unless_exporting(function):
  """`function` XLA-compiled on its own, or plain within `uncompiled()`
  (decided when the caller is traced)."""
  compiled = tf.function(function, jit_compile=True)

  def call(*args):
    return (compiled if getattr(_STATE, "compile", True) else function)(*args)

  return call


@compiled_unless_exporting
def _log_prob_and_normalizer(logits, targets):
  wide = tf.cast(logits, tf.float32)
  log_normalizer = tf.reduce_logsumexp(wide, axis=-1)
  is_target = tf.one_hot(targets, tf.shape(logits)[-1], on_value=True,
                         off_value=False)
  target = tf.reduce_sum(tf.where(is_target, wide, 0.0), axis=-1)
  return target - log_normalizer, log_normalizer


@compiled_unless_exporting
def _logits_gradient(logits, targets, log_normalizer, upstream):
  softmax = tf.exp(tf.cast(logits, tf.float32) - log_normalizer[..., None])
  onehot = tf.one_hot(targets, tf.shape(logits)[-1], dtype=tf.float32)
  return tf.cast(upstream[..., None] * (onehot - softmax), logits.dtype)


def categorical_log_prob(logits, targets):
  """`log softmax(logits)[..., target]` in float32, with a fused gradient.

  Args:
    logits: `(B, T, V)` in any float dtype (bfloat16 under mixed precision).
    targets: int `(B, T)`, each in [0, V).

  Returns:
    float32 `(B, T)`: the log-probability of each target. The gradient
    with respect to `logits` is `upstream * (onehot(target) - softmax)`,
    computed in float32 and returned in the logits' dtype.
  """
  targets = tf.cast(targets, tf.int32)
  # A tensor, not a variable: custom_gradient differentiates its argument.
  logits = tf.convert_to_tensor(logits)

  @tf.custom_gradient
  def log_prob(logits):
    value, log_normalizer = _log_prob_and_normalizer(logits, targets)

    def gradient(upstream):
      return _logits_gradient(logits, targets, log_normalizer, upstream)

    return value, gradient

  return log_prob(logits)


# Elements (sequence positions) scored per block by `in_sequence_blocks`:
# 512 rows of V = 10,002 float32 logits is 20 MB, and blocks of 128 and 2,048
# rows were slower (see the module docstring).
BLOCK_ELEMENTS = 512


def in_sequence_blocks(function, sequences, output_signature=tf.float32,
                       block_elements=None):
  """`function` applied to blocks of whole sequences, results concatenated.

  ```none
  function(*sequences[b:b + r]) for b = 0, r, 2r, ...,  r = max(1, block_elements // T)
  ```
  Sequences are padded with zeros to a whole number of blocks and the
  padded rows' results dropped, so `function` must be row-wise: row i of
  its results may depend on row i of its arguments only.

  Args:
    function: maps tensors of `r` rows to a tensor (or tuple of tensors)
      of `r` rows.
    sequences: tensors of B rows; the first is `(B, T, ...)`, and sets T.
    output_signature: `function`'s output dtype(s) (`tf.map_fn`'s
      `fn_output_signature`).
    block_elements: about how many elements (rows x T) a block holds
      (default `BLOCK_ELEMENTS`).

  Returns:
    `function`'s results for all B rows.
  """
  block_elements = block_elements or BLOCK_ELEMENTS
  first = sequences[0]
  batch_size = tf.shape(first)[0]
  length = tf.shape(first)[1]
  rows = tf.maximum(1, block_elements // tf.maximum(length, 1))
  num_blocks = (batch_size + rows - 1) // rows
  padding = num_blocks * rows - batch_size

  def blocks(tensor):
    pad = [[0, padding]] + [[0, 0]] * (len(tensor.shape) - 1)
    return tf.reshape(tf.pad(tensor, pad),
                      tf.concat([[num_blocks, rows], tf.shape(tensor)[1:]], 0))

  results = tf.map_fn(lambda block: function(*block),
                      tuple(blocks(t) for t in sequences),
                      fn_output_signature=output_signature)

  def unblock(tensor):
    whole = tf.reshape(tensor, tf.concat([[-1], tf.shape(tensor)[2:]], 0))
    return whole[:batch_size]

  return tf.nest.map_structure(unblock, results)


def output_log_prob(features, kernel, bias, targets, block_elements=None):
  """`log softmax(features @ kernel + bias)[target]` in float32, `(B, T)`,
  in blocks of sequences (`in_sequence_blocks`): no `(B, T, V)` logits.

  The logits are computed in the features' dtype and normalised in float32,
  as `categorical_log_prob` does with them. For evaluation: its gradient is
  TensorFlow's own through the loop, correct but not fused.

  Args:
    features: `(B, T, F)`, the output layer's inputs.
    kernel: `(F, V)`; bias: `(V,)` (cast to the features' dtype).
    targets: int `(B, T)`, each in [0, V).
  """
  kernel = tf.cast(kernel, features.dtype)
  bias = tf.cast(bias, features.dtype)

  def block(features, targets):
    logits = tf.cast(tf.matmul(features, kernel) + bias, tf.float32)
    target = tf.gather(logits, targets[..., None], batch_dims=2)[..., 0]
    return target - tf.reduce_logsumexp(logits, axis=-1)

  return in_sequence_blocks(block, (features, tf.cast(targets, tf.int32)),
                            block_elements=block_elements)
