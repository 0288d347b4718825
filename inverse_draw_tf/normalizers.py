"""Normalisers: attention logits -> weights that give masked slots exactly 0.

`masked_softmax` is dense; `masked_sparsemax` (Martins & Astudillo 2016) and
`masked_entmax15` (Peters et al. 2019) give slots exactly zero weight too.
`normalize` picks one by name (`NORMALIZERS`); every read head in
`attention.py` normalises through it.
"""

import math

import tensorflow as tf


def softmax(logits, axis=-1):
  """`tf.nn.softmax` as exp / sum, computed in at least float32.

  The same function (its gradient too: the max subtracted for stability is
  a constant to it). Attention normalises a few slots once per recurrent
  step, and at those shapes oneDNN's softmax kernel costs more than its
  work: a decoder read of 8 slots (softmax and read, forward and backward,
  batch 32) took 67-71 us a step this way against 276-283 with
  `tf.nn.softmax` and `tf.einsum` (RESULTS.md, Performance). Half-precision
  logits are normalised in float32 and cast back.
  """
  logits = tf.convert_to_tensor(logits)
  dtype = logits.dtype
  if dtype in (tf.bfloat16, tf.float16):
    logits = tf.cast(logits, tf.float32)
  shifted = logits - tf.stop_gradient(
      tf.reduce_max(logits, axis=axis, keepdims=True))
  exponentials = tf.exp(shifted)
  weights = exponentials / tf.reduce_sum(exponentials, axis=axis,
                                         keepdims=True)
  return tf.cast(weights, dtype)


def masked_softmax(logits, mask=None, axis=-1):
  """Softmax over `axis` that gives masked entries exactly zero weight.

  Args:
    logits: float tensor.
    mask: optional bool tensor broadcastable to `logits`; False marks entries
      that must get zero weight.
    axis: the axis to normalise over.

  Returns:
    Weights of the shape of `logits`. Rows with no unmasked entry are all 0.
  """
  logits = tf.convert_to_tensor(logits)
  if mask is None:
    return softmax(logits, axis=axis)
  mask = tf.broadcast_to(tf.cast(mask, tf.bool), tf.shape(logits))
  # The dtype's lowest value (not -inf) keeps an all-masked row finite: its
  # softmax is uniform and the multiplication below zeroes it.
  logits = tf.where(mask, logits, tf.cast(logits.dtype.min, logits.dtype))
  return softmax(logits, axis=axis) * tf.cast(mask, logits.dtype)


def _unmasked_max(logits, mask):
  """Max over unmasked entries (0 for a row without any), keepdims."""
  low = tf.cast(logits.dtype.min, logits.dtype)
  top = tf.reduce_max(tf.where(mask, logits, low), axis=-1, keepdims=True)
  return tf.where(tf.reduce_any(mask, -1, keepdims=True), top,
                  tf.zeros_like(top))


def _push_out_of_support(logits, mask, margin):
  """Replaces masked logits by `max_unmasked - margin`.

  A sparse normaliser's threshold tau is at least `max - margin_needed`
  (sparsemax: the largest weight `max - tau` is at most 1, so tau >= max - 1;
  entmax-1.5 on z/2: tau >= max/2 - 1), so these entries get weight exactly
  0. A finite stand-in, unlike the dtype's lowest value, keeps the sorted
  cumulative sums below finite and their gradients free of inf - inf.
  """
  if mask is None:
    return logits, None
  mask = tf.broadcast_to(tf.cast(mask, tf.bool), tf.shape(logits))
  stand_in = _unmasked_max(logits, mask) - margin
  return tf.where(mask, logits, stand_in), mask


def _last_axis(logits, axis):
  if axis not in (-1, len(logits.shape) - 1):
    raise ValueError(f"sparse normalisers work over the last axis only; "
                     f"received `axis`={axis}.")


def masked_sparsemax(logits, mask=None, axis=-1):
  """Sparsemax (Martins & Astudillo 2016, https://arxiv.org/abs/1602.02068).

  ```none
  sparsemax(z) = argmin_{p in simplex} ||p - z||^2 = max(z - tau, 0)
  tau = (sum_{j <= k*} z_(j) - 1) / k*,
  k*  = max {k : 1 + k z_(k) > sum_{j <= k} z_(j)}      (z sorted decreasing)
  ```
  Unlike softmax it gives exact zeros to entries more than tau below the
  top. Differentiable almost everywhere (through the sort and the gather of
  tau; the Jacobian is `diag(s) - s s^T / |S|`, s the support indicator).

  Args:
    logits: float `(..., K)`.
    mask: optional bool broadcastable to `logits`; False entries get exactly
      0 (rows without an unmasked entry are all 0).
    axis: must be the last axis.

  Returns:
    Weights of the shape of `logits`, summing to 1 over unmasked entries.
  """
  logits = tf.convert_to_tensor(logits)
  _last_axis(logits, axis)
  logits, mask = _push_out_of_support(logits, mask, 2.0)
  num = tf.shape(logits)[-1]
  ordered = tf.math.top_k(logits, k=num).values
  rank = tf.cast(tf.range(1, num + 1), logits.dtype)
  cumulative = tf.cumsum(ordered, axis=-1)
  in_support = 1.0 + rank * ordered > cumulative
  support = tf.reduce_sum(tf.cast(in_support, tf.int32), -1, keepdims=True)
  tau = (tf.gather(cumulative, support - 1, batch_dims=len(logits.shape) - 1)
         - 1.0) / tf.cast(support, logits.dtype)
  weights = tf.nn.relu(logits - tau)
  if mask is not None:
    weights *= tf.cast(mask, weights.dtype)
  return weights


def masked_entmax15(logits, mask=None, axis=-1):
  """1.5-entmax (Peters et al. 2019, https://arxiv.org/abs/1905.05702), exact.

  ```none
  entmax15(z) = argmax_{p in simplex} p.z + H^T_1.5(p) = max(z/2 - tau, 0)^2
  with z sorted decreasing, for k = 1..K:
    mean_k = (1/k) sum_{j<=k} z_(j)/2,  ss_k = (1/k) sum_{j<=k} (z_(j)/2)^2
    tau_k  = mean_k - sqrt(max(0, (1 - k (ss_k - mean_k^2)) / k))
  k* = #{k : tau_k <= z_(k)/2},  tau = tau_{k*}
  ```
  Between softmax (dense) and sparsemax (sparser): zeros only for entries
  far below the top.

  Args and returns: as `masked_sparsemax`.
  """
  logits = tf.convert_to_tensor(logits)
  _last_axis(logits, axis)
  logits, mask = _push_out_of_support(logits, mask, 3.0)
  half = logits / 2.0
  num = tf.shape(half)[-1]
  ordered = tf.math.top_k(half, k=num).values
  rank = tf.cast(tf.range(1, num + 1), half.dtype)
  mean = tf.cumsum(ordered, axis=-1) / rank
  mean_square = tf.cumsum(tf.square(ordered), axis=-1) / rank
  delta = (1.0 - rank * (mean_square - tf.square(mean))) / rank
  # The guard keeps sqrt's gradient finite where delta <= 0 (those k are
  # never k*, but their gradient would still be 0 * inf = nan).
  root = tf.sqrt(tf.where(delta > 0, delta, tf.ones_like(delta)))
  taus = mean - tf.where(delta > 0, root, tf.zeros_like(root))
  support = tf.reduce_sum(tf.cast(taus <= ordered, tf.int32), -1,
                          keepdims=True)
  tau = tf.gather(taus, support - 1, batch_dims=len(half.shape) - 1)
  weights = tf.square(tf.nn.relu(half - tau))
  if mask is not None:
    weights *= tf.cast(mask, weights.dtype)
  return weights


NORMALIZERS = {
    "softmax": masked_softmax,
    "sparsemax": masked_sparsemax,
    "entmax15": masked_entmax15,
}


def normalize(logits, mask=None, normalizer="softmax"):
  """Logits -> attention weights with the named normaliser (`NORMALIZERS`)."""
  if normalizer not in NORMALIZERS:
    raise ValueError(f"`normalizer` must be one of {tuple(NORMALIZERS)}, "
                     f"received {normalizer!r}.")
  return NORMALIZERS[normalizer](logits, mask)
