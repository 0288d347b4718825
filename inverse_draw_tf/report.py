"""Seeing inside a trained run: the HTML report of bin/analyze, and the
attention summaries training writes to TensorBoard.

```none
REPORT_DIR/index.html       one self-contained page (open it from disk)
REPORT_DIR/summary.json     every number shown, and each section's figures
REPORT_DIR/figures/*.png    the figures, referenced relatively
```
Sections: the run's metrics and config; word-to-latent maps (which latent
produced each word, which words each latent read); a profile of every slot
over the split (its words, share of tokens, KL, active dimensions); rate
(tokens per latent, the window's step size, one level up in a hierarchy);
attention sharpness against the uniform baseline; reconstructions, samples
from the prior, interpolations between posteriors and traversals of one slot,
as sentences coloured by the slot that produced each word (or as images).

The statistics come from `analysis.py` (pure functions of attention
tensors); this module runs the model, draws with matplotlib's Agg canvas
(no display, no pyplot state) and writes HTML. Everything is computed along
the posterior mean path (zero noise), except where a sample is asked for.
"""

import glob
import html
import io
import json
import math
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from inverse_draw_tf import analysis
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import checkpoints
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import metrics

REPORT_MARKER = "inverse_draw_tf bin/analyze report"
FIGURES = "figures"
# Dark enough to read as text colour on white; slot k uses PALETTE[k % 12].
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e67300", "#8c564b",
           "#d6279b", "#0e8a9a", "#6b6b6b", "#8a7a00", "#393b79", "#4f7a28")
TRAVERSAL_OFFSETS = (-2.0, -1.0, 0.0, 1.0, 2.0)  # In standard deviations.
INTERPOLATION_STEPS = 7
NUM_INTERPOLATIONS = 3
NUM_TRAVERSED = 2  # Examples whose slots are traversed.
TOP_WORDS = 8


class ReportError(ValueError):
  """Bad arguments or an unusable run or output directory (one line)."""


def slot_color(slot):
  """The colour of slot `slot` in every figure and table."""
  return PALETTE[slot % len(PALETTE)]


# -- Running the model -------------------------------------------------------


# Alignments whose model output has `alignment_posterior` p(a_t | x, z).
ALIGNMENTS_WITH_POSTERIOR = ("exact", "variational")


def make_mean_path_fn(model):
  """A compiled function: batch -> the model's outputs along the posterior
  mean path (zero noise), as needed by the report.

  The result has `element_mask` `(B, T)`, `decoder_weights` `(B, T, K_0)`,
  `assignment` `(B, T, K_0)` (which latent produced each element: the exact
  alignment posterior p(a_t | x, z) when the model has one, else the
  decoder's attention),
  `decoder_state` `(B, T, S)`, and per level lists `posterior_weights`
  `(B, K_l, T)`, `slot_mask` `(B, K_l)`, `posterior_loc` `(B, K_l, D_l)`,
  `kl` `(B, K_l)`; with two or more levels also `prior_weights`
  `(B, K_0, K_1)`: which upper latent each lower latent read under the prior.
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
    if "prior_weights" in out:
      result["prior_weights"] = out["prior_weights"]
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


class _Elements:
  """How the observation's elements are named: words or pixel-row groups."""

  def __init__(self, model, vocabulary_tokens=None):
    self.text = model.observation == "text"
    self.model = model
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


def _decoded_words(elements_info, generated):
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


# -- Statistics over a split -------------------------------------------------


def collect(model, dataset, elements_info, *, num_shown, max_examples=0,
            log_fn=None, mean_path=None, shown_stride=1):
  """Runs the mean path over `dataset` and gathers every statistic.

  Args:
    model: an `InverseDraw` with latents.
    dataset: batches of the split (`{"tokens"}` or `{"pixels"}`).
    elements_info: an `_Elements`.
    num_shown: keep the per-example tensors of the first `num_shown`.
    max_examples: stop after this many examples (whole batches; 0 = all).
    log_fn: optional progress callback.
    mean_path: `make_mean_path_fn(model)`, to reuse one compiled function.
    shown_stride: keep every `shown_stride`-th example (0, s, 2s, ...).

  Returns:
    dict of NumPy statistics (see `summarize`) and `shown`, a list of
    per-example dicts.
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
    shares = dict(mass=mass.numpy().astype(np.float64),
                  argmax=argmax.numpy().astype(np.float64),
                  num_elements=int(num_elements))
    totals["shares"] = shares if totals["shares"] is None else {
        k: totals["shares"][k] + v for k, v in shares.items()}
    words = analysis.word_slot_matrix(weights, mask,
                                      elements_info.ids(batch, mask),
                                      elements_info.vocab_size)
    totals["words"] = words if totals["words"] is None else {
        k: totals["words"][k] + v for k, v in words.items()}
    rate = analysis.rate_statistics(weights, mask, slot_mask)
    parts["rate_mass"].append(np.where(slot_mask, rate["mass"], np.nan))
    parts["rate_argmax"].append(np.where(slot_mask, rate["argmax"], np.nan))
    parts["lengths"].append(rate["lengths"])
    parts["slots_used"].append(rate["slots_used"])
    parts["decoder_entropy"].append(analysis.attention_entropies(
        out["decoder_weights"], mask, slot_mask)[0])
    if alignment:
      parts["assignment_entropy"].append(
          analysis.attention_entropies(weights, mask, slot_mask)[0])
    entropy, baseline = analysis.attention_entropies(
        out["posterior_weights"][0], slot_mask, mask)
    parts["posterior_entropy"].append(entropy)
    parts["posterior_baseline"].append(baseline)
    if window:
      parts["window_steps"].append(
          analysis.window_steps(out["decoder_state"], mask))
    if levels > 1:
      upper_mask = out["slot_mask"][1]
      upper = analysis.rate_statistics(out["prior_weights"], slot_mask,
                                       upper_mask)
      parts["upper_rate_mass"].append(np.where(upper_mask, upper["mass"],
                                               np.nan))
      parts["upper_rate_argmax"].append(np.where(upper_mask, upper["argmax"],
                                                 np.nan))
      parts["upper_lengths"].append(upper["lengths"])
      parts["upper_slots_used"].append(upper["slots_used"])
      entropy, baseline = analysis.attention_entropies(
          out["prior_weights"], slot_mask, upper_mask)
      parts["prior_entropy"].append(entropy)
      parts["prior_baseline"].append(baseline)
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
        example["prior_weights"] = out["prior_weights"][row]
      shown.append(example)
    num_examples += batch_size
    if log_fn:
      log_fn(f"analysed {num_examples} examples ({time.time() - start:.0f}s)")
    if max_examples and num_examples >= max_examples:
      break
  if not num_examples:
    raise ReportError("the split yielded no examples; check the data files "
                      "and --max_examples.")
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


def _nan_mean(values, axis=0):
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
      mass_per_slot=_finite_list(_nan_mean(mass)),
      argmax_per_slot=_finite_list(_nan_mean(argmax)),
      mean_tokens_per_latent=float(np.nanmean(mass)) if mass.size else None,
      mean_tokens_per_used_latent=(float(lengths.sum() / used.sum())
                                   if used.sum() else None),
      mean_latents_used=float(used.mean()) if used.size else None,
      tokens_per_latent_quantiles=_finite_list(
          np.nanpercentile(mass, [10, 50, 90])) if mass.size else [])


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
  def entropy_summary(values, baselines):
    return dict(mean=float(values.mean()) if values.size else None,
                uniform=float(baselines.mean()) if baselines.size else None,
                count=int(values.size))
  result["entropy"] = dict(
      decoder=dict(entropy_summary(stats["decoder_entropy"], np.zeros(0)),
                   uniform=math.log(model.num_slots[0])),
      posterior=entropy_summary(stats["posterior_entropy"],
                                stats["posterior_baseline"]))
  if model.num_levels > 1:
    result["entropy"]["prior"] = entropy_summary(stats["prior_entropy"],
                                                 stats["prior_baseline"])
  if stats.get("assignment_entropy") is not None:
    result["entropy"]["assignment"] = dict(
        entropy_summary(stats["assignment_entropy"], np.zeros(0)),
        uniform=math.log(model.num_slots[0]))
  return result


# -- Drawing -----------------------------------------------------------------


def _figure(width, height):
  """A matplotlib Figure on the Agg canvas (no pyplot, no display)."""
  from matplotlib.backends import backend_agg  # pylint: disable=g-import-not-at-top
  from matplotlib import figure as figure_lib  # pylint: disable=g-import-not-at-top
  fig = figure_lib.Figure(figsize=(width, height), layout="constrained")
  backend_agg.FigureCanvasAgg(fig)
  return fig


def save_figure(fig, path, dpi=100):
  """Writes `fig` as a PNG file."""
  fig.savefig(path, dpi=dpi, format="png")


def figure_png(fig, dpi=100):
  """`fig` as PNG bytes."""
  buffer = io.BytesIO()
  fig.savefig(buffer, dpi=dpi, format="png")
  return buffer.getvalue()


def _slot_names(count, prefix="z"):
  return [f"{prefix}{k}" for k in range(count)]


def draw_attention_map(labels, decoder_weights, posterior_weights,
                       upper_posterior_weights=None, title=None,
                       element="word", alignment_posterior=None):
  """The word-to-latent map of one example.

  Args:
    labels: T element names (words, `<eos>` last; or rows).
    decoder_weights: `(T, K)`: which latent produced each element.
    posterior_weights: `(K, T)`: which elements each latent read.
    upper_posterior_weights: optional `(K_1, T)` of the level above.
    title: optional title.
    element: what the labels name ("word" or "row").
    alignment_posterior: optional `(T, K)` p(a_t | x, z) of a model with an
      explicit alignment: then it is which latent produced each element
      (first panel, and the label colours), and `decoder_weights` the
      prior p(a_t | h_t) the decoder chose before seeing the element.

  Returns:
    A Figure whose width grows with T; element labels are rotated and
    coloured by the slot that produced them (argmax).
  """
  decoder_weights = np.asarray(decoder_weights)
  length, num_slots = decoder_weights.shape
  if alignment_posterior is None:
    produced = decoder_weights
    panels = [(f"decoder: which latent produced each {element}",
               decoder_weights.T, _slot_names(num_slots))]
  else:
    produced = np.asarray(alignment_posterior)
    panels = [(f"alignment posterior p(a_t | x, z): which latent produced "
               f"each {element}", produced.T, _slot_names(num_slots)),
              (f"decoder's prior p(a_t | h_t), before seeing the {element}",
               decoder_weights.T, _slot_names(num_slots))]
  panels += [
      (f"posterior: which {element}s each latent read",
       np.asarray(posterior_weights), _slot_names(num_slots))]
  if upper_posterior_weights is not None:
    upper = np.asarray(upper_posterior_weights)
    panels.append((f"upper-level posterior: which {element}s each upper "
                   "latent read",
                   upper, _slot_names(upper.shape[0], "u")))
  longest = max((len(str(label)) for label in labels), default=1)
  label_space = 0.35 + 0.075 * min(longest, 20)
  heights = [0.45 + 0.22 * panel[1].shape[0] for panel in panels]
  fig = _figure(max(5.0, 1.8 + 0.24 * length),
                sum(heights) + label_space + (0.3 if title else 0.0))
  axes = fig.subplots(len(panels), 1, sharex=True,
                      gridspec_kw=dict(height_ratios=heights))
  assignment = np.argmax(produced, -1)
  image = None
  for index, (ax, (name, matrix, names)) in enumerate(zip(axes, panels)):
    image = ax.imshow(matrix, aspect="auto", cmap="Blues", vmin=0.0,
                      vmax=1.0, interpolation="nearest")
    ax.set_title(name, fontsize=9, loc="left")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for k, tick in enumerate(ax.get_yticklabels()):
      if not names[0].startswith("u"):
        tick.set_color(slot_color(k))
    ax.set_xticks(range(length))
    ax.tick_params(axis="x", labelbottom=index == len(panels) - 1)
  axes[-1].set_xticklabels([str(label) for label in labels], rotation=90,
                           fontsize=8)
  for t, tick in enumerate(axes[-1].get_xticklabels()):
    tick.set_color(slot_color(int(assignment[t])))
  fig.colorbar(image, ax=list(axes), shrink=0.9, pad=0.01,
               label="attention weight")
  if title:
    fig.suptitle(title, fontsize=9, x=0.01, ha="left")
  return fig


def draw_level_map(prior_weights, title=None):
  """Which upper latent each lower latent read under the prior, `(K0, K1)`."""
  prior_weights = np.asarray(prior_weights)
  lower, upper = prior_weights.shape
  fig = _figure(max(3.6, 1.6 + 0.45 * upper), 1.0 + 0.3 * lower)
  ax = fig.subplots()
  image = ax.imshow(prior_weights, aspect="auto", cmap="Blues", vmin=0.0,
                    vmax=1.0, interpolation="nearest")
  ax.set_yticks(range(lower), _slot_names(lower), fontsize=8)
  for k, tick in enumerate(ax.get_yticklabels()):
    tick.set_color(slot_color(k))
  ax.set_xticks(range(upper), _slot_names(upper, "u"), fontsize=8)
  ax.set_xlabel("upper latent", fontsize=8)
  ax.set_ylabel("lower latent", fontsize=8)
  for i in range(lower):
    for j in range(upper):
      value = prior_weights[i, j]
      ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
              color="white" if value > 0.6 else "black")
  fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
  ax.set_title(title or "prior: which upper latent\nproduced each lower latent",
               fontsize=9, loc="left")
  return fig


def _bar_colors(count):
  return [slot_color(k) for k in range(count)]


def draw_slot_profile(slots):
  """Bars per slot: share of tokens (mass and argmax), KL, active dims."""
  count = len(slots)
  x = np.arange(count)
  fig = _figure(max(9.0, 3 * (1.0 + 0.35 * count)), 2.8)
  ax_share, ax_kl, ax_active = fig.subplots(1, 3)
  colors = _bar_colors(count)
  ax_share.bar(x - 0.2, [s["token_share"] for s in slots], 0.4, color=colors,
               label="by mass")
  ax_share.bar(x + 0.2, [s["argmax_share"] for s in slots], 0.4,
               color=colors, alpha=0.45, hatch="//", label="by argmax")
  ax_share.axhline(1.0 / count, color="black", linestyle=":", linewidth=1,
                   label="uniform 1/K")
  ax_share.set_title("share of tokens", fontsize=9)
  ax_share.legend(fontsize=7)
  ax_kl.bar(x, [s["kl"] for s in slots], color=colors)
  ax_kl.set_title("KL (nats, mean path)", fontsize=9)
  ax_active.bar(x, [s["active_dimensions"] for s in slots], color=colors)
  ax_active.set_ylim(0, max(1, slots[0]["latent_dim"]))
  ax_active.set_title(f"active dimensions (of {slots[0]['latent_dim']})",
                      fontsize=9)
  for ax in (ax_share, ax_kl, ax_active):
    ax.set_xticks(x, _slot_names(count), fontsize=8)
    for k, tick in enumerate(ax.get_xticklabels()):
      tick.set_color(slot_color(k))
  return fig


def draw_rate(mass, argmax, lengths, slots_used, element="token",
              latent="latent", prefix="z"):
  """Tokens per latent: distribution, per-slot means, latents used vs length.

  Args:
    mass, argmax: `(N, K)` elements per latent per example (NaN where a slot
      is out of use).
    lengths: `(N,)` elements per example.
    slots_used: `(N,)` latents that produced at least one element.
    element, latent: nouns for the labels.
    prefix: slot name prefix.
  """
  count = mass.shape[1]
  fig = _figure(max(10.0, 7.0 + 0.35 * count), 3.0)
  ax_hist, ax_slot, ax_used = fig.subplots(1, 3)
  values = mass[~np.isnan(mass)]
  ax_hist.hist(values, bins=min(40, max(5, int(np.sqrt(values.size)))),
               color="#1f77b4")
  ax_hist.axvline(values.mean(), color="black", linestyle="--", linewidth=1,
                  label=f"mean {values.mean():.2f}")
  ax_hist.set_xlabel(f"{element}s per {latent} (attention mass)", fontsize=8)
  ax_hist.set_ylabel(f"({latent}, example) pairs", fontsize=8)
  ax_hist.legend(fontsize=7)
  x = np.arange(count)
  colors = [slot_color(k) for k in range(count)] if prefix == "z" else (
      ["#6b6b6b"] * count)
  ax_slot.bar(x - 0.2, _nan_mean(mass), 0.4, color=colors, label="by mass")
  ax_slot.bar(x + 0.2, _nan_mean(argmax), 0.4, color=colors, alpha=0.45,
              hatch="//", label="by argmax")
  ax_slot.set_xticks(x, _slot_names(count, prefix), fontsize=8)
  ax_slot.set_title(f"mean {element}s per {latent}", fontsize=9)
  ax_slot.legend(fontsize=7)
  rng = np.random.RandomState(0)
  ax_used.scatter(lengths + rng.uniform(-0.2, 0.2, lengths.shape),
                  slots_used + rng.uniform(-0.15, 0.15, slots_used.shape),
                  s=6, alpha=0.4, color="#1f77b4")
  ax_used.set_xlabel(f"{element}s in the example", fontsize=8)
  ax_used.set_ylabel(f"{latent}s that produced an {element}"
                     if element[0] in "aeiou" else
                     f"{latent}s that produced a {element}", fontsize=8)
  ax_used.set_ylim(-0.5, count + 0.5)
  ratio = lengths.sum() / max(slots_used.sum(), 1)
  ax_used.set_title(f"{ratio:.2f} {element}s per used {latent}", fontsize=9)
  return fig


def draw_window_steps(steps):
  """Histogram of the decoder window's step sizes (slots per element)."""
  steps = np.asarray(steps).reshape(-1)
  fig = _figure(5.0, 2.8)
  ax = fig.subplots()
  ax.hist(steps, bins=40, color="#2ca02c")
  mean = steps.mean()
  ax.axvline(mean, color="black", linestyle="--", linewidth=1,
             label=f"mean {mean:.3f} slots/token "
             f"({1 / max(mean, 1e-12):.1f} tokens/slot)")
  ax.set_xlabel("window step (slots advanced per emitted element)",
                fontsize=8)
  ax.legend(fontsize=7)
  ax.set_title("learned step size of the decoder's window", fontsize=9)
  return fig


def draw_entropy(decoder_entropy, num_slots, posterior_entropy,
                 posterior_baseline, prior_entropy=None, num_upper=None):
  """Entropy histograms against the uniform baseline."""
  panels = 3 if prior_entropy is not None and len(prior_entropy) else 2
  fig = _figure(4.2 * panels, 2.9)
  axes = fig.subplots(1, panels)
  uniform = math.log(num_slots)
  ax = axes[0]
  ax.hist(decoder_entropy, bins=40, range=(0, max(uniform, 1e-3) * 1.02),
          color="#1f77b4")
  ax.axvline(uniform, color="red", linewidth=1.5,
             label=f"uniform log K = {uniform:.3f}")
  ax.axvline(np.mean(decoder_entropy), color="black", linestyle="--",
             linewidth=1, label=f"mean {np.mean(decoder_entropy):.3f}")
  ax.set_xlabel("entropy of the decoder's read, per token (nats)", fontsize=8)
  ax.legend(fontsize=7)
  ax.set_title("decoder", fontsize=9)
  ax = axes[1]
  keep = posterior_baseline > 0
  normalized = posterior_entropy[keep] / posterior_baseline[keep]
  ax.hist(normalized, bins=40, range=(0, 1.02), color="#9467bd")
  ax.axvline(1.0, color="red", linewidth=1.5, label="uniform over the words")
  if normalized.size:
    ax.axvline(normalized.mean(), color="black", linestyle="--", linewidth=1,
               label=f"mean {normalized.mean():.3f}")
  ax.set_xlabel("entropy / log(words), per latent", fontsize=8)
  ax.legend(fontsize=7)
  ax.set_title("posterior", fontsize=9)
  if panels == 3:
    ax = axes[2]
    upper_uniform = math.log(num_upper)
    ax.hist(prior_entropy, bins=30, range=(0, max(upper_uniform, 1e-3) * 1.02),
            color="#8c564b")
    ax.axvline(upper_uniform, color="red", linewidth=1.5,
               label=f"uniform log K1 = {upper_uniform:.3f}")
    ax.set_xlabel("entropy of the prior's read, per lower latent", fontsize=8)
    ax.legend(fontsize=7)
    ax.set_title("hierarchical prior", fontsize=9)
  return fig


def draw_image_grid(images, row_labels=None, column_labels=None, title=None):
  """`(R, C, H, W)` binary images as a grid; all-NaN images stay blank."""
  images = np.asarray(images, np.float64)
  rows, columns = images.shape[:2]
  fig = _figure(0.9 + 0.85 * columns, 0.4 + 0.85 * rows)
  axes = np.asarray(fig.subplots(rows, columns, squeeze=False))
  for r in range(rows):
    for c in range(columns):
      ax = axes[r, c]
      if np.all(np.isnan(images[r, c])):
        ax.axis("off")
        continue
      ax.imshow(images[r, c], cmap="gray_r", vmin=0, vmax=1,
                interpolation="nearest")
      ax.set_xticks([])
      ax.set_yticks([])
      if column_labels is not None and r == 0:
        ax.set_title(column_labels[c], fontsize=7)
      if row_labels is not None and c == 0:
        ax.set_ylabel(row_labels[r], fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  return fig


def draw_slot_overlay(images, pixel_slots, num_slots, columns=8):
  """Each image with every pixel tinted by the slot that produced its row.

  Args:
    images: `(N, H, W)` binary.
    pixel_slots: int `(N, H, W)`.
    num_slots: K, for the legend.
    columns: images per row.
  """
  from matplotlib import colors as colors_lib  # pylint: disable=g-import-not-at-top
  from matplotlib import patches  # pylint: disable=g-import-not-at-top
  images = np.asarray(images, np.float64)
  count = images.shape[0]
  rows = math.ceil(count / columns)
  fig = _figure(0.6 + 1.0 * columns, 0.8 + 1.0 * rows)
  axes = np.asarray(fig.subplots(rows, columns, squeeze=False)).reshape(-1)
  palette = np.array([colors_lib.to_rgb(slot_color(k))
                      for k in range(num_slots)])
  for index, ax in enumerate(axes):
    ax.set_xticks([])
    ax.set_yticks([])
    if index >= count:
      ax.axis("off")
      continue
    color = palette[pixel_slots[index]]
    on = images[index][..., None]
    # Ink in the slot's colour, background a light tint of it.
    rgb = on * color * 0.85 + (1 - on) * (1 - 0.22 * (1 - color))
    ax.imshow(rgb, interpolation="nearest")
  handles = [patches.Patch(color=slot_color(k), label=f"z{k}")
             for k in range(num_slots)]
  fig.legend(handles=handles, loc="outside lower center",
             ncol=min(num_slots, 12), fontsize=7)
  return fig


# -- HTML --------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
       max-width: 1100px; margin: 0 auto; padding: 1em 1.5em; color: #222;
       line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em;
  border-bottom: 1px solid #ddd; } h3 { font-size: 1.05em; }
img { max-width: 100%; height: auto; display: block; margin: .4em 0; }
figure { margin: 1em 0; } figcaption { font-size: .88em; color: #555; }
table { border-collapse: collapse; margin: .6em 0; max-width: 100%; }
td, th { border: 1px solid #ddd; padding: .25em .55em; vertical-align: top;
         text-align: left; font-size: .92em; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums;
         white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
.sentence { line-height: 1.9; }
.w { padding: 0 .12em; border-radius: 3px; }
.changed { background: #fff1a8; box-shadow: 0 0 0 1px #e2b600;
           font-weight: 600; }
.note { color: #555; font-size: .9em; }
.legend .w { margin-right: .6em; font-weight: 600; }
nav ul { columns: 2; font-size: .95em; }
pre { max-height: 28em; overflow: auto; background: #f6f6f6;
      padding: .6em; font-size: .82em; }
"""


def _css():
  return _CSS + "".join(f".s{k} {{ color: {color}; }}\n"
                        for k, color in enumerate(PALETTE))


def _esc(value):
  return html.escape(str(value))


def sentence_html(words, slots=None, changed=None):
  """Words as coloured spans: colour = slot that produced the word (argmax),
  highlighted where `changed`."""
  if not words:
    return '<span class="note">(empty)</span>'
  spans = []
  for i, word in enumerate(words):
    classes = ["w"]
    title = ""
    if slots is not None:
      classes.append(f"s{slots[i] % len(PALETTE)}")
      title = f' title="z{slots[i]}"'
    if changed is not None and changed[i]:
      classes.append("changed")
    spans.append(f'<span class="{" ".join(classes)}"{title}>{_esc(word)}'
                 "</span>")
  return '<span class="sentence">' + " ".join(spans) + "</span>"


def _legend(num_slots):
  return ('<p class="legend">Slot colours: ' + "".join(
      f'<span class="w s{k % len(PALETTE)}">z{k}</span>'
      for k in range(num_slots)) + "</p>")


def _figure_html(path, caption, alt=None):
  return (f'<figure><img src="{_esc(path)}" alt="{_esc(alt or caption)}" '
          f'loading="lazy"><figcaption>{caption}</figcaption></figure>')


def _format_number(value):
  if isinstance(value, bool) or value is None:
    return "n/a" if value is None else str(value)
  if isinstance(value, int):
    return f"{value:,}"
  if isinstance(value, float):
    if not math.isfinite(value):
      return str(value)
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
  if isinstance(value, (list, tuple)):
    shown = ", ".join(_format_number(v) for v in value[:12])
    return f"[{shown}{', ...' if len(value) > 12 else ''}]"
  return str(value)


def _key_value_table(record, first=()):
  keys = [k for k in first if k in record] + sorted(
      k for k in record if k not in first)
  rows = "".join(f"<tr><th>{_esc(k)}</th><td class=\"num\">"
                 f"{_esc(_format_number(record[k]))}</td></tr>" for k in keys)
  return f'<div class="scroll"><table>{rows}</table></div>'


_METRIC_ORDER = ("nll", "ppl", "elbo", "kl", "distortion", "mutual_information",
                 "active_units", "latent_dimensions",
                 "decoder_attention_entropy", "uniform_attention_entropy",
                 "posterior_attention_entropy", "slots_over_5_percent",
                 "num_examples", "num_samples", "split", "step", "loss",
                 "ppl_bound", "kl_weight")


def run_metrics(workdir, split):
  """The run's headline numbers: `evaluate_<split>.json` if present (else
  another `evaluate_*.json`), else the last records of `metrics.jsonl`.

  Returns:
    dict with `source` (file name) and `records` (`{title: record}`), or
    None if the run has neither.
  """
  candidates = [os.path.join(workdir, f"evaluate_{split}.json")]
  candidates += sorted(glob.glob(os.path.join(workdir, "evaluate_*.json")))
  for path in candidates:
    if os.path.exists(path):
      try:
        with open(path) as f:
          record = json.loads(f.read().strip().splitlines()[-1])
      except (ValueError, IndexError):
        continue
      return dict(source=os.path.basename(path),
                  records={f"evaluation ({os.path.basename(path)})": record})
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return None
  last = {}
  with open(path) as f:
    for line in f:
      try:
        record = json.loads(line)
      except ValueError:
        continue  # A line cut short by a crash.
      last[record.get("kind", "train")] = record
  if not last:
    return None
  return dict(source="metrics.jsonl",
              records={f"last {kind} record (metrics.jsonl)": record
                       for kind, record in sorted(last.items())})


# -- The report --------------------------------------------------------------


def _check_arguments(split, num_sentences, max_examples, num_samples):
  if split not in data.SPLITS:
    raise ReportError(f"`split` must be one of {data.SPLITS}, received "
                      f"{split!r}.")
  for name, value, low in (("num_sentences", num_sentences, 1),
                           ("max_examples", max_examples, 0),
                           ("num_samples", num_samples, 1)):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
      raise ReportError(f"`{name}` must be an integer >= {low}, received "
                        f"{value!r}.")


def _check_output(out):
  """Refuses to replace a directory that is not an earlier report."""
  if os.path.lexists(out):
    marker = os.path.join(out, "summary.json")
    is_report = False
    if os.path.isdir(out) and os.path.exists(marker):
      try:
        with open(marker) as f:
          is_report = json.load(f).get("report") == REPORT_MARKER
      except ValueError:
        pass
    if not is_report and not (os.path.isdir(out) and not os.listdir(out)):
      raise ReportError(
          f"--out `{out}` exists and is not a bin/analyze report; pass a new "
          "directory (an earlier report there would be replaced).")


def _replace_directory(temp, out):
  """Moves the finished `temp` to `out`, replacing an earlier report."""
  old = None
  if os.path.lexists(out):
    old = f"{out}.old-{os.getpid()}"
    os.rename(out, old)
  os.rename(temp, out)
  if old:
    shutil.rmtree(old, ignore_errors=True)


def write_report(workdir, out, *, split="test", num_sentences=50,
                 max_examples=0, num_samples=10, seed=0, which="best",
                 checkpoint=None, log_fn=None):
  """Builds the report of the run in `workdir` and writes it to `out`.

  The report is written to a temporary directory beside `out` and renamed
  into place when complete, so `out` never holds half a report; an earlier
  report in `out` is replaced, any other existing directory is refused.

  Args:
    workdir: a run made by bin/train.
    out: the report directory.
    split: data split analysed.
    num_sentences: examples shown one by one (maps, reconstructions).
    max_examples: examples in the split-wide statistics (0 = all).
    num_samples: samples drawn from the prior.
    seed: seed of every sample.
    which, checkpoint: which checkpoint (see
      `checkpoints.restore`).
    log_fn: optional progress callback.

  Returns:
    The summary dict (also written as `out/summary.json`).
  """
  _check_arguments(split, num_sentences, max_examples, num_samples)
  if not os.path.isdir(workdir):
    raise ReportError(f"workdir `{workdir}` does not exist; pass the "
                      "--workdir of a run made by bin/train.")
  out = os.path.abspath(out)
  _check_output(out)
  config, inputs, model, path, step = checkpoints.restore(
      workdir, checkpoint, which)
  if not model.num_levels:
    raise ReportError(
        "the run has no latents (`config.model.num_slots` = 0), so there is "
        "no attention to analyze; pass a run with latents.")
  parent = os.path.dirname(out)
  os.makedirs(parent, exist_ok=True)
  temp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
  try:
    os.chmod(temp, 0o755)
    summary = build_report(
        temp, model=model, config=config, inputs=inputs, workdir=workdir,
        checkpoint=path, step=step, split=split, num_sentences=num_sentences,
        max_examples=max_examples, num_samples=num_samples, seed=seed,
        log_fn=log_fn)
    _replace_directory(temp, out)
  except BaseException:
    shutil.rmtree(temp, ignore_errors=True)
    raise
  return summary


class _Builder:
  """Accumulates figures, HTML sections and the summary of one report."""

  def __init__(self, directory):
    self.directory = directory
    os.makedirs(os.path.join(directory, FIGURES), exist_ok=True)
    self.sections = []  # (id, title, html)
    self.figures = {}

  def figure(self, section, name, fig):
    relative = f"{FIGURES}/{name}.png"
    save_figure(fig, os.path.join(self.directory, relative))
    self.figures.setdefault(section, []).append(relative)
    return relative

  def section(self, section_id, title, body):
    self.sections.append((section_id, title, body))


def build_report(directory, *, model, config, inputs, workdir, checkpoint,
                 step, split, num_sentences, max_examples, num_samples, seed,
                 log_fn=None):
  """Writes `index.html`, `summary.json` and the figures into `directory`."""
  text = model.observation == "text"
  tokens = (data.load_vocabulary(inputs.vocabulary.vocabulary_path)
            if text else None)
  elements_info = _Elements(model, tokens)
  dataset = inputs.eval_dataset(split, config.input.eval_batch_size)
  stride = 1
  if not text:
    # The bundled MNIST test split is sorted by digit: spread the shown
    # images over the analysed ones (text batches are mixed already).
    size = data.MNIST_SIZES[split]
    size = min(size, max_examples) if max_examples else size
    stride = max(1, size // num_sentences)
  stats = collect(model, dataset, elements_info, num_shown=num_sentences,
                  max_examples=max_examples, log_fn=log_fn,
                  shown_stride=stride)
  numbers = summarize(model, stats, elements_info)
  builder = _Builder(directory)
  num_slots = model.num_slots[0]
  shown = stats["shown"]
  # Training's length limit, or room for the longest shown sentence.
  max_length = (max(int(config.input.max_length),
                    max(e["length"] for e in shown) + 5)
                if text else elements_info.steps)
  generate = make_generate_fn(model, max_length)
  base_seed = np.array([seed, 0], np.int32)

  _maps_section(builder, model, elements_info, shown)
  _profile_section(builder, model, numbers, elements_info)
  _rate_section(builder, model, stats, numbers, elements_info)
  _sharpness_section(builder, model, stats, numbers)
  if log_fn:
    log_fn("generating reconstructions, samples, interpolations, traversals")
  generated = _generation_sections(
      builder, model, elements_info, stats, shown, generate, base_seed,
      num_samples)

  summary = dict(
      report=REPORT_MARKER, workdir=os.path.abspath(workdir),
      checkpoint=checkpoint, step=step, split=split,
      observation=model.observation, num_slots=list(model.num_slots),
      latent_dim=list(model.latent_dim),
      num_examples=int(stats["num_examples"]),
      num_shown=len(shown), metrics=run_metrics(workdir, split),
      created=time.strftime("%Y-%m-%d %H:%M:%S"),
      sections={sid: dict(title=title, figures=builder.figures.get(sid, []))
                for sid, title, _ in builder.sections},
      **numbers, **generated)
  with open(os.path.join(directory, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1, sort_keys=True, allow_nan=False,
              default=_json_default)
  page = _page(builder, summary, config_lib.to_json(config))
  with open(os.path.join(directory, "index.html"), "w") as f:
    f.write(page)
  return summary


def _json_default(value):
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _page(builder, summary, config_json):
  """The whole HTML page."""
  title = f"Inverse DRAW: {os.path.basename(summary['workdir'].rstrip('/'))}"
  header = [f"<h1>{_esc(title)}</h1>",
            '<p class="note">Made by <code>bin/analyze</code>: everything '
            "below comes from the checkpoint and split named here, along the "
            "posterior mean path unless a sample is named.</p>",
            _key_value_table(dict(
                workdir=summary["workdir"], checkpoint=summary["checkpoint"],
                step=summary["step"], split=summary["split"],
                examples_analysed=summary["num_examples"],
                observation=summary["observation"],
                num_slots=summary["num_slots"],
                latent_dim=summary["latent_dim"],
                created=summary["created"]),
                first=("workdir", "checkpoint", "step", "split"))]
  metrics = summary["metrics"]
  header.append('<h2 id="metrics">Metrics</h2>')
  if metrics is None:
    header.append('<p class="note">No evaluate_*.json or metrics.jsonl in the '
                  "workdir: run bin/evaluate for NLL, KL, MI and active "
                  "units.</p>")
  else:
    for name, record in metrics["records"].items():
      header.append(f"<h3>{_esc(name)}</h3>")
      header.append(_key_value_table(record, first=_METRIC_ORDER))
  header.append("<details><summary>Config</summary><pre>"
                f"{_esc(config_json)}</pre></details>")
  header.append(_legend(summary["num_slots"][0]))
  nav = "<nav><h2>Contents</h2><ul>" + "".join(
      f'<li><a href="#{sid}">{_esc(stitle)}</a></li>'
      for sid, stitle, _ in builder.sections) + "</ul></nav>"
  body = "".join(f'<section id="{sid}"><h2>{_esc(stitle)}</h2>{content}'
                 "</section>" for sid, stitle, content in builder.sections)
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          '<meta name="viewport" content="width=device-width, '
          f'initial-scale=1"><title>{_esc(title)}</title>'
          f"<style>{_css()}</style></head><body>"
          + "".join(header) + nav + body + "</body></html>\n")


# -- Sections ----------------------------------------------------------------


def _maps_section(builder, model, elements_info, shown):
  parts = ['<p class="note">Top: the decoder\'s attention over the latent '
           "slots while it emits each " + elements_info.noun + " (labels are "
           "coloured by the slot with the most weight). Below: the "
           "posterior's attention over the " + elements_info.noun + "s "
           "while it writes each slot: which " + elements_info.noun + "s each "
           "latent read.</p>"]
  hierarchical = model.num_levels > 1
  for index, example in enumerate(shown):
    labels = _labels_of(elements_info, example)
    fig = draw_attention_map(
        labels, example["decoder_weights"], example["posterior_weights"][0],
        example["posterior_weights"][1] if hierarchical else None,
        title=f"example {index}", element=elements_info.noun,
        alignment_posterior=(
            example["assignment"] if model.decoder_alignment in
            ALIGNMENTS_WITH_POSTERIOR else None))
    path = builder.figure("maps", f"map_{index:03d}", fig)
    caption = (sentence_html(*_words_of(elements_info, example))
               if elements_info.text else f"image {index}")
    parts.append(_figure_html(path, f"{index}: {caption}",
                              alt=f"attention map of example {index}"))
    if hierarchical:
      level_path = builder.figure(
          "maps", f"levels_{index:03d}",
          draw_level_map(example["prior_weights"]))
      parts.append(_figure_html(
          level_path, f"{index}: which upper latent each lower latent read "
          "under the hierarchical prior"))
  builder.section("maps", "Word-to-latent maps" if elements_info.text else
                  "Row-to-latent maps", "".join(parts))


def _labels_of(elements_info, example):
  """Names of an example's elements: its tokens (`<eos>` included) or rows."""
  if elements_info.text:
    return [elements_info.name(int(t)) for t in example["tokens"]]
  return [elements_info.name(t) for t in range(example["length"])]


def _words_cell(entries, with_value="mass"):
  if not entries:
    return '<span class="note">-</span>'
  if with_value == "mass":
    return ", ".join(f"{_esc(w)} <span class=\"note\">{v:.1f}</span>"
                     for w, v in entries)
  if with_value == "count":
    return ", ".join(f"{_esc(w)} <span class=\"note\">{v}</span>"
                     for w, v in entries)
  return ", ".join(f"{_esc(w)} <span class=\"note\">&times;{lift:.1f} "
                   f"({count})</span>" for w, lift, count in entries)


def _profile_section(builder, model, numbers, elements_info):
  slots = numbers["slots"]
  path = builder.figure("profile", "slot_profile", draw_slot_profile(slots))
  noun = elements_info.noun
  head = ("<tr><th>slot</th><th>share (mass)</th><th>share (argmax)</th>"
          "<th>KL</th><th>active dims</th>"
          f"<th>top {noun}s by mass</th><th>top {noun}s by argmax</th>")
  if elements_info.text:
    head += "<th>most distinctive (lift, count)</th>"
  rows = []
  for s in slots:
    k = s["slot"]
    row = (f'<tr><td><span class="w s{k % len(PALETTE)}"><b>z{k}</b></span>'
           f'</td><td class="num">{s["token_share"]:.1%}</td>'
           f'<td class="num">{s["argmax_share"]:.1%}</td>'
           f'<td class="num">{s["kl"]:.3f}</td>'
           f'<td class="num">{s["active_dimensions"]}/{s["latent_dim"]}</td>'
           f"<td>{_words_cell(s['top_by_mass'])}</td>"
           f"<td>{_words_cell(s['top_by_argmax'], 'count')}</td>")
    if elements_info.text:
      row += f"<td>{_words_cell(s['distinctive'], 'lift')}</td>"
    rows.append(row + "</tr>")
  body = [_figure_html(path, "Per slot over the split: share of emitted "
                       f"{noun}s, KL (nats) and active dimensions (posterior-"
                       "mean variance above 0.01)."),
          f'<div class="scroll"><table>{head}</tr>{"".join(rows)}</table>'
          "</div>",
          f'<p class="note">Top {noun}s: the {noun}s with the most attention '
          f"mass (or the most tokens whose argmax is the slot). Lift: how "
          f"much more often the slot produces the {noun} than its overall "
          "share (words seen at least 5 times).</p>"]
  if model.num_levels > 1:
    rows = "".join(
        f"<tr><td>{lv['level']}</td><td class=\"num\">{lv['num_slots']}</td>"
        f"<td class=\"num\">{lv['kl']:.3f}</td><td>"
        f"{_esc(_format_number(lv['kl_per_slot']))}</td><td>"
        f"{_esc(_format_number(lv['active_dimensions']))} of "
        f"{lv['latent_dim']}</td></tr>" for lv in numbers["levels"])
    body.append("<h3>Levels</h3><div class=\"scroll\"><table><tr><th>level"
                "</th><th>slots</th><th>KL</th><th>KL per slot</th><th>active "
                f"dims per slot</th></tr>{rows}</table></div>")
  builder.section("profile", "Per-slot profile", "".join(body))


def _rate_table(rate, element, latent):
  rows = dict(
      **{f"mean {element}s per {latent} (mass)":
         rate["mean_tokens_per_latent"],
         f"{element}s per used {latent}": rate["mean_tokens_per_used_latent"],
         f"mean {latent}s used per example": rate["mean_latents_used"],
         f"{element}s per {latent}: 10/50/90th percentiles":
         rate["tokens_per_latent_quantiles"]})
  if "window_step_mean" in rate:
    rows["window step (slots per element), mean"] = rate["window_step_mean"]
    rows["window step: 10/50/90th percentiles"] = rate["window_step_quantiles"]
    rows[f"{element}s per slot implied by the step"] = rate[
        "tokens_per_slot_from_step"]
  return _key_value_table(rows)


def _rate_section(builder, model, stats, numbers, elements_info):
  noun = "token" if elements_info.text else "row"
  body = ['<p class="note">How many emitted ' + noun + "s each latent "
          "covers: per (latent, example) pair by attention mass; a latent "
          "is used if it is the argmax of at least one " + noun + ".</p>"]
  path = builder.figure("rate", "rate", draw_rate(
      stats["rate_mass"], stats["rate_argmax"], stats["lengths"],
      stats["slots_used"], element=noun))
  body.append(_figure_html(path, f"{noun.capitalize()}s per latent."))
  if stats["window_steps"] is not None and stats["window_steps"].size:
    path = builder.figure("rate", "window_steps",
                          draw_window_steps(stats["window_steps"]))
    body.append(_figure_html(
        path, "The decoder's window moves forward by a learned step at "
        f"every {noun}: its reciprocal is the {noun}s per slot."))
  body.append(_rate_table(numbers["rate"], noun, "latent"))
  if model.num_levels > 1:
    body.append("<h3>One level up</h3><p class=\"note\">The same for the "
                "upper level: which lower latents each upper latent produced "
                "(the hierarchical prior's attention).</p>")
    path = builder.figure("rate", "rate_upper", draw_rate(
        stats["upper_rate_mass"], stats["upper_rate_argmax"],
        stats["upper_lengths"], stats["upper_slots_used"],
        element="lower latent", latent="upper latent", prefix="u"))
    body.append(_figure_html(path, "Lower latents per upper latent."))
    body.append(_rate_table(numbers["upper_rate"], "lower latent",
                            "upper latent"))
  builder.section("rate", "Rate: tokens per latent" if elements_info.text
                  else "Rate: rows per latent", "".join(body))


def _sharpness_section(builder, model, stats, numbers):
  hierarchical = model.num_levels > 1
  fig = draw_entropy(stats["decoder_entropy"], model.num_slots[0],
                     stats["posterior_entropy"], stats["posterior_baseline"],
                     stats["prior_entropy"] if hierarchical else None,
                     model.num_slots[1] if hierarchical else None)
  path = builder.figure("sharpness", "entropy", fig)
  entropy = numbers["entropy"]
  rows = dict(decoder_entropy_mean=entropy["decoder"]["mean"],
              decoder_uniform_log_K=entropy["decoder"]["uniform"],
              posterior_entropy_mean=entropy["posterior"]["mean"],
              posterior_uniform_mean_log_T=entropy["posterior"]["uniform"])
  if "prior" in entropy:
    rows.update(prior_entropy_mean=entropy["prior"]["mean"],
                prior_uniform_log_K1=entropy["prior"]["uniform"])
  if "assignment" in entropy:
    rows.update(alignment_posterior_entropy_mean=entropy["assignment"]["mean"])
  builder.section("sharpness", "Attention sharpness", _figure_html(
      path, "Entropy of each attention distribution; red: uniform "
      "attention. Left of the red line is sharper than uniform; 0 is "
      "one-hot.") + _key_value_table(rows))


def _shown_batch(model, shown):
  if model.observation == "text":
    width = max(e["length"] for e in shown)
    tokens = np.zeros([len(shown), width], np.int32)
    for row, example in enumerate(shown):
      tokens[row, :example["length"]] = example["tokens"]
    return {"tokens": tf.constant(tokens)}
  return {"pixels": tf.constant(np.stack([e["pixels"] for e in shown]),
                                tf.float32)}


def _words_of(elements_info, example):
  """Original words (without `<eos>`) and their teacher-forced slots."""
  ids = [int(t) for t in example["tokens"]]
  slots = [int(k) for k in np.argmax(example["assignment"], -1)]
  if ids and ids[-1] == data.EOS_ID:
    ids, slots = ids[:-1], slots[:-1]
  return [elements_info.name(t) for t in ids], slots


def _generation_sections(builder, model, elements_info, stats, shown,
                         generate, base_seed, num_samples):
  """Reconstructions, prior samples, interpolations, traversals."""
  fold = lambda i: tf.random.experimental.stateless_fold_in(
      base_seed, i).numpy()
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
  if elements_info.text:
    return _text_generation(builder, elements_info, shown, greedy, sampled,
                            prior_greedy, prior_sampled, pairs,
                            interpolations, traversal_rows, traversals)
  return _image_generation(builder, model, elements_info, shown, greedy,
                           sampled, prior_greedy, prior_sampled, pairs,
                           interpolations, traversal_rows, traversals)


def _text_generation(builder, elements_info, shown, greedy, sampled,
                     prior_greedy, prior_sampled, pairs, interpolations,
                     traversal_rows, traversals):
  words = lambda result: _decoded_words(elements_info, result)
  originals = [_words_of(elements_info, e) for e in shown]
  greedy_words, sampled_words = words(greedy), words(sampled)
  rows, records = [], []
  for i, ((orig, orig_slots), (g, g_slots), (s, s_slots)) in enumerate(
      zip(originals, greedy_words, sampled_words)):
    rows.append(
        f"<tr><td class=\"num\">{i}</td><td>{sentence_html(orig, orig_slots)}"
        f"</td><td>{sentence_html(g, g_slots, analysis.changed_tokens(orig, g))}"
        f"</td><td>{sentence_html(s, s_slots, analysis.changed_tokens(orig, s))}"
        "</td></tr>")
    records.append(dict(original=" ".join(orig), greedy=" ".join(g),
                        sampled=" ".join(s)))
  builder.section(
      "reconstructions", "Reconstructions",
      '<p class="note">Each word is coloured by the latent slot that produced '
      "it (the decoder's argmax; hover for the slot). Highlighted: words that "
      "differ from the original (aligned, so an insertion marks only "
      "itself). Greedy: decoded from the posterior mean with the most likely "
      "word at each step; sampled: from a posterior sample, words sampled at "
      "temperature 1.</p><div class=\"scroll\"><table><tr><th>#</th><th>"
      "original</th><th>greedy reconstruction</th><th>sampled "
      "reconstruction</th></tr>" + "".join(rows) + "</table></div>")
  sample_rows, sample_records = [], []
  for i, ((g, g_slots), (s, s_slots)) in enumerate(
      zip(words(prior_greedy), words(prior_sampled))):
    sample_rows.append(
        f"<tr><td class=\"num\">{i}</td><td>{sentence_html(g, g_slots)}</td>"
        f"<td>{sentence_html(s, s_slots)}</td></tr>")
    sample_records.append(dict(greedy=" ".join(g), sampled=" ".join(s)))
  builder.section(
      "samples", "Samples from the prior",
      '<p class="note">Latents drawn from the prior; each row decodes the '
      "same latents greedily and by sampling at temperature 1.</p>"
      "<div class=\"scroll\"><table><tr><th>#</th><th>greedy</th><th>sampled"
      "</th></tr>" + "".join(sample_rows) + "</table></div>")
  parts, interpolation_records = [], []
  for (a, b), result in zip(pairs, interpolations):
    decoded = words(result)
    table = []
    previous = None
    for step, (w, slots) in enumerate(decoded):
      changed = (analysis.changed_tokens(previous, w) if previous is not None
                 else None)
      s = step / (len(decoded) - 1)
      table.append(f"<tr><td class=\"num\">{s:.2f}</td><td>"
                   f"{sentence_html(w, slots, changed)}</td></tr>")
      previous = w
    parts.append(
        f"<h3>Example {a} &rarr; example {b}</h3><p>A: "
        f"{sentence_html(*originals[a])}<br>B: "
        f"{sentence_html(*originals[b])}</p><div class=\"scroll\"><table>"
        "<tr><th>s</th><th>decoded (greedy)</th></tr>" + "".join(table) +
        "</table></div>")
    interpolation_records.append(dict(
        start=a, end=b, sentences=[" ".join(w) for w, _ in decoded]))
  builder.section(
      "interpolations", "Interpolations between posteriors",
      '<p class="note">Homotopies (Bowman et al. 2016): the posterior means '
      "of two sentences mixed as (1 - s) A + s B, all slots at once, decoded "
      "greedily. Highlighted: words that changed from the row above.</p>" +
      ("".join(parts) or '<p class="note">Needs at least two shown '
       "sentences.</p>"))
  parts, traversal_records = [], []
  by_example = {}
  for (example, slot, scale), result in zip(traversal_rows, traversals):
    by_example.setdefault(example, []).append((slot, scale, result))
  for example, entries in by_example.items():
    table = []
    for slot, scale, result in entries:
      decoded = words(result)
      center = decoded[TRAVERSAL_OFFSETS.index(0.0)][0]
      for row, (offset, (w, slots)) in enumerate(
          zip(TRAVERSAL_OFFSETS, decoded)):
        first = (f'<td rowspan="{len(decoded)}"><span class="w s'
                 f'{slot % len(PALETTE)}"><b>z{slot}</b></span><br><span '
                 f'class="note">&sigma; = {scale:.3g}</span></td>'
                 if row == 0 else "")
        changed = analysis.changed_tokens(center, w) if offset else None
        table.append(f"<tr>{first}<td class=\"num\">{offset:+.0f}&sigma;</td>"
                     f"<td>{sentence_html(w, slots, changed)}</td></tr>")
      traversal_records.append(dict(
          example=example, slot=slot, scale=scale,
          offsets=list(TRAVERSAL_OFFSETS),
          sentences=[" ".join(w) for w, _ in decoded]))
    parts.append(
        f"<h3>Example {example}</h3><p>{sentence_html(*originals[example])}"
        "</p><div class=\"scroll\"><table><tr><th>slot</th><th>offset</th>"
        "<th>decoded (greedy)</th></tr>" + "".join(table) + "</table></div>")
  builder.section(
      "traversals", "Traversals of one slot",
      '<p class="note">One slot moved along its principal direction (the '
      "first principal axis of that slot's posterior means over the split; "
      "&sigma; is their standard deviation along it), the other slots held "
      "at the sentence's posterior mean. Highlighted: words that differ from "
      "the unmoved row (0&sigma;).</p>" + "".join(parts))
  return dict(reconstructions=records, samples=sample_records,
              interpolations=interpolation_records,
              traversals=traversal_records)


def _image_generation(builder, model, elements_info, shown, greedy, sampled,
                      prior_greedy, prior_sampled, pairs, interpolations,
                      traversal_rows, traversals):
  images = elements_info.to_images
  num_slots = model.num_slots[0]
  originals = np.stack([e["pixels"] for e in shown])
  body = []
  # Groups of up to 8 examples: original, greedy and sampled rows each.
  columns = min(8, len(shown))
  triples = [originals, images(greedy["elements"]),
             images(sampled["elements"])]
  rows, labels = [], []
  for start in range(0, len(shown), columns):
    for name, stack in zip(("original", "greedy", "sampled"), triples):
      chunk = stack[start:start + columns]
      if len(chunk) < columns:  # Blank cells complete the last group.
        chunk = np.concatenate([chunk, np.full(
            (columns - len(chunk),) + chunk.shape[1:], np.nan)], 0)
      rows.append(chunk)
      labels.append(name)
  path = builder.figure("images", "reconstructions", draw_image_grid(
      np.stack(rows), row_labels=labels, title="reconstructions"))
  body.append(_figure_html(path, "Reconstructions: original, greedy "
                           "(posterior mean, most likely pixels) and sampled "
                           "(posterior sample, Bernoulli pixels)."))
  samples = np.stack([images(prior_sampled["elements"]),
                      images(prior_greedy["elements"])], 0)
  path = builder.figure("images", "samples", draw_image_grid(
      samples, row_labels=["sampled", "most likely"],
      title="samples from the prior"))
  body.append(_figure_html(path, "Samples from the prior: the same latents "
                           "with sampled pixels and with the most likely "
                           "pixels."))
  slots = np.stack([np.argmax(e["assignment"], -1) for e in shown])
  path = builder.figure("images", "slots", draw_slot_overlay(
      originals, elements_info.pixel_slots(slots), num_slots))
  body.append(_figure_html(path, "The latent slot read for each row group "
                           "(the decoder's argmax), drawn over the image."))
  if interpolations:
    grid = np.stack([images(r["elements"]) for r in interpolations])
    path = builder.figure("images", "interpolations", draw_image_grid(
        grid, row_labels=[f"{a} to {b}" for a, b in pairs],
        column_labels=[f"s={s:.2f}" for s in np.linspace(
            0, 1, INTERPOLATION_STEPS)], title="interpolations"))
    body.append(_figure_html(path, "Interpolations between the posterior "
                             "means of two images (most likely pixels)."))
  records = []
  if traversals:
    first = traversal_rows[0][0]
    rows = [(slot, scale, r) for (e, slot, scale), r in
            zip(traversal_rows, traversals) if e == first]
    grid = np.stack([images(r["elements"]) for _, _, r in rows])
    path = builder.figure("images", "traversals", draw_image_grid(
        grid, row_labels=[f"z{slot} (σ={scale:.2g})" for slot, scale, _ in rows],
        column_labels=[f"{o:+.0f}σ" for o in TRAVERSAL_OFFSETS],
        title=f"traversals of image {first}"))
    body.append(_figure_html(path, "Each slot moved along its principal "
                             "direction, the others held at the posterior "
                             "mean (most likely pixels)."))
    records = [dict(example=e, slot=slot, scale=scale)
               for e, slot, scale in traversal_rows]
  builder.section("images", "Images", "".join(body))
  return dict(reconstructions=[], samples=[],
              interpolations=[dict(start=a, end=b) for a, b in pairs],
              traversals=records)


# -- TensorBoard -------------------------------------------------------------


class TrainingSummaries:
  """Attention maps and reconstructions of a fixed set of validation
  examples, written to TensorBoard at every validation.

  Writes `attention/example_<i>` images (the word-to-latent map of example
  i) and a `reconstructions` text table (original, greedy reconstruction
  from the posterior mean, sampled reconstruction) for text, or a
  `reconstructions` image for images. Does nothing for a model without
  latents or with `num_examples=0`.

  Args:
    model: the `InverseDraw` being trained.
    inputs: the run's `data.Input`.
    num_examples: how many validation examples (the first ones).
    seed: seed of the sampled reconstruction.
  """

  def __init__(self, model, inputs, num_examples, seed=0):
    if isinstance(num_examples, bool) or not isinstance(
        num_examples, int) or num_examples < 0:
      raise config_lib.ConfigError(
          "`config.train.summary_examples` must be an integer >= 0 (0 "
          f"disables), received {num_examples!r}.")
    self.model = model
    self.inputs = inputs
    self.num_examples = num_examples
    self.seed = seed
    self.batch = None
    self.active = num_examples > 0 and model.num_levels > 0
    self.mean_path = make_mean_path_fn(model) if self.active else None
    self.elements_info = None

  def _fixed_batch(self):
    dataset = self.inputs.eval_dataset("valid", self.num_examples)
    return next(iter(dataset))

  def write(self, writer, step):
    """Writes the summaries of the current weights at `step`."""
    if not self.active:
      return
    model = self.model
    if self.batch is None:
      self.batch = self._fixed_batch()
      tokens = (data.load_vocabulary(self.inputs.vocabulary.vocabulary_path)
                if model.observation == "text" else None)
      self.elements_info = _Elements(model, tokens)
    elements_info = self.elements_info
    stats = collect(model, [self.batch], elements_info,
                    num_shown=self.num_examples, mean_path=self.mean_path)
    shown = stats["shown"]
    loc = np.stack([e["posterior_loc"][0] for e in shown])
    masks = np.stack([e["slot_mask"][0] for e in shown])
    # Room for a reconstruction a little longer than its original.
    max_length = (max(e["length"] for e in shown) + 5
                  if elements_info.text else elements_info.steps)
    seed = tf.constant([self.seed, step], tf.int32)
    sampled_latents = model(self.batch, seed=seed)["latents"][0]
    greedy = _generate_eager(model, loc, masks, max_length, 0.0, seed)
    sampled = _generate_eager(model, sampled_latents, masks, max_length, 1.0,
                              seed)
    with writer.as_default(step=step):
      for index, example in enumerate(shown):
        png = figure_png(draw_attention_map(
            _labels_of(elements_info, example), example["decoder_weights"],
            example["posterior_weights"][0],
            example["posterior_weights"][1] if model.num_levels > 1 else None,
            title=f"validation example {index}, step {step}",
            element=elements_info.noun), dpi=80)
        tf.summary.image(f"attention/example_{index}",
                         tf.io.decode_png(png, channels=3)[None])
      if elements_info.text:
        tf.summary.text("reconstructions", _markdown_table(
            elements_info, shown, greedy, sampled))
      else:
        images = elements_info.to_images
        grid = np.concatenate([
            np.stack([e["pixels"] for e in shown]),
            images(greedy["elements"]), images(sampled["elements"])], 2)
        tf.summary.image("reconstructions",
                         tf.constant(grid[..., None], tf.float32),
                         max_outputs=len(shown))


def _generate_eager(model, latents, masks, max_length, temperature, seed):
  out = model.generate(tf.convert_to_tensor(latents, model.compute_dtype),
                       max_length, temperature=temperature, seed=seed,
                       slot_mask=tf.constant(masks))
  return {k: v.numpy() for k, v in out.items()}


def markdown_escape(text):
  """`text` safe in TensorBoard's Markdown: HTML (`<unk>`) and the Markdown
  characters PTB words contain (`\\*`, `\\/`) escaped."""
  text = html.escape(text, quote=False)
  for char in "\\`*_|[]":
    text = text.replace(char, "\\" + char)
  return text


def _markdown_table(elements_info, shown, greedy, sampled):
  """Original / greedy / sampled sentences as a Markdown table, each word
  followed by the slot that produced it (`market:2`)."""
  cell = lambda words, slots: " ".join(
      f"{markdown_escape(w)}:{k}" for w, k in zip(words, slots)) or "-"
  lines = ["| # | original | greedy | sampled |", "|---|---|---|---|"]
  for i, (example, g, s) in enumerate(zip(
      shown, _decoded_words(elements_info, greedy),
      _decoded_words(elements_info, sampled))):
    lines.append(f"| {i} | {cell(*_words_of(elements_info, example))} | "
                 f"{cell(*g)} | {cell(*s)} |")
  lines.append("")
  lines.append("Each word is followed by the latent slot that produced it "
               "(the decoder's argmax).")
  return "\n".join(lines)
