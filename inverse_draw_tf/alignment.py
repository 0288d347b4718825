"""Attention that chooses: latent alignments between emitted elements and slots.

Soft attention feeds the decoder the average `r_t = sum_k w_tk z_k`; over K
exchangeable slots its weights stay uniform and every element reads the
same average. The functions here make the read a *choice* of one slot:

```none
a_t in {1..K},  p(a_t = k | h_t) = w_tk                the read head's weights
logits_tk = W h_t + U z_k + b                          W, U: the output layer
                                                       split at [h_t; z_k]
exact:       log p(x_t | h_t, Z) = logsumexp_k [log w_tk + log p(x_t | h_t, z_k)]
posterior:   p(a_t = k | x_t, h_t, Z) = w_tk p(x_t | h_t, z_k) / p(x_t | h_t, Z)
gumbel:      r_t = z_{a_t},  a_t ~ Gumbel-softmax(w_t, tau), straight-through
variational: E_q(a_t|x)[log p(x_t | h_t, z_{a_t})] - KL(q(a_t | x) || p(a_t | h_t))
```
(Deng et al. 2018, "Latent Alignment and Variational Attention",
https://arxiv.org/abs/1807.03756; Jang et al. 2017, Gumbel-softmax,
https://arxiv.org/abs/1611.01144.)

Because the slot enters the logits additively, the `(B, T, V)` product
`W h_t` is shared by every slot, `U z_k` is computed once per sentence
`(B, K, V)`, and only the K normalisers `logsumexp_v(W h_t + U z_k)` differ;
`slot_log_normalizers` gets all K from one exponential of each part and a
`(B, T, V) x (B, V, K)` matmul, so no `(B, T, K, V)` tensor exists.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import normalizers

_PACKAGE = "inverse_draw_tf"
# "soft" is the expected read of attention.py; the others choose one slot.
ALIGNMENTS = ("soft", "exact", "gumbel", "variational")
# Alignments whose decoder output is split into shared and per-slot logits
# and whose likelihood needs every slot's log-probability of the target.
PER_SLOT_ALIGNMENTS = ("exact", "variational")


def safe_log(weights):
  """`log w`, with the dtype's lowest value (not -inf) where `w == 0`.

  A finite stand-in keeps logsumexp and softmax over it free of nan values
  and gradients, and still gives those entries exactly zero probability.
  """
  positive = weights > 0
  safe = tf.where(positive, weights, tf.ones_like(weights))
  return tf.where(positive, tf.math.log(safe),
                  tf.cast(weights.dtype.min, weights.dtype))


# The factorised normalisers below are exact in float32 when every sum of
# their product is at least exp(-60) (see there), and in float64 when no
# slot's logits U z_k spread over more than 600 nats; otherwise the per-slot
# loop runs.
MIN_FLOAT32_SUM = math.exp(-60.0)
MAX_SLOT_LOGIT_SPREAD_FLOAT64 = 600.0


def slot_log_normalizers(shared_logits, slot_logits):
  """`logsumexp_v(shared[b, t, v] + slot[b, k, v])` for every slot: `(B, T, K)`.

  Factorised into one matrix product, with m_s, m_k the maxima over v:

  ```none
  logsumexp_v(shared + slot_k)
      = m_s + m_k + log S_k,   S_k = sum_v exp(shared_v - m_s) exp(slot_kv - m_k)
  ```
  so the exponentials are taken once, `(B, T, V)` and `(B, K, V)`, and the K
  sums are a `(B, T, V) x (B, V, K)` batched matmul: about the cost of one
  softmax, not K of them, and no `(B, T, K, V)` tensor.

  In float32 a term of S_k is lost when it (or a factor) falls below the
  smallest normal number, exp(-87): at most V exp(-87) in all, which is
  below float32's rounding of S_k (V exp(-27) < 2e-8 relative) whenever
  S_k >= exp(-60). The sums are checked on every call. S_k >= exp(-spread_k)
  always (its term at argmax shared), so slots spread over at most 60 nats
  always pass; SGD at learning rate 1 spreads a fresh decoder's slot logits
  wider within a few steps, where most sums still pass. When one fails, the
  product is taken in float64 (smallest normal exp(-708); exact while every
  slot spreads over at most `MAX_SLOT_LOGIT_SPREAD_FLOAT64` = 600 nats, the
  lost terms then below V exp(-108) of S_k), and beyond that
  `_per_slot_normalizers`. Forward and backward at B=32, T=24, V=10,002,
  K=8 on a 2-core Xeon: float32 27 ms, float64 78, the per-slot loop 223.

  Args:
    shared_logits: `(B, T, V)`, the slot-independent part `W h_t + b`.
    slot_logits: `(B, K, V)`, the per-slot part `U z_k`.

  Returns:
    `(B, T, K)` log normalisers.
  """
  # The shifts cancel in value and gradient; stop_gradient saves their
  # (zero) backward pass.
  shared_max = tf.stop_gradient(
      tf.reduce_max(shared_logits, -1, keepdims=True))  # (B, T, 1)
  slot_max = tf.stop_gradient(
      tf.reduce_max(slot_logits, -1, keepdims=True))  # (B, K, 1)
  # einsum, not matmul(transpose_b=True): on CPU its forward and backward
  # took 12 against 19 ms at PTB's shapes (B=32, T=24, V=10k, K=8).
  sums = tf.einsum("btv,bkv->btk", tf.exp(shared_logits - shared_max),
                   tf.exp(slot_logits - slot_max))
  spread = tf.reduce_max(slot_max[..., 0] - tf.reduce_min(slot_logits, -1))
  # 0: float32 exact; 1: float64; 2: per slot. A nan fails both tests (1).
  path = tf.where(
      tf.reduce_min(sums) >= MIN_FLOAT32_SUM, 0,
      tf.where(spread > MAX_SLOT_LOGIT_SPREAD_FLOAT64, 2, 1))
  # One switch, not nested conds: TensorFlow cannot differentiate the
  # custom gradient of the per-slot loop inside a cond inside a cond.
  return tf.switch_case(path, [
      lambda: (tf.math.log(sums) + shared_max +
               tf.transpose(slot_max, [0, 2, 1])),
      lambda: _float64_normalizers(shared_logits, slot_logits),
      lambda: _per_slot_normalizers(shared_logits, slot_logits)])


def _float64_normalizers(shared_logits, slot_logits):
  """`slot_log_normalizers`' product in float64, returned in float32.

  The gradient is written out and recomputes the exponentials, so no
  float64 tensor is kept for the backward pass (inside the switch above,
  autodiff's float64 intermediates would meet the other branches' float32
  ones, which TensorFlow's type inference rejects):

  ```none
  d/d shared[b,t,v] = exp(shared_v - m_s) sum_k g_k exp(slot_kv - m_k) / S_k
  d/d slot[b,k,v]   = exp(slot_kv - m_k) sum_t g_k exp(shared_v - m_s) / S_k
  ```
  with S_k the product's sums.
  """
  dtype = shared_logits.dtype

  def exponentials(shared, slots):
    shift = lambda x: tf.stop_gradient(tf.reduce_max(x, -1, keepdims=True))
    shared_max, slot_max = shift(shared), shift(slots)
    shared_exp = tf.exp(tf.cast(shared - shared_max, tf.float64))
    slot_exp = tf.exp(tf.cast(slots - slot_max, tf.float64))
    sums = tf.einsum("btv,bkv->btk", shared_exp, slot_exp)
    return shared_exp, slot_exp, sums, shared_max, slot_max

  @tf.custom_gradient
  def normalizers(shared, slots):
    _, _, sums, shared_max, slot_max = exponentials(shared, slots)
    result = (tf.cast(tf.math.log(sums), dtype) + shared_max +
              tf.transpose(slot_max, [0, 2, 1]))

    def grad(upstream):
      shared_exp, slot_exp, sums, _, _ = exponentials(shared, slots)
      weights = tf.cast(upstream, tf.float64) / sums  # (B, T, K)
      return (tf.cast(shared_exp * tf.einsum("btk,bkv->btv", weights,
                                             slot_exp), dtype),
              tf.cast(slot_exp * tf.einsum("btk,btv->bkv", weights,
                                           shared_exp), dtype))

    return result, grad

  return normalizers(shared_logits, slot_logits)


def _per_slot_normalizers(shared_logits, slot_logits):
  """`slot_log_normalizers` one slot at a time, exact for any logits.

  A hand-written gradient recomputes each slot's softmax in the backward
  pass, so memory is one `(B, T, V)` tensor at a time instead of the K that
  autodiff would keep:

  ```none
  d/d shared[b,t,v] = sum_k g[b,t,k] softmax_k[b,t,v]
  d/d slot[b,k,v]   = sum_t g[b,t,k] softmax_k[b,t,v]
  ```
  K must be static.
  """
  num_slots = slot_logits.shape[1]
  if num_slots is None:
    raise ValueError("`slot_logits` needs a static number of slots, received "
                     f"shape {slot_logits.shape}.")

  def slot_logits_at(shared, slots, k):
    return shared + slots[:, None, k, :]

  @tf.custom_gradient
  def normalizers(shared, slots):
    result = tf.stack([
        tf.reduce_logsumexp(slot_logits_at(shared, slots, k), axis=-1)
        for k in range(num_slots)], axis=-1)

    def grad(upstream):
      d_shared = tf.zeros_like(shared)
      d_slots = []
      for k in range(num_slots):
        softmax = tf.exp(slot_logits_at(shared, slots, k) -
                         result[..., k, None])
        d_shared += upstream[..., k, None] * softmax
        d_slots.append(tf.einsum("bt,btv->bv", upstream[..., k], softmax))
      return d_shared, tf.stack(d_slots, axis=1)

    return result, grad

  return normalizers(shared_logits, slot_logits)


def target_logits(logits, targets):
  """`logits[b, t, targets[b, t]]`: `(B, T, V)`, int `(B, T)` -> `(B, T)`.

  A gather whose gradient is scattered straight into a dense `(B, T, V)`
  of zeros: the gather's own gradient (IndexedSlices, densified by an
  UnsortedSegmentSum) took 2.3x a one-hot product's time on CPU at PTB's
  shapes, and the one-hot product twice the scatter's.
  """
  targets = tf.cast(targets, tf.int32)

  @tf.custom_gradient
  def gather(logits):
    def gradient(upstream):
      shape = tf.shape(logits, out_type=tf.int32)
      rows, steps = tf.meshgrid(tf.range(shape[0]), tf.range(shape[1]),
                                indexing="ij")
      return tf.scatter_nd(tf.stack([rows, steps, targets], -1), upstream,
                           shape)
    return tf.gather(logits, targets[..., None], batch_dims=2)[..., 0], (
        gradient)

  return gather(logits)


def slot_log_likelihoods(shared_logits, slot_logits, targets, observation):
  """`log p(x_t | h_t, z_k)` for every element and slot: `(B, T, K)`.

  ```none
  text:  log softmax_v(W h_t + U z_k + b)[x_t]
         = shared[x_t] + slot_k[x_t] - logsumexp_v(shared + slot_k)
  image: sum_g x_tg l_tkg - softplus(l_tkg),   l_tk = shared_t + slot_k
  ```
  Text gathers the target's logits instead of forming K log-softmaxes.

  Args:
    shared_logits: `(B, T, V)` (text) or `(B, T, G)` (image pixel groups).
    slot_logits: `(B, K, V)` or `(B, K, G)`.
    targets: `(B, T)` int ids or `(B, T, G)` pixels in {0, 1}.
    observation: "text" or "binary_image".
  """
  if observation == "text":
    targets = tf.cast(targets, tf.int32)
    shared_target = target_logits(shared_logits, targets)[..., None]
    slot_target = tf.transpose(
        tf.gather(slot_logits, targets, axis=2, batch_dims=1), [0, 2, 1])
    return (shared_target + slot_target -
            slot_log_normalizers(shared_logits, slot_logits))
  if observation == "binary_image":
    # G pixels per step is small (a row of 28): (B, T, K, G) is cheap.
    logits = shared_logits[:, :, None, :] + slot_logits[:, None, :, :]
    pixels = tf.cast(targets, logits.dtype)[:, :, None, :]
    return tf.reduce_sum(pixels * logits - tf.nn.softplus(logits), axis=-1)
  raise ValueError("`observation` must be 'text' or 'binary_image', received "
                   f"{observation!r}.")


def exact_alignment(alignment_prior, slot_log_likelihood):
  """Marginalises the alignment exactly and returns its posterior.

  ```none
  log p(x_t | ...) = logsumexp_k [log p(a_t = k | h_t) + log p(x_t | h_t, z_k)]
  p(a_t = k | x_t, ...) = exp(log p(a_t = k | h_t) + log p(x_t | h_t, z_k)
                              - log p(x_t | ...))
  ```

  Args:
    alignment_prior: `(B, T, K)` weights p(a_t | h_t) (zeros on masked or
      sparsely excluded slots).
    slot_log_likelihood: `(B, T, K)` log p(x_t | h_t, z_k).

  Returns:
    `(log_marginal (B, T), posterior (B, T, K))`; the posterior is exactly 0
    where the prior is.
  """
  joint = safe_log(alignment_prior) + slot_log_likelihood
  log_marginal = tf.reduce_logsumexp(joint, axis=-1)
  posterior = normalizers.masked_softmax(joint, alignment_prior > 0)
  return log_marginal, posterior


def aligned_log_prob(decoded, targets, mask, observation, inference=None,
                     read_noise=None, read_temperature=1.0, training=False):
  """`log p(x_t | ...)` `(B, T)` of the exact and variational alignments.

  Args:
    decoded: the `Decoder`'s outputs (`read_weights` p(a_t | h_t), and
      `shared_logits` and `slot_logits`, or the `slot_log_likelihood` they
      give).
    targets: the elements `(B, T)` (ids) or `(B, T, G)` (pixels).
    mask: bool `(B, T)`, False on padding.
    observation: "text" or "binary_image".
    inference: q(a_t | x) `(B, T, K)` for the variational alignment (None:
      exact).
    read_noise: standard Gumbel noise `(B, T, K)` of the training sample of
      q (variational, training only).
    read_temperature: its Gumbel-softmax temperature.
    training: the variational bound (True) or the exact marginal (False).

  Returns:
    `(log_prob, outputs)`: `outputs` holds `alignment_posterior` and
    `slot_log_likelihood` `(B, T, K)`, and with `inference` also
    `alignment_inference` and `alignment_kl` `(B, T)` (0 on padding).
  """
  # Normalised in float32 whatever the compute dtype (mixed precision).
  as_float32 = lambda key: tf.cast(decoded[key], tf.float32)
  prior = as_float32("read_weights")
  if "slot_log_likelihood" in decoded:  # Scored by the decoder, in blocks.
    slot_log_likelihood = decoded["slot_log_likelihood"]
  else:
    slot_log_likelihood = slot_log_likelihoods(
        as_float32("shared_logits"), as_float32("slot_logits"), targets,
        observation)
  log_prob, posterior = exact_alignment(prior, slot_log_likelihood)
  outputs = dict(alignment_posterior=posterior,
                 slot_log_likelihood=slot_log_likelihood)
  if inference is None:
    return log_prob, outputs
  inference = tf.cast(inference, tf.float32)
  kl = categorical_kl(inference, prior)
  outputs.update(alignment_inference=inference,
                 alignment_kl=kl * tf.cast(mask, kl.dtype))
  if not training:
    return log_prob, outputs  # The exact marginal: the bound q only trains.
  chosen = gumbel_softmax_straight_through(inference, read_noise,
                                           read_temperature)
  return tf.reduce_sum(chosen * slot_log_likelihood, -1) - kl, outputs


def gumbel_noise(shape, seed, dtype=tf.float32):
  """Standard Gumbel noise `-log(-log u)` from a stateless seed."""
  dtype = tf.as_dtype(dtype)
  # u in [tiny, 1): log u is finite, and -log(-log u) is finite for u < 1.
  tiny = float(np.finfo(dtype.as_numpy_dtype).tiny)
  uniform = tf.random.stateless_uniform(shape, seed, minval=tiny, maxval=1.0,
                                        dtype=dtype)
  return -tf.math.log(-tf.math.log(uniform))


def hard_alignment(weights, noise=None):
  """One-hot `argmax_k(log w_k + g_k)`: a sample of `w` (Gumbel-max) with
  Gumbel noise `g`, the mode without. Zero-weight slots are never chosen."""
  scores = safe_log(weights)
  if noise is not None:
    scores += noise
  return tf.one_hot(tf.argmax(scores, -1), tf.shape(weights)[-1],
                    dtype=weights.dtype)


def gumbel_softmax_straight_through(weights, noise, temperature):
  """Straight-through Gumbel-softmax sample of the categorical `weights`.

  ```none
  y_soft = softmax_k((log w_k + g_k) / tau)       over slots with w_k > 0
  y      = one_hot(argmax y_soft) + (y_soft - stop_gradient(y_soft))
  ```
  The forward value is an exact one-hot sample of `w` (Gumbel-max); the
  gradient is that of the relaxed sample `y_soft` (biased, low variance;
  Jang et al. 2017, https://arxiv.org/abs/1611.01144, section 2.2).

  Args:
    weights: `(..., K)` probabilities (zeros are never sampled).
    noise: standard Gumbel noise of the same shape.
    temperature: tau > 0, a float or scalar tensor.

  Returns:
    `(..., K)` one-hot in the forward pass.
  """
  temperature = tf.cast(temperature, weights.dtype)
  soft = normalizers.masked_softmax(
      (safe_log(weights) + noise) / temperature, weights > 0)
  hard = tf.one_hot(tf.argmax(soft, -1), tf.shape(weights)[-1],
                    dtype=weights.dtype)
  # soft - stop_gradient(soft) is exactly 0 in the forward pass, so the
  # value is exactly one-hot ((hard + soft) - soft would round).
  return hard + (soft - tf.stop_gradient(soft))


def annealed_temperature(step, start, end, num_steps):
  """Geometric annealing `start * (end / start)^min(1, step / num_steps)`.

  Halfway through, tau is the geometric mean (1.0 -> 0.1 passes 0.316):
  the relaxation sharpens at a constant rate in log space, as Jang et al.'s
  exponential schedule does. Flat at `end` afterwards.
  """
  progress = tf.minimum(1.0, tf.cast(step, tf.float32) / max(1, num_steps))
  return start * tf.pow(end / start, progress)


def categorical_kl(q, p):
  """`sum_k q_k (log q_k - log p_k)` over the last axis; 0 where `q_k = 0`.

  Both arguments are probabilities; p must be positive wherever q is (the
  KL is infinite otherwise, which is why variational alignment needs a
  softmax read head).
  """
  positive = q > 0
  safe_q = tf.where(positive, q, tf.ones_like(q))
  safe_p = tf.where(positive, p, tf.ones_like(p))
  return tf.reduce_sum(
      tf.where(positive, q * (tf.math.log(safe_q) - tf.math.log(safe_p)),
               tf.zeros_like(q)), axis=-1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AlignmentInference(keras.layers.Layer):
  """The inference network q(a_t | x, Z) of variational alignment.

  Scores each slot against the BiLSTM encoder state at step t, which has
  seen the whole observation (so the element x_t itself), with a scaled
  bilinear form:

  ```none
  q(a_t = k | x, Z) = softmax_k((W_m M_t + b_m) . (W_z z_k + b_z) / sqrt(units))
  ```

  Args:
    units: size of the space the encoder states and slots are projected to.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    observation_memory: `(batch_size, T, encoder_dim)` BiLSTM states.
    latents: `(batch_size, K, latent_dim)`.
    slot_mask: optional bool `(batch_size, K)`.

  Returns:
    `(batch_size, T, K)` probabilities, 0 on masked slots.

  Example:

  >>> inference = AlignmentInference(units=8)
  >>> inference(tf.ones([2, 5, 6]), tf.ones([2, 3, 4])).shape
  TensorShape([2, 5, 3])
  """

  def __init__(self, units, **kwargs):
    super().__init__(**kwargs)
    if int(units) != units or units < 1:
      raise ValueError(f"`units` must be a positive integer, received {units!r}.")
    self.units = int(units)
    self.memory_projection = keras.layers.Dense(units, name="memory")
    self.slot_projection = keras.layers.Dense(units, name="slot")

  def build(self, observation_memory_shape, latents_shape,
            slot_mask_shape=None):
    self.memory_projection.build(observation_memory_shape)
    self.slot_projection.build(latents_shape)

  def call(self, observation_memory, latents, slot_mask=None):
    queries = self.memory_projection(observation_memory)
    keys = self.slot_projection(latents)
    scores = tf.einsum("btu,bku->btk", queries, keys) / math.sqrt(self.units)
    mask = None if slot_mask is None else tf.cast(slot_mask,
                                                    tf.bool)[:, None, :]
    return normalizers.masked_softmax(scores, mask)

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units)
    return config
