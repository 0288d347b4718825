"""Objectives: the ELBO (with KL annealing and free bits) and the IWAE bound.

```none
ELBO(x)   = E_q[log p(x | Z)] - KL(q(Z | x) || p(Z))
          = -distortion - kl
distortion = -sum_t log p(x_t | x_<t, Z),   Z ~ q(Z | x)    (one sample)
kl         = sum_l sum_k KL(q(z_{l,k} | ...) || p(z_{l,k} | ...))

training loss = mean_b distortion_b
              + beta * sum_{l,k} max(lambda, mean_b KL_{l,k,b})      (free bits)
              + eta * mean_{b,t} H(w_bt)          (decoder attention entropy)

IWAE_S(x) = log (1/S) sum_s p(x, Z_s) / q(Z_s | x),   Z_s ~ q(Z | x)
          <= log p(x), non-decreasing in S; IWAE_1 = the one-sample ELBO.

IWAE training loss (k > 1 samples, Burda et al. 2016) = -mean_b IWAE_k(x_b)
          with each log weight log p(x | Z_s) + beta (log p(Z_s) - log q(Z_s | x))
          (+ the attention terms as above; no free bits)
```
beta is the KL weight of annealing (Bowman et al. 2016,
https://arxiv.org/abs/1511.06349); lambda is the free-bits floor per slot
(Kingma et al. 2016, https://arxiv.org/abs/1606.04934); the IWAE bound is
Burda et al. 2016, https://arxiv.org/abs/1509.00519. eta > 0 penalises the
entropy of the decoder's read weights w_bt over the K slots (mean over
emitted elements), pushing each element to read few slots; it changes the
loss only, never the reported ELBO.
"""

import math

import tensorflow as tf

from inverse_draw_tf import attention as attention_lib


def _masked_mean(values, mask):
  mask = tf.cast(mask, values.dtype)
  return tf.math.divide_no_nan(tf.reduce_sum(values * mask),
                               tf.reduce_sum(mask))


def attention_entropy(read_weights, query_mask):
  """Mean entropy (nats) of `(B, Q, K)` read weights over unmasked queries."""
  return _masked_mean(attention_lib.entropy(read_weights), query_mask)


def slot_marginal_entropy(read_weights, query_mask):
  """Entropy (nats) of the `(K,)` slot distribution averaged over all queries.

  `read_weights` is `(B, Q, K)`; the average runs over the unmasked queries
  of the whole batch, so it is the share of reads each slot takes. Uniform
  use of K slots gives log K; every query reading one slot gives 0.
  """
  mask = tf.cast(query_mask, read_weights.dtype)[..., None]
  marginal = tf.math.divide_no_nan(
      tf.reduce_sum(read_weights * mask, axis=[0, 1]), tf.reduce_sum(mask))
  return attention_lib.entropy(marginal)


def evidence_lower_bound(model, batch, *, seed, kl_weight=1.0, free_bits=0.0,
                         free_bits_per_dimension=0.0, training=False,
                         analytic_kl=True, noise=None,
                         global_batch_size=None, sample_rows=None,
                         read_temperature=1.0, attention_entropy_weight=0.0,
                         slot_balance_weight=0.0, level_balance_weight=0.0,
                         level_entropy_weight=0.0, num_samples=1):
  """Per-example ELBO terms and the training loss, as a dict of tensors.

  Args:
    model: an `InverseDraw` model.
    batch: the model's input dict.
    seed: int `(2,)` stateless seed of the latent sample.
    kl_weight: beta, the weight of the KL in the loss (annealing): a
      scalar, or a rank-1 `(L,)` tensor with one weight per level, lowest
      first (`optimization.kl_weights`: an upper level annealed later).
      Per-level weights need the one-sample ELBO (`num_samples=1`).
    free_bits: lambda, the floor on each slot's batch-averaged KL in the loss
      (nats per slot); 0 disables it.
    free_bits_per_dimension: the floor on each example's KL in each latent
      dimension in the loss (nats; Li et al. 2019's "fb=2", whose target
      KL is this times the dimensions), `sum_d max(floor, KL_bd)` in place of
      the example's KL; 0 disables it. Needs the analytic KL and
      `free_bits=0`.
    training: passed to the model (word dropout).
    analytic_kl: closed-form Gaussian KL along the sampled path (True) or the
      one-sample Monte Carlo estimate `log q(z) - log p(z)` per slot.
    noise: optional explicit latent noise (see `InverseDraw.call`).
    global_batch_size: divide the loss by this instead of the local batch
      size, so replica losses sum to the global mean under tf.distribute.
    sample_rows: see `InverseDraw.call`.
    read_temperature: Gumbel-softmax temperature (see `InverseDraw.call`).
    attention_entropy_weight: eta, the weight of the mean decoder attention
      entropy added to the loss (0 disables; no effect without latents).
    slot_balance_weight: gamma, the weight of the slot marginal entropy
      (`slot_marginal_entropy` of the decoder weights over the batch)
      subtracted from the loss. With gamma = eta the two terms are minus the
      mutual information between a read and its slot, -I = H(a | t) - H(a):
      each read must be sharp AND the reads must spread over the slots, so
      the penalty cannot be met by sending every read to one slot.
    level_balance_weight: the weight of the entropy of the upper slots'
      shares, subtracted from the loss at every level below the top
      (`slot_marginal_entropy` of the prior's read weights w_k over the
      batch's lower slots): the slot balance one level up, so the lower
      slots do not all come from one upper slot (0 disables; no effect
      with one level).
    level_entropy_weight: the weight of the mean entropy of the prior's
      read weights over the upper slots, added to the loss at every level
      below the top: the attention entropy penalty one level up, so each
      lower slot comes from few upper slots. With the same weight as
      `level_balance_weight` the pair is minus the mutual information
      between a lower slot and its upper slot (0 disables; no effect with
      one level).
    num_samples: k, a Python int. 1 trains the ELBO above; k > 1 trains
      the IWAE bound on k samples per example (Burda et al. 2016), its log
      weights `log p(x | Z) + kl_weight * (log p(Z) - log q(Z | x))` (the
      Monte Carlo KL, annealed as the ELBO's), which needs no free bits.
      The reported per-example terms are then means over the k samples.

  Returns:
    dict with per-example `(B,)` tensors `elbo`, `distortion`, `kl`,
    `log_weight` (the one-sample estimator `log p(x, Z) - log q(Z | x)`;
    with k > 1 samples the IWAE_k estimate of `log p(x)`),
    `num_elements`; `kl_per_slot` `(B, sum_l K_l)`, `kl_per_level` `(B, L)`;
    scalars `loss`, `decoder_entropy`, `posterior_entropy` (mean attention
    entropies, 0 without latents), `decoder_marginal_entropy` (entropy of
    the batch's slot shares, 0 without latents), `upper_marginal_entropy`
    (the same of the upper slots' shares, summed over the levels below the
    top; 0 with one level), `upper_entropy` (the mean entropy of the
    prior's read weights, summed the same way; 0 with one level); and the
    model outputs
    `decoder_weights` `(B, T, K_0)` and `posterior_weights` (list of
    `(B, K_l, T)`) when the model has latents (k B rows with k samples,
    sample-major).
  """
  if not isinstance(num_samples, int) or num_samples < 1 or (
      num_samples > 1 and not (
          isinstance(free_bits, (int, float)) and free_bits == 0 and
          isinstance(free_bits_per_dimension, (int, float)) and
          free_bits_per_dimension == 0)):
    raise ValueError(
        "`num_samples` must be a positive integer and, above 1 (the IWAE "
        "objective), needs free_bits=0 and free_bits_per_dimension=0; "
        f"received {num_samples} with free_bits={free_bits}, "
        f"free_bits_per_dimension={free_bits_per_dimension}.")
  if isinstance(kl_weight, (int, float)) and kl_weight < 0:
    raise ValueError(f"`kl_weight` must be >= 0, received {kl_weight}.")
  per_level_weights = (not isinstance(kl_weight, (int, float)) and
                       tf.convert_to_tensor(kl_weight).shape.rank == 1)
  if per_level_weights and num_samples > 1:
    raise ValueError("one `kl_weight` per level needs `num_samples=1`: the "
                     "IWAE objective anneals one KL; pass a scalar weight.")
  if isinstance(free_bits, (int, float)) and free_bits < 0:
    raise ValueError(f"`free_bits` must be >= 0, received {free_bits}.")
  if isinstance(free_bits_per_dimension, (int, float)) and (
      free_bits_per_dimension < 0 or
      (free_bits_per_dimension and (free_bits or not analytic_kl))):
    raise ValueError(
        "`free_bits_per_dimension` must be >= 0 and, when set, needs "
        f"`free_bits=0` and the analytic KL; received "
        f"{free_bits_per_dimension} with free_bits={free_bits}, "
        f"analytic_kl={analytic_kl}.")
  for name, weight in (("attention_entropy_weight", attention_entropy_weight),
                       ("slot_balance_weight", slot_balance_weight),
                       ("level_balance_weight", level_balance_weight),
                       ("level_entropy_weight", level_entropy_weight)):
    if isinstance(weight, (int, float)) and weight < 0:
      raise ValueError(f"`{name}` must be >= 0, received {weight}.")
  if num_samples > 1:
    # k rows per example, sample-major; a replica's k B rows take a block of
    # k times the rows it would take with one sample.
    batch = {key: _tile_samples(value, num_samples)
             for key, value in batch.items()}
    if sample_rows is not None:
      sample_rows = tuple(num_samples * r for r in sample_rows)
  outputs = model(batch, training=training, seed=seed, noise=noise,
                  sample_rows=sample_rows, read_temperature=read_temperature)
  log_likelihood = outputs["log_likelihood"]
  dtype = log_likelihood.dtype
  rows = tf.shape(log_likelihood)[0]  # k B with k samples.
  batch_size = rows // num_samples
  distortion = -log_likelihood
  log_weight = log_likelihood + outputs["log_prior"] - outputs["log_posterior"]
  if outputs["kl"]:
    kl = outputs["kl"] if analytic_kl else outputs["kl_monte_carlo"]
    kl_per_slot = tf.concat(kl, axis=1)
    kl_per_level = tf.stack([tf.reduce_sum(level, 1) for level in kl], 1)
  else:
    kl_per_slot = tf.zeros([rows, 0], dtype)
    kl_per_level = tf.zeros([rows, 0], dtype)
  kl_total = tf.reduce_sum(kl_per_slot, axis=1)

  local_size = tf.cast(batch_size, dtype)
  denominator = (local_size if global_batch_size is None else
                 tf.cast(global_batch_size, dtype))
  per_dimension = not (isinstance(free_bits_per_dimension, (int, float))
                       and free_bits_per_dimension == 0)
  if num_samples > 1:
    # log (1/k) sum_s exp(w_sb) over each example's k rows, (k B,) -> (B,).
    log_mean_exp = lambda w: (  # pylint: disable=g-long-lambda
        tf.reduce_logsumexp(tf.reshape(w, [num_samples, -1]), 0) -
        tf.math.log(tf.cast(num_samples, dtype)))
    annealed = log_likelihood + tf.cast(kl_weight, dtype) * (
        outputs["log_prior"] - outputs["log_posterior"])
    loss = -tf.reduce_sum(log_mean_exp(annealed)) / denominator
    per_sample_mean = lambda t: tf.reduce_mean(  # pylint: disable=g-long-lambda
        tf.reshape(t, tf.concat([[num_samples, -1], tf.shape(t)[1:]], 0)), 0)
    distortion, kl_total, kl_per_slot, kl_per_level = (
        per_sample_mean(t) for t in (distortion, kl_total, kl_per_slot,
                                     kl_per_level))
    log_weight = log_mean_exp(log_weight)
  else:
    if outputs["kl"] and per_dimension:
      if any(kl_d is None for kl_d in outputs["kl_per_dimension"]):
        raise ValueError("per-dimension free bits need a Gaussian prior at "
                         "every level; a mixture prior (prior_alignment="
                         "'exact') has no per-dimension KL: use free_bits.")
      # Each example's KL in each dimension floored: the gradient of Li et
      # al.'s mask (the dimension's KL leaves the loss below the floor).
      # Masked slots have zero KL and would be floored too: keep them out.
      floor = tf.cast(free_bits_per_dimension, dtype)
      floored_kl_per_level = tf.stack([
          tf.reduce_sum(tf.maximum(floor, kl_d) *
                        tf.cast(mask, dtype)[..., None])
          for kl_d, mask in zip(outputs["kl_per_dimension"],
                                outputs["slot_mask"])])
    elif outputs["kl"]:
      # sum_b KL_b with each slot's batch mean floored: local_size * sum_k
      # floor; a sum per level.
      floored_kl_per_level = local_size * tf.stack([
          tf.reduce_sum(tf.maximum(tf.cast(free_bits, dtype),
                                   tf.reduce_mean(level, axis=0)))
          for level in kl])
    else:  # No latents, no level.
      floored_kl_per_level = tf.zeros([0], dtype)
    beta = tf.cast(kl_weight, dtype)
    weighted_kl_sum = (tf.reduce_sum(beta * floored_kl_per_level)
                       if per_level_weights else
                       beta * tf.reduce_sum(floored_kl_per_level))
    loss = (tf.reduce_sum(distortion) + weighted_kl_sum) / denominator

  element_mask = outputs["element_mask"]  # k B rows with k samples.
  result = dict(
      elbo=-distortion - kl_total, distortion=distortion, kl=kl_total,
      log_weight=log_weight, kl_per_slot=kl_per_slot,
      kl_per_level=kl_per_level, loss=loss,
      num_elements=tf.reduce_sum(
          tf.cast(element_mask[:batch_size], tf.int32), axis=1),
      decoder_entropy=tf.zeros([], dtype),
      decoder_marginal_entropy=tf.zeros([], dtype),
      upper_marginal_entropy=tf.zeros([], dtype),
      upper_entropy=tf.zeros([], dtype),
      posterior_entropy=tf.zeros([], dtype))
  if outputs["kl"]:
    # Entropies in the loss's dtype (float32 under mixed precision too).
    decoder_weights = tf.cast(outputs["decoder_weights"], dtype)
    posterior_weights = [tf.cast(w, dtype)
                         for w in outputs["posterior_weights"]]
    result.update(
        decoder_weights=decoder_weights,
        posterior_weights=posterior_weights,
        decoder_entropy=attention_entropy(decoder_weights, element_mask),
        decoder_marginal_entropy=slot_marginal_entropy(decoder_weights,
                                                       element_mask),
        posterior_entropy=attention_entropy(posterior_weights[0],
                                            outputs["slot_mask"][0]))
    if not isinstance(attention_entropy_weight, (int, float)) or (
        attention_entropy_weight > 0):
      # Scaled like the rest of the loss: the replicas' shares add up to
      # eta times the (example-weighted) mean entropy of the global batch.
      result["loss"] += (tf.cast(attention_entropy_weight, dtype) *
                         result["decoder_entropy"] * local_size / denominator)
    if not isinstance(slot_balance_weight, (int, float)) or (
        slot_balance_weight > 0):
      # The shares are the local batch's: under tf.distribute the replicas'
      # terms add up to the mean of their batches' marginal entropies, at
      # most the global batch's (entropy is concave), so each replica's
      # batch must be balanced on its own: slightly stricter than the
      # single-device term.
      result["loss"] -= (tf.cast(slot_balance_weight, dtype) *
                         result["decoder_marginal_entropy"] * local_size /
                         denominator)
    if outputs["prior_read_weights"]:
      # Level l's lower slots are the queries; the slot mask of level l.
      upper_reads = [(tf.cast(weights, dtype), mask) for weights, mask in
                     zip(outputs["prior_read_weights"], outputs["slot_mask"])]
      result["upper_marginal_entropy"] = tf.add_n(
          [slot_marginal_entropy(*reads) for reads in upper_reads])
      result["upper_entropy"] = tf.add_n(
          [attention_entropy(*reads) for reads in upper_reads])
    if not isinstance(level_balance_weight, (int, float)) or (
        level_balance_weight > 0):
      # Local shares under tf.distribute, as the slot balance above.
      result["loss"] -= (tf.cast(level_balance_weight, dtype) *
                         result["upper_marginal_entropy"] * local_size /
                         denominator)
    if not isinstance(level_entropy_weight, (int, float)) or (
        level_entropy_weight > 0):
      result["loss"] += (tf.cast(level_entropy_weight, dtype) *
                         result["upper_entropy"] * local_size / denominator)
  return result


def _tile_samples(tensor, num_samples):
  """`(B, ...)` -> `(S * B, ...)`, sample-major (row s * B + b)."""
  multiples = tf.concat([[num_samples], tf.ones([tf.rank(tensor) - 1],
                                                tf.int32)], 0)
  return tf.tile(tensor, multiples)


def importance_log_weights(model, batch, num_samples, *, seed, encoded=None):
  """`log p(x, Z_s) - log q(Z_s | x)` for `num_samples` samples: `(S, B)`.

  The noise is `model.sample_noise(S * B, seed)`, sample-major, so one
  sample (`S=1`) with `seed` reproduces `evidence_lower_bound(seed=seed)`'s
  `log_weight` exactly.
  """
  if encoded is None and model.num_levels:
    encoded = model.encode_observation(batch)
  tiled = {key: _tile_samples(value, num_samples)
           for key, value in batch.items()}
  if encoded is not None:
    encoded = tuple(_tile_samples(t, num_samples) for t in encoded)
  outputs = model(tiled, training=False, seed=seed, encoded=encoded)
  log_weight = (outputs["log_likelihood"] + outputs["log_prior"] -
                outputs["log_posterior"])
  return tf.reshape(log_weight, [num_samples, -1])


# Logits held at once per IWAE chunk: 2**25 floats = 128 MiB (a PTB chunk of
# 64 samples x 32 sentences x 30 tokens x 10k words would be 2.4 GiB).
MAX_CHUNK_LOGITS = 2 ** 25


def iwae_bound(model, batch, num_samples, *, seed, chunk_size=None,
               max_chunk_logits=MAX_CHUNK_LOGITS):
  """The IWAE bound `log (1/S) sum_s w_s` per example, `(B,)`.

  Samples are drawn in chunks (chunk `i` with seed
  `stateless_fold_in(seed, i)`) and combined with a running logsumexp, so
  memory is that of one chunk whatever `num_samples` is. A chunk holds at
  most `chunk_size` samples and at most `max_chunk_logits` output logits
  (samples x batch x length x vocabulary), whichever is smaller; the
  observation is encoded once and shared by every sample.

  Args:
    model: an `InverseDraw` model.
    batch: the model's input dict.
    num_samples: S >= 1, a Python int or an int32 scalar tensor.
    seed: int `(2,)` stateless seed.
    chunk_size: the most samples per chunk (default 64).
    max_chunk_logits: the most logits per chunk (bounds memory).
  """
  if isinstance(num_samples, int):
    if num_samples < 1:
      raise ValueError(
          f"`num_samples` must be a positive integer, received {num_samples}.")
  else:  # A tensor (e.g. a serving input): checked when the graph runs.
    num_samples = tf.convert_to_tensor(num_samples, tf.int32)
    tf.debugging.assert_positive(
        num_samples, message="`num_samples` must be a positive integer")
  chunk_cap = int(chunk_size or 64)
  if chunk_cap < 1:
    raise ValueError(f"`chunk_size` must be positive, received {chunk_size}.")
  first = next(iter(batch.values()))
  shape = tf.shape(first)
  logits_per_sample = shape[0] * shape[1] * model.element_dim
  chunk_size = tf.clip_by_value(
      max_chunk_logits // tf.maximum(logits_per_sample, 1), 1,
      tf.minimum(chunk_cap, num_samples))
  num_chunks = (num_samples + chunk_size - 1) // chunk_size
  encoded = model.encode_observation(batch) if model.num_levels else None
  total = tf.fill([shape[0]], tf.constant(-math.inf, tf.float32))

  def body(index, total):
    log_weights = importance_log_weights(
        model, batch, chunk_size,
        seed=tf.random.experimental.stateless_fold_in(seed, index),
        encoded=encoded)
    # The last chunk may overshoot S: its extra samples get weight 0.
    sample_index = index * chunk_size + tf.range(chunk_size)
    log_weights = tf.where((sample_index < num_samples)[:, None], log_weights,
                           tf.cast(-math.inf, log_weights.dtype))
    chunk_total = tf.reduce_logsumexp(log_weights, axis=0)
    return index + 1, tf.reduce_logsumexp(tf.stack([total, chunk_total]), 0)

  _, total = tf.while_loop(lambda index, _: index < num_chunks, body,
                           (tf.constant(0), total))
  return total - tf.math.log(tf.cast(num_samples, total.dtype))
