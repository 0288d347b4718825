"""The statistics of a model on a batch, computed once for every consumer.

Training's validation, `bin/evaluate` and the report all sum
`batch_sums` over batches and turn the totals into reported numbers with
`summarize`; nothing else computes them.

```none
ELBO_n  = E_q[log p(x_n | Z)] - KL(q(Z | x_n) || p(Z))     one sample, fixed seed
PPL     = exp(sum_n NLL_n / sum_n |x_n|)                   |x_n| counts <eos> (text)
AU      = #{dimensions d : Var_x(E_q[z_d | x]) > 0.01}     (Burda et al. 2016)
H(w_t)  = -sum_k w_tk log w_tk                             per element, in nats
```
The read weights (what the decoder reads before seeing an element) and the
assignment (which slot produced it) are defined once, in `InverseDraw`'s
docstring; every attention statistic is taken along the posterior mean path
(`InverseDraw.posterior_mean`).
"""

import math

import numpy as np
import tensorflow as tf

from inverse_draw_tf import analysis
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import objectives

# A slot "takes" tokens when its share of them is at least this.
SLOT_SHARE_THRESHOLD = 0.05


def slot_token_shares(weights, element_mask):
  """Elements each slot produces, by weight mass and by argmax.

  Args:
    weights: `(B, T, K)` read weights or assignment (tensor or array).
    element_mask: `(B, T)` bool, False on padding.

  Returns:
    `(mass (K,), argmax_counts (K,), num_elements)` summed over the batch, so
    shares are `mass / num_elements`; ties in the argmax go to the lowest
    slot.

  Raises:
    ValueError: `weights` is not `(B, T, K)` with K >= 1, or the mask's shape
      differs from its first two axes.
  """
  weights = tf.convert_to_tensor(weights)
  if not weights.dtype.is_floating:
    weights = tf.cast(weights, tf.float32)
  element_mask = tf.convert_to_tensor(element_mask)
  shape = weights.shape
  if shape.rank != 3 or shape[-1] == 0:
    raise ValueError(
        "`weights` must have shape (batch_size, rows, slots) with at least "
        f"one slot, received shape {tuple(shape)}.")
  if not element_mask.shape.is_compatible_with(shape[:2]):
    raise ValueError(
        f"`element_mask` must have shape {tuple(shape[:2])} to match the "
        f"weights, received shape {tuple(element_mask.shape)}.")
  mask = tf.cast(element_mask, weights.dtype)[..., None]
  mass = tf.reduce_sum(weights * mask, axis=[0, 1])
  chosen = tf.one_hot(tf.argmax(weights, -1), tf.shape(weights)[-1],
                      dtype=weights.dtype)
  counts = tf.reduce_sum(chosen * mask, axis=[0, 1])
  return mass, counts, tf.reduce_sum(mask)


def used_slot_rates(weights, element_mask):
  """Per row: elements per slot in use, summed over the rows that have any.

  A slot is in use in a row when it is the argmax of at least one of its
  unmasked elements; the rate is the row's elements over its slots in use
  (tokens per latent at the bottom, lower latents per upper latent in a
  hierarchy: how much slower the level runs than the one below).

  Args:
    weights: `(B, N, K)` assignment of N elements to K slots.
    element_mask: `(B, N)` bool.

  Returns:
    `(sum of the rows' rates, rows with an element)`, float32 scalars.
  """
  mask = tf.cast(element_mask, tf.float32)
  chosen = tf.one_hot(tf.argmax(weights, -1), tf.shape(weights)[-1])
  used = tf.reduce_sum(tf.reduce_max(chosen * mask[..., None], 1), -1)
  elements = tf.reduce_sum(mask, 1)
  rows = tf.cast(elements > 0, tf.float32)
  return (tf.reduce_sum(rows * elements / tf.maximum(used, 1.0)),
          tf.reduce_sum(rows))


def batch_sums(model, batch, *, seed, iwae_samples=1):
  """Per-batch sums of every statistic (a dict of tensors).

  The ELBO terms come from one posterior sample drawn with `seed`; the
  attention statistics, the posterior means (for active units) and the
  slot shares from the posterior mean path. Keys: `elbo`, `distortion`,
  `kl`, `kl_per_slot` `(K_0,)`, `num_examples`, `num_elements`; with latents
  also `posterior_means` `(B, sum_l K_l D_l)` (concatenated, not summed),
  `slot_mass` / `slot_argmax` (read weights), `decoder_entropy`,
  `posterior_entropy`, `num_posterior_reads`, `assignment_argmax`,
  `assignment_entropy`, and with a latent alignment `alignment_mass`,
  `alignment_argmax`, `alignment_entropy`. With `iwae_samples` k > 1 also
  `iwae`, the IWAE_k bound (what a run trained on it optimises), its
  samples drawn with `stateless_fold_in(seed, 1)`.
  """
  terms = objectives.evidence_lower_bound(model, batch, seed=seed)
  elements = tf.cast(tf.reduce_sum(terms["num_elements"]), tf.float32)
  sums = dict(
      elbo=tf.reduce_sum(terms["elbo"]),
      distortion=tf.reduce_sum(terms["distortion"]),
      kl=tf.reduce_sum(terms["kl"]),
      kl_per_slot=tf.reduce_sum(terms["kl_per_slot"], 0),
      num_examples=tf.cast(tf.shape(terms["elbo"])[0], tf.float32),
      num_elements=elements)
  if iwae_samples > 1:
    sums["iwae"] = tf.reduce_sum(objectives.iwae_bound(
        model, batch, iwae_samples,
        seed=tf.random.experimental.stateless_fold_in(seed, 1)))
  if not model.num_levels:
    return sums
  mean_path = model.posterior_mean(batch)
  mask = mean_path["element_mask"]
  # Statistics in float32 whatever the compute dtype: under mixed precision
  # the read weights are bfloat16 and the exact alignment's float32.
  read_weights = tf.cast(mean_path["decoder_weights"], tf.float32)
  element_weight = tf.cast(mask, tf.float32)
  entropy_sum = lambda weights: tf.reduce_sum(
      attention_lib.entropy(tf.cast(weights, tf.float32)) * element_weight)
  mass, counts, _ = slot_token_shares(read_weights, mask)
  posterior_mask = tf.cast(mean_path["slot_mask"][0], read_weights.dtype)
  sums.update(
      posterior_means=tf.concat(
          [tf.reshape(loc, [tf.shape(loc)[0], -1])
           for loc in mean_path["posterior_loc"]], 1),
      slot_mass=mass, slot_argmax=counts,
      decoder_entropy=entropy_sum(read_weights),
      posterior_entropy=tf.reduce_sum(
          attention_lib.entropy(tf.cast(mean_path["posterior_weights"][0],
                                        tf.float32)) *
          posterior_mask),
      num_posterior_reads=tf.reduce_sum(posterior_mask))
  assignment = tf.cast(mean_path["assignment"], tf.float32)
  _, sums["assignment_argmax"], _ = slot_token_shares(assignment, mask)
  sums["assignment_entropy"] = entropy_sum(assignment)
  sums["kl_per_level"] = tf.reduce_sum(terms["kl_per_level"], 0)
  sums["token_rate"], sums["rate_rows"] = used_slot_rates(assignment, mask)
  # A hierarchy: which slot of level l (1 = bottom) each slot of level
  # l - 1 came from, as `encode` exports it (`assignment_level_l`).
  for level, weights in enumerate(mean_path["level_assignment"], start=2):
    weights = tf.cast(weights, tf.float32)
    lower_mask = mean_path["slot_mask"][level - 2]
    name = f"assignment_level_{level}"
    _, sums[f"{name}_argmax"], sums[f"{name}_slots"] = slot_token_shares(
        weights, lower_mask)
    sums[f"{name}_entropy"] = tf.reduce_sum(
        attention_lib.entropy(weights) * tf.cast(lower_mask, tf.float32))
    sums[f"{name}_rate"], _ = used_slot_rates(weights, lower_mask)
  if "alignment_posterior" in mean_path:
    posterior = tf.cast(mean_path["alignment_posterior"], tf.float32)
    mass, counts, _ = slot_token_shares(posterior, mask)
    sums.update(alignment_mass=mass, alignment_argmax=counts,
                alignment_entropy=entropy_sum(posterior))
  return sums


def summarize(totals, posterior_means, *, num_slots, text):
  """Turns `batch_sums` totals over a split into the reported statistics.

  Args:
    totals: `{key: sum over batches}` of `batch_sums` (plus `nll`, the
      summed IWAE NLL, when the caller computed it; `iwae` is reported as
      the per-example bound).
    posterior_means: list of the batches' `posterior_means` (empty without
      latents).
    num_slots: K of the bottom level (0 without latents).
    text: the observation is text (adds perplexities).

  Returns:
    A flat dict of floats, ints and lists: per-example `elbo`,
    `distortion`, `kl`, `kl_per_slot` (and `nll`); `ppl` / `elbo_ppl` for
    text; with latents the active units, the attention entropies (per
    element; `uniform_attention_entropy` = log K), the read weights' slot
    shares (`slot_token_share` by mass, `slot_argmax_share`,
    `slots_over_5_percent`), the assignment's (`assignment_entropy`,
    `assignment_argmax_share`, `assignment_slots_over_5_percent`),
    `kl_per_level` (bottom first) and `tokens_per_used_slot` (the bottom
    level's rate, per sentence), in a hierarchy each upper level's
    (`_level_statistics`) and, with a latent alignment, the alignment
    posterior's (`alignment_*`).
  """
  if not totals:
    raise ValueError("the evaluation split yielded no batches; check "
                     "`max_examples` and the data paths.")
  n = totals["num_examples"]
  elements = totals["num_elements"]
  result = dict(
      num_examples=int(n), num_elements=int(elements),
      elbo=totals["elbo"] / n, distortion=totals["distortion"] / n,
      kl=totals["kl"] / n,
      kl_per_slot=(np.asarray(totals["kl_per_slot"]) / n).tolist())
  if "nll" in totals:
    result["nll"] = totals["nll"] / n
  if "iwae" in totals:
    result["iwae"] = totals["iwae"] / n
  if text:
    if "nll" in totals:
      result["ppl"] = math.exp(totals["nll"] / elements)
    result["elbo_ppl"] = math.exp(-totals["elbo"] / elements)
  if num_slots:
    count, variance = analysis.active_units(np.concatenate(posterior_means, 0))
    shares = np.asarray(totals["slot_mass"]) / elements
    assignment_shares = np.asarray(totals["assignment_argmax"]) / elements
    result.update(
        active_units=count, latent_dimensions=int(variance.size),
        active_unit_fraction=count / variance.size,
        decoder_attention_entropy=totals["decoder_entropy"] / elements,
        posterior_attention_entropy=(totals["posterior_entropy"] /
                                     totals["num_posterior_reads"]),
        uniform_attention_entropy=math.log(num_slots),
        slot_token_share=shares.tolist(),
        slot_argmax_share=(np.asarray(totals["slot_argmax"]) /
                           elements).tolist(),
        slots_over_5_percent=int(np.sum(shares >= SLOT_SHARE_THRESHOLD)),
        assignment_entropy=totals["assignment_entropy"] / elements,
        assignment_argmax_share=assignment_shares.tolist(),
        assignment_slots_over_5_percent=int(
            np.sum(assignment_shares >= SLOT_SHARE_THRESHOLD)))
  if "kl_per_level" in totals:
    result.update(_level_statistics(totals, n))
  if "alignment_mass" in totals:
    alignment_shares = np.asarray(totals["alignment_mass"]) / elements
    result.update(
        alignment_entropy=totals["alignment_entropy"] / elements,
        alignment_slot_share=alignment_shares.tolist(),
        alignment_argmax_share=(np.asarray(totals["alignment_argmax"]) /
                                elements).tolist(),
        alignment_slots_over_5_percent=int(
            np.sum(alignment_shares >= SLOT_SHARE_THRESHOLD)))
  return {k: (float(v) if isinstance(v, np.floating) else v)
          for k, v in result.items()}


# An upper slot "takes" lower slots when its share of them is at least this
# (issue 27's bar for a level in use).
LEVEL_SHARE_THRESHOLD = 0.10


def _level_statistics(totals, num_examples):
  """Per level of latents: the KL, the rate, and each upper level's
  assignment (lists, one entry per upper level l = 2..L)."""
  result = dict(
      kl_per_level=(np.asarray(totals["kl_per_level"]) /
                    num_examples).tolist(),
      tokens_per_used_slot=totals["token_rate"] / totals["rate_rows"])
  levels = sorted(int(key.split("_")[2]) for key in totals
                  if key.startswith("assignment_level_") and
                  key.endswith("_slots"))
  if not levels:
    return result
  entropy, uniform, shares, over, rate = [], [], [], [], []
  for level in levels:
    name = f"assignment_level_{level}"
    slots = totals[f"{name}_slots"]
    share = np.asarray(totals[f"{name}_argmax"]) / slots
    entropy.append(float(totals[f"{name}_entropy"] / slots))
    uniform.append(math.log(share.size))
    shares.append(share.tolist())
    over.append(int(np.sum(share >= LEVEL_SHARE_THRESHOLD)))
    rate.append(float(totals[f"{name}_rate"] / totals["rate_rows"]))
  result.update(level_assignment_entropy=entropy,
                level_uniform_entropy=uniform,
                level_assignment_argmax_share=shares,
                level_slots_over_10_percent=over,
                lower_per_used_upper=rate)
  return result
