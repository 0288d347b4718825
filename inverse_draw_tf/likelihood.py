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
