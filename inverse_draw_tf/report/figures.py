"""The report's figures, drawn with matplotlib's Agg canvas (no display, no
pyplot state).

Each `draw_*` function takes NumPy arrays (from `collect.py`) and returns a
`matplotlib.figure.Figure`; `save_figure` and `figure_png` write one. Slot k
has the colour `slot_color(k)` in every figure, table and sentence.
"""

import io
import math

import numpy as np

from inverse_draw_tf.report import collect

# Dark enough to read as text colour on white; slot k uses PALETTE[k % 12].
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e67300", "#8c564b",
           "#d6279b", "#0e8a9a", "#6b6b6b", "#8a7a00", "#393b79", "#4f7a28")


def slot_color(slot):
  """The colour of slot `slot` in every figure and table."""
  return PALETTE[slot % len(PALETTE)]


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


def _color_ticks(ticks):
  """Colours tick label k by slot k."""
  for k, tick in enumerate(ticks):
    tick.set_color(slot_color(k))


def draw_attention_map(labels, decoder_weights, posterior_weights,
                       upper_posterior_weights=None, title=None,
                       element="word", alignment_posterior=None):
  """The word-to-slot map of one example.

  Args:
    labels: T element names (words, `<eos>` last; or rows).
    decoder_weights: `(T, K)`: which slot produced each element.
    posterior_weights: `(K, T)`: which elements each slot read.
    upper_posterior_weights: optional `(K_1, T)` of the level above.
    title: optional title.
    element: what the labels name ("word" or "row").
    alignment_posterior: optional `(T, K)` p(a_t | x, z) of a model with an
      explicit alignment: then it is which slot produced each element
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
    panels = [(f"decoder: which slot produced each {element}",
               decoder_weights.T, _slot_names(num_slots))]
  else:
    produced = np.asarray(alignment_posterior)
    panels = [(f"alignment posterior p(a_t | x, z): which slot produced "
               f"each {element}", produced.T, _slot_names(num_slots)),
              (f"decoder's prior p(a_t | h_t), before seeing the {element}",
               decoder_weights.T, _slot_names(num_slots))]
  panels += [
      (f"posterior: which {element}s each slot read",
       np.asarray(posterior_weights), _slot_names(num_slots))]
  if upper_posterior_weights is not None:
    upper = np.asarray(upper_posterior_weights)
    panels.append((f"upper-level posterior: which {element}s each upper "
                   "slot read",
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
    if not names[0].startswith("u"):
      _color_ticks(ax.get_yticklabels())
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


def draw_level_map(level_assignment, title=None):
  """Which upper slot each lower slot came from under the prior, `(K0, K1)`."""
  level_assignment = np.asarray(level_assignment)
  lower, upper = level_assignment.shape
  fig = _figure(max(3.6, 1.6 + 0.45 * upper), 1.0 + 0.3 * lower)
  ax = fig.subplots()
  image = ax.imshow(level_assignment, aspect="auto", cmap="Blues", vmin=0.0,
                    vmax=1.0, interpolation="nearest")
  ax.set_yticks(range(lower), _slot_names(lower), fontsize=8)
  _color_ticks(ax.get_yticklabels())
  ax.set_xticks(range(upper), _slot_names(upper, "u"), fontsize=8)
  ax.set_xlabel("upper slot", fontsize=8)
  ax.set_ylabel("lower slot", fontsize=8)
  for i in range(lower):
    for j in range(upper):
      value = level_assignment[i, j]
      ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
              color="white" if value > 0.6 else "black")
  fig.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
  ax.set_title(title or "prior: which upper slot\nproduced each lower slot",
               fontsize=9, loc="left")
  return fig


def tree_edges(assignment, level_assignment):
  """The edges of the words -> lower slots -> upper slots tree.

  Args:
    assignment: `(T, K0)` which lower slot produced each word.
    level_assignment: `(K0, K1)` which upper slot each lower slot came from.

  Returns:
    `(word_edges, slot_edges)`: `(t, k, weight)` from each word to its most
    likely lower slot, and `(k, j, weight)` from each lower slot some word
    uses to its most likely upper slot (a slot no word uses has no edge).
  """
  assignment = np.asarray(assignment)
  level_assignment = np.asarray(level_assignment)
  lower = assignment.argmax(-1)
  word_edges = [(t, int(k), float(assignment[t, k]))
                for t, k in enumerate(lower)]
  slot_edges = [(int(k), int(level_assignment[k].argmax()),
                 float(level_assignment[k].max())) for k in sorted(set(lower))]
  return word_edges, slot_edges


def draw_tree(labels, assignment, level_assignment, title=None):
  """Words (bottom) -> lower slots -> upper slots (top), each edge to the
  most likely parent, its opacity that parent's probability."""
  word_edges, slot_edges = tree_edges(assignment, level_assignment)
  lower, upper = np.asarray(level_assignment).shape
  count = len(labels)
  width = max(4.0, 0.42 * count)
  fig = _figure(width, 3.0)
  ax = fig.subplots()
  spread = lambda n: np.linspace(0.5, count - 0.5, n + 2)[1:-1] if n > 1 else (
      np.array([count / 2.0]))
  lower_x, upper_x = spread(lower), spread(upper)
  for t, k, weight in word_edges:
    ax.plot([t + 0.5, lower_x[k]], [0.0, 1.0], color=slot_color(k),
            alpha=max(weight, 0.15), lw=1.2)
  used = {k for k, _, _ in slot_edges}
  for k, j, weight in slot_edges:
    ax.plot([lower_x[k], upper_x[j]], [1.0, 2.0], color=slot_color(k),
            alpha=max(weight, 0.15), lw=2.0)
  for k, x in enumerate(lower_x):
    ax.text(x, 1.0, f"z{k}", ha="center", va="center", fontsize=8,
            color=slot_color(k) if k in used else "#bbbbbb",
            bbox=dict(boxstyle="round", fc="white", ec="none"))
  for j, x in enumerate(upper_x):
    ax.text(x, 2.0, f"u{j}", ha="center", va="center", fontsize=8,
            bbox=dict(boxstyle="round", fc="white", ec="#888888"))
  for t, label in enumerate(labels):
    ax.text(t + 0.5, -0.05, label, ha="right", va="top", rotation=60,
            fontsize=7, color=slot_color(word_edges[t][1]))
  ax.set_xlim(0, count)
  ax.set_ylim(-1.0, 2.3)
  ax.axis("off")
  ax.set_title(title or "words -> lower slots -> upper slots", fontsize=9,
               loc="left")
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
    _color_ticks(ax.get_xticklabels())
  return fig


def draw_rate(mass, argmax, lengths, slots_used, element="token",
              latent="slot", prefix="z"):
  """Tokens per slot: distribution, per-slot means, slots used vs length.

  Args:
    mass, argmax: `(N, K)` elements per slot per example (NaN where a slot
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
  colors = _bar_colors(count) if prefix == "z" else ["#6b6b6b"] * count
  ax_slot.bar(x - 0.2, collect.nan_mean(mass), 0.4, color=colors,
              label="by mass")
  ax_slot.bar(x + 0.2, collect.nan_mean(argmax), 0.4, color=colors,
              alpha=0.45, hatch="//", label="by argmax")
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


def _entropy_panel(ax, entropy, uniform, uniform_name, *, bins, color,
                   xlabel, title, mean=True):
  """A histogram of entropies (nats) against the uniform log K."""
  ax.hist(entropy, bins=bins, range=(0, max(uniform, 1e-3) * 1.02),
          color=color)
  ax.axvline(uniform, color="red", linewidth=1.5,
             label=f"uniform {uniform_name} = {uniform:.3f}")
  if mean:
    ax.axvline(np.mean(entropy), color="black", linestyle="--",
               linewidth=1, label=f"mean {np.mean(entropy):.3f}")
  ax.set_xlabel(xlabel, fontsize=8)
  ax.legend(fontsize=7)
  ax.set_title(title, fontsize=9)


def draw_entropy(decoder_entropy, num_slots, posterior_entropy,
                 posterior_baseline, prior_entropy=None, num_upper=None):
  """Entropy histograms against the uniform baseline."""
  panels = 3 if prior_entropy is not None and len(prior_entropy) else 2
  fig = _figure(4.2 * panels, 2.9)
  axes = fig.subplots(1, panels)
  _entropy_panel(axes[0], decoder_entropy, math.log(num_slots), "log K",
                 bins=40, color="#1f77b4",
                 xlabel="entropy of the decoder's read, per token (nats)",
                 title="decoder")
  ax = axes[1]
  keep = posterior_baseline > 0
  normalized = posterior_entropy[keep] / posterior_baseline[keep]
  ax.hist(normalized, bins=40, range=(0, 1.02), color="#9467bd")
  ax.axvline(1.0, color="red", linewidth=1.5, label="uniform over the words")
  if normalized.size:
    ax.axvline(normalized.mean(), color="black", linestyle="--", linewidth=1,
               label=f"mean {normalized.mean():.3f}")
  ax.set_xlabel("entropy / log(words), per slot", fontsize=8)
  ax.legend(fontsize=7)
  ax.set_title("posterior", fontsize=9)
  if panels == 3:
    _entropy_panel(axes[2], prior_entropy, math.log(num_upper), "log K1",
                   bins=30, color="#8c564b",
                   xlabel="entropy of the prior's read, per lower slot",
                   title="hierarchical prior", mean=False)
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
