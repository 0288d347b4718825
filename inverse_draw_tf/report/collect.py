"""Running the model for the report: the posterior mean path over a split and
the statistics it gathers, and the decoding of reconstructions, samples,
interpolations and traversals.

Everything is computed along the posterior mean path (zero noise, see
`InverseDraw.posterior_mean`), except where a sample is asked for. The
statistics are NumPy arrays and JSON-able numbers; `figures.py` draws them
and `sections.py` lays them out.
"""

import math
import time

import numpy as np
import tensorflow as tf

from inverse_draw_tf import analysis
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import data
from inverse_draw_tf import metrics
from inverse_draw_tf import report

# Alignments whose model output has `alignment_posterior` p(a_t | x, z).
ALIGNMENTS_WITH_POSTERIOR = ("exact", "variational")
TOP_WORDS = 8
TRAVERSAL_OFFSETS = (-2.0, -1.0, 0.0, 1.0, 2.0)  # In standard deviations.
INTERPOLATION_STEPS = 7
NUM_INTERPOLATIONS = 3
NUM_TRAVERSED = 2  # Examples whose slots are traversed.


# -- Running the model -------------------------------------------------------


def make_mean_path_fn(model):
  """A compiled function: batch -> the model's outputs along the posterior
  mean path (zero noise), as needed by the report.

  The result has `element_mask` `(B, T)`, `decoder_weights` `(B, T, K_0)`,
  `assignment` `(B, T, K_0)` (which slot produced each element: the exact
  alignment posterior p(a_t | x, z) when the model has one, else the
  decoder's attention),
  `decoder_state` `(B, T, S)`, and per level lists `posterior_weights`
  `(B, K_l, T)`, `slot_mask` `(B, K_l)`, `posterior_loc` `(B, K_l, D_l)`,
  `kl` `(B, K_l)`; with two or more levels also `level_assignment`
  `(B, K_0, K_1)`: which upper slot each lower slot came from under the
  prior (its read weights, or the mixture prior's posterior over them).
  """

  @tf.function(reduce_retracing=True)
  def mean_path(batch):
    out = model.posterior_mean(batch)
    result = dict(element_mask=out["element_mask"],
                  decoder_weights=out["decoder_weights"],
                  assignment=out["assignment"],
                  decoder_state=out["decoder_attention_state"],
                  posterior_weights=out["posterior_weights"],
                  slot_mask=out["slot_mask"],
                  posterior_loc=out["posterior_loc"], kl=out["kl"])
    if len(out["level_assignment"]) > 0:
      result["level_assignment"] = out["level_assignment"][0]
    return result

  return mean_path


def make_generate_fn(model, max_length):
  """A compiled `model.generate`: `(latents (N, K, D), slot_mask (N, K),
  temperature, seed (2,))` -> numpy dict of `elements`, `read_weights`,
  `element_mask` (temperature 0 is greedy)."""
  fn = tf.function(
      lambda z, m, t, s: model.generate(z, max_length, temperature=t, seed=s,
                                        slot_mask=m),
      reduce_retracing=True)

  def generate(latents, slot_mask, temperature, seed):
    latents = tf.convert_to_tensor(np.asarray(latents), model.compute_dtype)
    if slot_mask is None:
      slot_mask = np.ones(latents.shape[:2], bool)
    out = fn(latents, tf.constant(np.asarray(slot_mask, bool)),
             tf.constant(float(temperature)), tf.constant(seed, tf.int32))
    return {k: v.numpy() for k, v in out.items()}

  return generate


class Elements:
  """How the observation's elements are named: words or pixel-row groups.

  Args:
    model: an `InverseDraw`.
    vocabulary_tokens: the vocabulary's tokens, by id (text only).
  """

  def __init__(self, model, vocabulary_tokens=None):
    self.text = model.observation == "text"
    self.tokens = vocabulary_tokens
    if not self.text:
      self.height, self.width = model.image_shape
      self.steps = self.height * self.width // model.pixels_per_step
      self.group = model.pixels_per_step

  @property
  def noun(self):
    return "word" if self.text else "row"

  @property
  def vocab_size(self):
    return len(self.tokens) if self.text else self.steps

  def ids(self, batch, mask):
    """`(B, T)` labels: token ids, or the step index for images."""
    if self.text:
      return np.asarray(batch["tokens"])
    return np.broadcast_to(np.arange(mask.shape[1]), mask.shape)

  def name(self, index):
    if self.text:
      return self.tokens[index]
    if self.group == self.width:
      return f"row {index}"
    return f"group {index}"

  def to_images(self, elements):
    """Generated groups `(N, L, G)` -> images `(N, H, W)`."""
    return np.asarray(elements).reshape(-1, self.height, self.width)

  def pixel_slots(self, slots):
    """Per-step slots `(..., T)` -> per-pixel slots `(..., H, W)`."""
    slots = np.repeat(np.asarray(slots), self.group, axis=-1)
    return slots.reshape(slots.shape[:-1] + (self.height, self.width))


def decoded_words(elements_info, generated):
  """Generated ids -> list of `(words, slots)`, stopping before `<eos>`."""
  rows = []
  for ids, alive, weights in zip(generated["elements"],
                                 generated["element_mask"],
                                 generated["read_weights"]):
    words, slots = [], []
    for t, token in enumerate(ids):
      if not alive[t] or token == data.EOS_ID:
        break
      words.append(elements_info.name(int(token)))
      slots.append(int(np.argmax(weights[t])))
    rows.append((words, slots))
  return rows


def labels_of(elements_info, example):
  """Names of an example's elements: its tokens (`<eos>` included) or rows."""
  if elements_info.text:
    return [elements_info.name(int(t)) for t in example["tokens"]]
  return [elements_info.name(t) for t in range(example["length"])]


def words_of(elements_info, example):
  """Original words (without `<eos>`) and their teacher-forced slots."""
  ids = [int(t) for t in example["tokens"]]
  slots = [int(k) for k in np.argmax(example["assignment"], -1)]
  if ids and ids[-1] == data.EOS_ID:
    ids, slots = ids[:-1], slots[:-1]
  return [elements_info.name(t) for t in ids], slots


# -- Statistics over a split -------------------------------------------------


def _add_rate(parts, prefix, weights, mask, slot_mask):
  """Appends one batch's `analysis.rate_statistics` to `parts`."""
  rate = analysis.rate_statistics(weights, mask, slot_mask)
  for key in ("mass", "argmax"):
    parts[f"{prefix}rate_{key}"].append(np.where(slot_mask, rate[key],
                                                 np.nan))
  parts[f"{prefix}lengths"].append(rate["lengths"])
  parts[f"{prefix}slots_used"].append(rate["slots_used"])


def _add_entropy(parts, name, weights, row_mask, column_mask):
  """Appends one batch's entropies and uniform baselines to `parts`."""
  entropy, baseline = analysis.attention_entropies(weights, row_mask,
                                                   column_mask)
  parts[f"{name}_entropy"].append(entropy)
  parts[f"{name}_baseline"].append(baseline)


def _add_sums(totals, key, values):
  """Adds the dict `values` to `totals[key]` key by key."""
  totals[key] = values if totals[key] is None else {
      k: totals[key][k] + v for k, v in values.items()}


def collect(model, dataset, elements_info, *, num_shown, max_examples=0,
            log_fn=None, mean_path=None, shown_stride=1):
  """Runs the mean path over `dataset` and gathers every statistic.

  Args:
    model: an `InverseDraw` with latents.
    dataset: batches of the split (`{"tokens"}` or `{"pixels"}`).
    elements_info: an `Elements`.
    num_shown: keep the per-example tensors of the first `num_shown`.
    max_examples: stop after this many examples (whole batches; 0 = all).
    log_fn: optional progress callback.
    mean_path: `make_mean_path_fn(model)`, to reuse one compiled function.
    shown_stride: keep every `shown_stride`-th example (0, s, 2s, ...).

  Returns:
    dict of NumPy statistics (see `summarize`) and `shown`, a list of
    per-example dicts.

  Raises:
    report.ReportError: the split yielded no examples.
  """
  mean_path = mean_path or make_mean_path_fn(model)
  levels = model.num_levels
  window = isinstance(model.decoder.head, attention_lib.WindowAttention)
  totals = dict(shares=None, words=None)
  parts = {key: [] for key in (
      "rate_mass", "rate_argmax", "lengths", "slots_used", "decoder_entropy",
      "posterior_entropy", "posterior_baseline", "window_steps",
      "upper_rate_mass", "upper_rate_argmax", "upper_lengths",
      "upper_slots_used", "prior_entropy", "prior_baseline",
      "assignment_entropy")}
  alignment = model.decoder_alignment in ALIGNMENTS_WITH_POSTERIOR
  means = [[] for _ in range(levels)]
  slot_masks = [[] for _ in range(levels)]
  kl_sums = [0.0] * levels
  shown = []
  num_examples = 0
  start = time.time()
  for batch in dataset:
    out = tf.nest.map_structure(lambda t: t.numpy(), mean_path(batch))
    mask = out["element_mask"]
    weights = out["assignment"]
    slot_mask = out["slot_mask"][0]
    mass, argmax, num_elements = metrics.slot_token_shares(weights, mask)
    _add_sums(totals, "shares", dict(
        mass=mass.numpy().astype(np.float64),
        argmax=argmax.numpy().astype(np.float64),
        num_elements=int(num_elements)))
    _add_sums(totals, "words", analysis.word_slot_matrix(
        weights, mask, elements_info.ids(batch, mask),
        elements_info.vocab_size))
    _add_rate(parts, "", weights, mask, slot_mask)
    parts["decoder_entropy"].append(analysis.attention_entropies(
        out["decoder_weights"], mask, slot_mask)[0])
    if alignment:
      parts["assignment_entropy"].append(
          analysis.attention_entropies(weights, mask, slot_mask)[0])
    _add_entropy(parts, "posterior", out["posterior_weights"][0], slot_mask,
                 mask)
    if window:
      parts["window_steps"].append(
          analysis.window_steps(out["decoder_state"], mask))
    if levels > 1:
      upper_mask = out["slot_mask"][1]
      _add_rate(parts, "upper_", out["level_assignment"], slot_mask,
                upper_mask)
      _add_entropy(parts, "prior", out["level_assignment"], slot_mask,
                   upper_mask)
    for level in range(levels):
      means[level].append(out["posterior_loc"][level])
      slot_masks[level].append(out["slot_mask"][level])
      kl_sums[level] = kl_sums[level] + out["kl"][level].sum(0)
    batch_size = mask.shape[0]
    for row in range(batch_size):
      if len(shown) >= num_shown:
        break
      if (num_examples + row) % shown_stride:
        continue
      length = int(mask[row].sum())
      example = dict(
          length=length,
          decoder_weights=out["decoder_weights"][row, :length],
          assignment=weights[row, :length],
          posterior_weights=[w[row, :, :length]
                             for w in out["posterior_weights"]],
          slot_mask=[m[row] for m in out["slot_mask"]],
          posterior_loc=[loc[row] for loc in out["posterior_loc"]])
      if elements_info.text:
        example["tokens"] = np.asarray(batch["tokens"])[row, :length]
      else:
        example["pixels"] = np.asarray(batch["pixels"])[row]
      if levels > 1:
        example["level_assignment"] = out["level_assignment"][row]
      shown.append(example)
    num_examples += batch_size
    if log_fn:
      log_fn(f"analysed {num_examples} examples ({time.time() - start:.0f}s)")
    if max_examples and num_examples >= max_examples:
      break
  if not num_examples:
    raise report.ReportError("the split yielded no examples; check the data "
                             "files and --max_examples.")
  join = lambda key: (np.concatenate(parts[key], 0) if parts[key] else
                      np.zeros([0]))
  return dict(
      num_examples=num_examples, shares=totals["shares"],
      words=totals["words"],
      rate_mass=join("rate_mass"), rate_argmax=join("rate_argmax"),
      lengths=join("lengths"), slots_used=join("slots_used"),
      decoder_entropy=join("decoder_entropy"),
      assignment_entropy=(join("assignment_entropy") if alignment
                          else None),
      posterior_entropy=join("posterior_entropy"),
      posterior_baseline=join("posterior_baseline"),
      window_steps=join("window_steps") if window else None,
      upper_rate_mass=join("upper_rate_mass"),
      upper_rate_argmax=join("upper_rate_argmax"),
      upper_lengths=join("upper_lengths"),
      upper_slots_used=join("upper_slots_used"),
      prior_entropy=join("prior_entropy"),
      prior_baseline=join("prior_baseline"),
      posterior_means=[np.concatenate(m, 0) for m in means],
      slot_masks=[np.concatenate(m, 0) for m in slot_masks],
      kl_per_slot=[np.asarray(s) / num_examples for s in kl_sums],
      shown=shown)


def nan_mean(values, axis=0):
  """The mean of `values` along `axis` ignoring NaN; NaN where all are."""
  values = np.asarray(values, np.float64)
  with np.errstate(invalid="ignore"):
    counts = np.sum(~np.isnan(values), axis)
    total = np.nansum(values, axis)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def _finite_list(values):
  return [None if not np.isfinite(v) else float(v)
          for v in np.asarray(values, np.float64).reshape(-1)]


def _rate_summary(mass, argmax, lengths, slots_used):
  """JSON-able summary of per-example, per-slot element counts."""
  used = np.asarray(slots_used)
  lengths = np.asarray(lengths)
  return dict(
      mass_per_slot=_finite_list(nan_mean(mass)),
      argmax_per_slot=_finite_list(nan_mean(argmax)),
      mean_tokens_per_latent=float(np.nanmean(mass)) if mass.size else None,
      mean_tokens_per_used_latent=(float(lengths.sum() / used.sum())
                                   if used.sum() else None),
      mean_latents_used=float(used.mean()) if used.size else None,
      tokens_per_latent_quantiles=_finite_list(
          np.nanpercentile(mass, [10, 50, 90])) if mass.size else [])


def _entropy_summary(values, baselines):
  return dict(mean=float(values.mean()) if values.size else None,
              uniform=float(baselines.mean()) if baselines.size else None,
              count=int(values.size))


def summarize(model, stats, elements_info):
  """Per-slot profile, rate, sharpness: JSON-able numbers from `collect`."""
  shares = stats["shares"]
  total = max(shares["num_elements"], 1)
  counts, _ = analysis.active_dimensions(stats["posterior_means"][0],
                                         stats["slot_masks"][0])
  exclude = (data.PAD_ID, data.BOS_ID) if elements_info.text else ()
  by_mass = analysis.top_words(stats["words"]["mass"], TOP_WORDS, exclude)
  by_argmax = analysis.top_words(stats["words"]["argmax"], TOP_WORDS, exclude)
  distinctive = (analysis.distinctive_words(stats["words"]["mass"], TOP_WORDS,
                                            min_count=5.0, exclude=exclude)
                 if elements_info.text else [[] for _ in by_mass])
  name = elements_info.name
  slots = []
  for k in range(model.num_slots[0]):
    slots.append(dict(
        slot=k, token_share=float(shares["mass"][k] / total),
        argmax_share=float(shares["argmax"][k] / total),
        kl=float(stats["kl_per_slot"][0][k]),
        active_dimensions=int(counts[k]),
        latent_dim=int(model.latent_dim[0]),
        top_by_mass=[[name(i), v] for i, v in by_mass[k]],
        top_by_argmax=[[name(i), int(v)] for i, v in by_argmax[k]],
        distinctive=[[name(i), lift, int(round(c))]
                     for i, lift, c in distinctive[k]]))
  levels = []
  for level in range(model.num_levels):
    level_counts, _ = analysis.active_dimensions(
        stats["posterior_means"][level], stats["slot_masks"][level])
    levels.append(dict(
        level=level, num_slots=model.num_slots[level],
        latent_dim=model.latent_dim[level],
        kl_per_slot=_finite_list(stats["kl_per_slot"][level]),
        kl=float(np.sum(stats["kl_per_slot"][level])),
        active_dimensions=[int(c) for c in level_counts]))
  rate = _rate_summary(stats["rate_mass"], stats["rate_argmax"],
                       stats["lengths"], stats["slots_used"])
  if stats["window_steps"] is not None and stats["window_steps"].size:
    steps = stats["window_steps"]
    rate["window_step_mean"] = float(steps.mean())
    rate["window_step_quantiles"] = _finite_list(
        np.percentile(steps, [10, 50, 90]))
    rate["tokens_per_slot_from_step"] = float(1.0 / max(steps.mean(), 1e-12))
  result = dict(slots=slots, levels=levels, rate=rate)
  if model.num_levels > 1:
    result["upper_rate"] = _rate_summary(
        stats["upper_rate_mass"], stats["upper_rate_argmax"],
        stats["upper_lengths"], stats["upper_slots_used"])
  # Per element over K slots: the uniform baseline is log K.
  over_slots = lambda values: dict(_entropy_summary(values, np.zeros(0)),
                                   uniform=math.log(model.num_slots[0]))
  result["entropy"] = dict(
      decoder=over_slots(stats["decoder_entropy"]),
      posterior=_entropy_summary(stats["posterior_entropy"],
                                 stats["posterior_baseline"]))
  if model.num_levels > 1:
    result["entropy"]["prior"] = _entropy_summary(stats["prior_entropy"],
                                                  stats["prior_baseline"])
  if stats.get("assignment_entropy") is not None:
    result["entropy"]["assignment"] = over_slots(stats["assignment_entropy"])
  return result


# -- Decoding ----------------------------------------------------------------


def _shown_batch(model, shown):
  if model.observation == "text":
    width = max(e["length"] for e in shown)
    tokens = np.zeros([len(shown), width], np.int32)
    for row, example in enumerate(shown):
      tokens[row, :example["length"]] = example["tokens"]
    return {"tokens": tf.constant(tokens)}
  return {"pixels": tf.constant(np.stack([e["pixels"] for e in shown]),
                                tf.float32)}


def bottom_means_given(model, batch, latents, level):
  """The bottom level's posterior means when level `level`'s slots are
  `latents` instead of their own means: every level below re-read top-down
  along its mean path (zero noise), the sentence `batch` fixed.

  Args:
    model: an `InverseDraw` with more than `level` levels.
    batch: the sentences, one row per row of `latents`.
    latents: `(N, K_level, D_level)`.
    level: 1 or more (0-based; 0 is the bottom).

  Returns:
    `(N, K_0, D_0)`; at the sentences' own means, their posterior means.
  """
  memory, memory_mask = model.encode_observation(batch)
  slot_masks = model.slot_masks(model.elements(batch)[2])
  latents = tf.cast(latents, model.compute_dtype)
  for lower in reversed(range(level)):
    zeros = tf.zeros([tf.shape(latents)[0], model.num_slots[lower],
                      model.latent_dim[lower]], model.compute_dtype)
    latents = model.posteriors[lower](
        [(memory, memory_mask), (latents, slot_masks[lower + 1])], zeros,
        slot_mask=slot_masks[lower])["loc"]
  return latents


def _upper_traversals(model, stats, generate, seed):
  """Each upper slot of the first `NUM_TRAVERSED` shown sentences moved
  along its principal direction, decoded through the lower level."""
  shown = stats["shown"]
  means = stats["posterior_means"][1]
  rows, decoded = [], []
  for example in range(min(NUM_TRAVERSED, len(shown))):
    upper = shown[example]["posterior_loc"][1]
    for slot in range(model.num_slots[1]):
      direction, scale, _ = analysis.principal_direction(means[:, slot])
      latents = analysis.traverse(upper, slot, direction,
                                  np.asarray(TRAVERSAL_OFFSETS) * scale)
      batch = _shown_batch(model, [shown[example]] * len(latents))
      bottom = bottom_means_given(model, batch, latents, 1).numpy()
      mask = np.repeat(shown[example]["slot_mask"][0][None], len(latents), 0)
      rows.append((example, slot, scale))
      decoded.append(generate(bottom, mask, 0.0, seed))
  return rows, decoded


def decode_examples(model, stats, generate, base_seed, num_samples):
  """Reconstructions, prior samples, interpolations and traversals.

  Args:
    model: the `InverseDraw`.
    stats: `collect`'s result (its `shown` examples are decoded).
    generate: `make_generate_fn(model, max_length)`.
    base_seed: `(2,)` int32; each kind of decoding folds in its own index.
    num_samples: samples drawn from the prior.

  Returns:
    dict of `generate` results: `greedy` and `sampled` (reconstructions of
    the shown examples from the posterior mean and a posterior sample),
    `prior_greedy` and `prior_sampled` (the same prior samples decoded both
    ways), `interpolations` (one result per pair in `pairs`, examples
    `(2i, 2i + 1)`), `traversals` (one result per `(example, slot, scale)`
    in `traversal_rows`), and in a hierarchy `upper_traversals` (the same
    for the slots of level 2, in `upper_traversal_rows`, decoded through
    the level below: `bottom_means_given`).
  """
  fold = lambda i: tf.random.experimental.stateless_fold_in(
      base_seed, i).numpy()
  shown = stats["shown"]
  loc = np.stack([e["posterior_loc"][0] for e in shown])
  masks = np.stack([e["slot_mask"][0] for e in shown])
  sampled_latents = model(_shown_batch(model, shown),
                          seed=tf.constant(fold(1)))["latents"][0].numpy()
  greedy = generate(loc, masks, 0.0, fold(2))
  sampled = generate(sampled_latents, masks, 1.0, fold(3))
  prior = model.sample_prior(num_samples, tf.constant(fold(4)))[0].numpy()
  prior_greedy = generate(prior, None, 0.0, fold(5))
  prior_sampled = generate(prior, None, 1.0, fold(6))

  pairs = [(2 * i, 2 * i + 1) for i in range(NUM_INTERPOLATIONS)
           if 2 * i + 1 < len(shown)]
  interpolation_latents = [
      analysis.interpolate(loc[a], loc[b], INTERPOLATION_STEPS)
      for a, b in pairs]
  interpolation_masks = [np.repeat((masks[a] | masks[b])[None],
                                   INTERPOLATION_STEPS, 0) for a, b in pairs]
  traversal_rows = []  # (example, slot, scale)
  traversal_latents = []
  means, slot_masks = stats["posterior_means"][0], stats["slot_masks"][0]
  for example in range(min(NUM_TRAVERSED, len(shown))):
    for slot in range(model.num_slots[0]):
      if not masks[example, slot]:
        continue
      points = means[slot_masks[:, slot], slot]
      if len(points) < 2:
        continue
      direction, scale, _ = analysis.principal_direction(points)
      traversal_rows.append((example, slot, scale))
      traversal_latents.append(analysis.traverse(
          loc[example], slot, direction,
          np.asarray(TRAVERSAL_OFFSETS) * scale))
  batch_latents = interpolation_latents + traversal_latents
  path_result = None
  if batch_latents:
    all_latents = np.concatenate(batch_latents, 0)
    all_masks = np.concatenate(
        interpolation_masks + [np.repeat(masks[e][None], len(
            TRAVERSAL_OFFSETS), 0) for e, _, _ in traversal_rows], 0)
    path_result = generate(all_latents, all_masks, 0.0, fold(7))

  def rows_of(result, start, count):
    return {k: v[start:start + count] for k, v in result.items()}

  interpolations = [rows_of(path_result, i * INTERPOLATION_STEPS,
                            INTERPOLATION_STEPS) for i in range(len(pairs))]
  offset = len(pairs) * INTERPOLATION_STEPS
  traversals = [rows_of(path_result, offset + i * len(TRAVERSAL_OFFSETS),
                        len(TRAVERSAL_OFFSETS))
                for i in range(len(traversal_rows))]
  upper_rows, upper_traversals = (
      _upper_traversals(model, stats, generate, fold(8))
      if model.num_levels > 1 and model.observation == "text" else ([], []))
  return dict(greedy=greedy, sampled=sampled, prior_greedy=prior_greedy,
              prior_sampled=prior_sampled, pairs=pairs,
              interpolations=interpolations, traversal_rows=traversal_rows,
              traversals=traversals, upper_traversal_rows=upper_rows,
              upper_traversals=upper_traversals)
