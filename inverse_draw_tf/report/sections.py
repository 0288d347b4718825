"""The sections of the report's page: HTML for each, with its figures.

`Builder` collects what the sections produce: the figures (saved under
`figures/` as they are made) and `(id, title, html)` per section, which
`page.py` puts on one page. The HTML helpers here (escaping, sentences
coloured by slot, tables of numbers) are the page's vocabulary too.
"""

import html
import math
import os

import numpy as np

from inverse_draw_tf import analysis
from inverse_draw_tf.report import collect
from inverse_draw_tf.report import figures

FIGURES = "figures"


class Builder:
  """Accumulates the figures and HTML sections of one report.

  Args:
    directory: the report's directory; figures go to its `figures/`.
  """

  def __init__(self, directory):
    self.directory = directory
    os.makedirs(os.path.join(directory, FIGURES), exist_ok=True)
    self.sections = []  # (id, title, html)
    self.figures = {}

  def figure(self, section, name, fig):
    """Saves `fig` as `figures/<name>.png` of `section`; returns that path."""
    relative = f"{FIGURES}/{name}.png"
    figures.save_figure(fig, os.path.join(self.directory, relative))
    self.figures.setdefault(section, []).append(relative)
    return relative

  def section(self, section_id, title, body):
    self.sections.append((section_id, title, body))


# -- HTML pieces -------------------------------------------------------------


def esc(value):
  """`value` as text safe in HTML."""
  return html.escape(str(value))


def slot_class(slot):
  """The CSS class that colours text by slot `slot` (see `page.css`)."""
  return f"s{slot % len(figures.PALETTE)}"


def slot_badge(slot):
  """Slot `slot`'s name, bold in its colour."""
  return f'<span class="w {slot_class(slot)}"><b>z{slot}</b></span>'


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
      classes.append(slot_class(slots[i]))
      title = f' title="z{slots[i]}"'
    if changed is not None and changed[i]:
      classes.append("changed")
    spans.append(f'<span class="{" ".join(classes)}"{title}>{esc(word)}'
                 "</span>")
  return '<span class="sentence">' + " ".join(spans) + "</span>"


def legend(num_slots):
  """A line naming each slot in its colour."""
  return ('<p class="legend">Slot colours: ' + "".join(
      f'<span class="w {slot_class(k)}">z{k}</span>'
      for k in range(num_slots)) + "</p>")


def figure_html(path, caption, alt=None):
  """A figure with its caption (HTML, not escaped)."""
  return (f'<figure><img src="{esc(path)}" alt="{esc(alt or caption)}" '
          f'loading="lazy"><figcaption>{caption}</figcaption></figure>')


def format_number(value):
  """A number (or a list of them) for a table cell."""
  if isinstance(value, bool) or value is None:
    return "n/a" if value is None else str(value)
  if isinstance(value, int):
    return f"{value:,}"
  if isinstance(value, float):
    if not math.isfinite(value):
      return str(value)
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
  if isinstance(value, (list, tuple)):
    shown = ", ".join(format_number(v) for v in value[:12])
    return f"[{shown}{', ...' if len(value) > 12 else ''}]"
  return str(value)


def key_value_table(record, first=()):
  """A two-column table of `record`: the keys in `first`, then the rest
  sorted."""
  keys = [k for k in first if k in record] + sorted(
      k for k in record if k not in first)
  rows = "".join(f"<tr><th>{esc(k)}</th><td class=\"num\">"
                 f"{esc(format_number(record[k]))}</td></tr>" for k in keys)
  return f'<div class="scroll"><table>{rows}</table></div>'


# -- Sections ----------------------------------------------------------------


def maps_section(builder, model, elements_info, shown):
  """The word-to-slot map of each shown example (`maps`)."""
  parts = ['<p class="note">Top: the decoder\'s read weights over the '
           "slots while it emits each " + elements_info.noun + " (labels are "
           "coloured by the slot with the most weight). Below: the "
           "posterior's attention over the " + elements_info.noun + "s "
           "while it writes each slot: which " + elements_info.noun + "s each "
           "slot read.</p>"]
  hierarchical = model.num_levels > 1
  for index, example in enumerate(shown):
    labels = collect.labels_of(elements_info, example)
    fig = figures.draw_attention_map(
        labels, example["decoder_weights"], example["posterior_weights"][0],
        example["posterior_weights"][1] if hierarchical else None,
        title=f"example {index}", element=elements_info.noun,
        alignment_posterior=(
            example["assignment"] if model.decoder_alignment in
            collect.ALIGNMENTS_WITH_POSTERIOR else None))
    path = builder.figure("maps", f"map_{index:03d}", fig)
    caption = (sentence_html(*collect.words_of(elements_info, example))
               if elements_info.text else f"image {index}")
    parts.append(figure_html(path, f"{index}: {caption}",
                             alt=f"attention map of example {index}"))
    if hierarchical:
      level_path = builder.figure(
          "maps", f"levels_{index:03d}",
          figures.draw_level_map(example["level_assignment"]))
      parts.append(figure_html(
          level_path, f"{index}: which upper slot each lower slot came from "
          "under the hierarchical prior"))
      tree_path = builder.figure("maps", f"tree_{index:03d}", figures.draw_tree(
          labels, example["assignment"], example["level_assignment"]))
      parts.append(figure_html(
          tree_path, f"{index}: each {elements_info.noun} to the lower slot "
          "that produced it, each lower slot to the upper slot it came from"))
  builder.section("maps", "Word-to-slot maps" if elements_info.text else
                  "Row-to-slot maps", "".join(parts))


def _words_cell(entries, with_value="mass"):
  if not entries:
    return '<span class="note">-</span>'
  if with_value == "mass":
    return ", ".join(f"{esc(w)} <span class=\"note\">{v:.1f}</span>"
                     for w, v in entries)
  if with_value == "count":
    return ", ".join(f"{esc(w)} <span class=\"note\">{v}</span>"
                     for w, v in entries)
  return ", ".join(f"{esc(w)} <span class=\"note\">&times;{lift:.1f} "
                   f"({count})</span>" for w, lift, count in entries)


def profile_section(builder, model, numbers, elements_info):
  """Per slot: shares, KL, active dimensions, top words (`profile`)."""
  slots = numbers["slots"]
  path = builder.figure("profile", "slot_profile",
                        figures.draw_slot_profile(slots))
  noun = elements_info.noun
  head = ("<tr><th>slot</th><th>share (mass)</th><th>share (argmax)</th>"
          "<th>KL</th><th>active dims</th>"
          f"<th>top {noun}s by mass</th><th>top {noun}s by argmax</th>")
  if elements_info.text:
    head += "<th>most distinctive (lift, count)</th>"
  rows = []
  for s in slots:
    k = s["slot"]
    row = (f'<tr><td>{slot_badge(k)}'
           f'</td><td class="num">{s["token_share"]:.1%}</td>'
           f'<td class="num">{s["argmax_share"]:.1%}</td>'
           f'<td class="num">{s["kl"]:.3f}</td>'
           f'<td class="num">{s["active_dimensions"]}/{s["latent_dim"]}</td>'
           f"<td>{_words_cell(s['top_by_mass'])}</td>"
           f"<td>{_words_cell(s['top_by_argmax'], 'count')}</td>")
    if elements_info.text:
      row += f"<td>{_words_cell(s['distinctive'], 'lift')}</td>"
    rows.append(row + "</tr>")
  body = [figure_html(path, "Per slot over the split: share of emitted "
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
        f"{esc(format_number(lv['kl_per_slot']))}</td><td>"
        f"{esc(format_number(lv['active_dimensions']))} of "
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
  return key_value_table(rows)


def rate_section(builder, model, stats, numbers, elements_info):
  """Tokens per slot, the window's step, one level up (`rate`)."""
  noun = "token" if elements_info.text else "row"
  body = ['<p class="note">How many emitted ' + noun + "s each slot "
          "covers: per (latent, example) pair by attention mass; a slot "
          "is used if it is the argmax of at least one " + noun + ".</p>"]
  path = builder.figure("rate", "rate", figures.draw_rate(
      stats["rate_mass"], stats["rate_argmax"], stats["lengths"],
      stats["slots_used"], element=noun))
  body.append(figure_html(path, f"{noun.capitalize()}s per slot."))
  if stats["window_steps"] is not None and stats["window_steps"].size:
    path = builder.figure("rate", "window_steps",
                          figures.draw_window_steps(stats["window_steps"]))
    body.append(figure_html(
        path, "The decoder's window moves forward by a learned step at "
        f"every {noun}: its reciprocal is the {noun}s per slot."))
  body.append(_rate_table(numbers["rate"], noun, "slot"))
  if model.num_levels > 1:
    body.append("<h3>One level up</h3><p class=\"note\">The same for the "
                "upper level: which lower slots each upper slot produced "
                "(the level's assignment: the hierarchical prior's read "
                "weights, or with an exact prior the posterior over the "
                "upper slot each lower slot came from).</p>")
    path = builder.figure("rate", "rate_upper", figures.draw_rate(
        stats["upper_rate_mass"], stats["upper_rate_argmax"],
        stats["upper_lengths"], stats["upper_slots_used"],
        element="lower slot", latent="upper slot", prefix="u"))
    body.append(figure_html(path, "Lower slots per upper slot."))
    body.append(_rate_table(numbers["upper_rate"], "lower slot",
                            "upper slot"))
  builder.section("rate", "Rate: tokens per slot" if elements_info.text
                  else "Rate: rows per slot", "".join(body))


def sharpness_section(builder, model, stats, numbers):
  """Attention entropies against the uniform baseline (`sharpness`)."""
  hierarchical = model.num_levels > 1
  fig = figures.draw_entropy(
      stats["decoder_entropy"], model.num_slots[0],
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
  builder.section("sharpness", "Attention sharpness", figure_html(
      path, "Entropy of each attention distribution; red: uniform "
      "attention. Left of the red line is sharper than uniform; 0 is "
      "one-hot.") + key_value_table(rows))


def decoding_sections(builder, model, elements_info, shown, decoded):
  """The sections of `collect.decode_examples`'s results: reconstructions,
  samples, interpolations and traversals for text, one `images` section for
  images.

  Returns:
    Their summary: `reconstructions`, `samples`, `interpolations`,
    `traversals` (lists of JSON-able records).
  """
  if elements_info.text:
    return _text_decoding(builder, elements_info, shown, **decoded)
  return _image_decoding(builder, model, elements_info, shown, **decoded)


def _text_decoding(builder, elements_info, shown, greedy, sampled,
                   prior_greedy, prior_sampled, pairs, interpolations,
                   traversal_rows, traversals, upper_traversal_rows,
                   upper_traversals):
  words = lambda result: collect.decoded_words(elements_info, result)
  originals = [collect.words_of(elements_info, e) for e in shown]
  upper = {}
  if upper_traversal_rows:
    upper["upper_traversals"] = _traversals(
        builder, originals, upper_traversal_rows,
        [words(r) for r in upper_traversals], upper=True)
  return dict(**upper,
      reconstructions=_reconstructions(builder, originals, words(greedy),
                                       words(sampled)),
      samples=_samples(builder, words(prior_greedy), words(prior_sampled)),
      interpolations=_interpolations(builder, originals, pairs,
                                     [words(r) for r in interpolations]),
      traversals=_traversals(builder, originals, traversal_rows,
                             [words(r) for r in traversals]))


def reconstruction_f1_section(builder, results):
  """The split-wide reconstruction F1 (`reconstruction.evaluate_
  reconstructions` results by decoding, e.g. `beam` and `greedy`)."""
  def row(name, result):
    beam = result["beam_size"]
    label = f"{name} (beam {beam})" if beam > 1 else name
    return (f"<tr><td>{esc(label)}</td><td class=\"num\">"
            f"{result['num_examples']}</td><td class=\"num\">"
            f"{result['f1']:.3f}</td><td class=\"num\">{result['exact']:.3f}"
            "</td></tr>")

  rows = "".join(row(name, result) for name, result in results.items())
  examples = "".join(
      f"<tr><td>{esc(e['original'])}</td><td>{esc(e['reconstruction'])}</td>"
      f"<td class=\"num\">{e['f1']:.2f}</td></tr>"
      for e in next(iter(results.values()))["examples"])
  builder.section(
      "reconstruction_f1", "Reconstruction F1",
      '<p class="note">How much of each sentence its latents carry: the '
      "sentence decoded from its posterior mean, scored against the input "
      "by unigram F1 (clipped word overlap; &lt;eos&gt; excluded, "
      "&lt;unk&gt; a word). A language model's own greedy output is the "
      "no-information baseline (<code>bin/evaluate "
      "--reconstruction_beam_size</code> scores one).</p><table><tr><th>"
      "decoding</th><th>sentences</th><th>mean F1</th><th>exact</th></tr>"
      + rows + "</table><table><tr><th>original</th><th>reconstruction"
      "</th><th>F1</th></tr>" + examples + "</table>")


def _reconstructions(builder, originals, greedy_words, sampled_words):
  rows, records = [], []
  for i, ((orig, orig_slots), (g, g_slots), (s, s_slots)) in enumerate(
      zip(originals, greedy_words, sampled_words)):
    greedy_html = sentence_html(g, g_slots, analysis.changed_tokens(orig, g))
    sampled_html = sentence_html(s, s_slots, analysis.changed_tokens(orig, s))
    rows.append(
        f"<tr><td class=\"num\">{i}</td><td>{sentence_html(orig, orig_slots)}"
        f"</td><td>{greedy_html}</td><td>{sampled_html}</td></tr>")
    records.append(dict(original=" ".join(orig), greedy=" ".join(g),
                        sampled=" ".join(s)))
  builder.section(
      "reconstructions", "Reconstructions",
      '<p class="note">Each word is coloured by the slot that produced '
      "it (the decoder's argmax; hover for the slot). Highlighted: words that "
      "differ from the original (aligned, so an insertion marks only "
      "itself). Greedy: decoded from the posterior mean with the most likely "
      "word at each step; sampled: from a posterior sample, words sampled at "
      "temperature 1.</p><div class=\"scroll\"><table><tr><th>#</th><th>"
      "original</th><th>greedy reconstruction</th><th>sampled "
      "reconstruction</th></tr>" + "".join(rows) + "</table></div>")
  return records


def _samples(builder, greedy_words, sampled_words):
  rows, records = [], []
  for i, ((g, g_slots), (s, s_slots)) in enumerate(
      zip(greedy_words, sampled_words)):
    rows.append(
        f"<tr><td class=\"num\">{i}</td><td>{sentence_html(g, g_slots)}</td>"
        f"<td>{sentence_html(s, s_slots)}</td></tr>")
    records.append(dict(greedy=" ".join(g), sampled=" ".join(s)))
  builder.section(
      "samples", "Samples from the prior",
      '<p class="note">Latents drawn from the prior; each row decodes the '
      "same latents greedily and by sampling at temperature 1.</p>"
      "<div class=\"scroll\"><table><tr><th>#</th><th>greedy</th><th>sampled"
      "</th></tr>" + "".join(rows) + "</table></div>")
  return records


def _interpolations(builder, originals, pairs, decoded_paths):
  parts, records = [], []
  for (a, b), decoded in zip(pairs, decoded_paths):
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
    records.append(dict(start=a, end=b,
                        sentences=[" ".join(w) for w, _ in decoded]))
  builder.section(
      "interpolations", "Interpolations between posteriors",
      '<p class="note">Homotopies (Bowman et al. 2016): the posterior means '
      "of two sentences mixed as (1 - s) A + s B, all slots at once, decoded "
      "greedily. Highlighted: words that changed from the row above.</p>" +
      ("".join(parts) or '<p class="note">Needs at least two shown '
       "sentences.</p>"))
  return records


def _traversals(builder, originals, traversal_rows, decoded_paths,
                upper=False):
  """One table per sentence: a slot moved along its principal direction
  (with `upper`, a slot of level 2, decoded through the level below)."""
  parts, records = [], []
  badge = (lambda slot: f"<b>u{slot}</b>") if upper else slot_badge
  by_example = {}
  for (example, slot, scale), decoded in zip(traversal_rows, decoded_paths):
    by_example.setdefault(example, []).append((slot, scale, decoded))
  offsets = collect.TRAVERSAL_OFFSETS
  for example, entries in by_example.items():
    table = []
    for slot, scale, decoded in entries:
      center = decoded[offsets.index(0.0)][0]
      for row, (offset, (w, slots)) in enumerate(zip(offsets, decoded)):
        first = (f'<td rowspan="{len(decoded)}">{badge(slot)}<br><span '
                 f'class="note">&sigma; = {scale:.3g}</span></td>'
                 if row == 0 else "")
        changed = analysis.changed_tokens(center, w) if offset else None
        table.append(f"<tr>{first}<td class=\"num\">{offset:+.0f}&sigma;</td>"
                     f"<td>{sentence_html(w, slots, changed)}</td></tr>")
      records.append(dict(
          example=example, slot=slot, scale=scale, offsets=list(offsets),
          sentences=[" ".join(w) for w, _ in decoded]))
    parts.append(
        f"<h3>Example {example}</h3><p>{sentence_html(*originals[example])}"
        "</p><div class=\"scroll\"><table><tr><th>slot</th><th>offset</th>"
        "<th>decoded (greedy)</th></tr>" + "".join(table) + "</table></div>")
  note = ('<p class="note">One slot moved along its principal direction '
          "(the first principal axis of that slot's posterior means over the "
          "split; &sigma; is their standard deviation along it), the other "
          "slots held at the sentence's posterior mean. Highlighted: words "
          "that differ from the unmoved row (0&sigma;).</p>")
  if upper:
    builder.section(
        "upper_traversals", "Traversals of one upper slot",
        note + '<p class="note">The lower slots are the top-down '
        "posterior's means given the moved upper slots (the sentence "
        "fixed): the words that change are the span the upper slot "
        "governs.</p>" + "".join(parts))
  else:
    builder.section("traversals", "Traversals of one slot",
                    note + "".join(parts))
  return records


def _image_decoding(builder, model, elements_info, shown, greedy, sampled,
                    prior_greedy, prior_sampled, pairs, interpolations,
                    traversal_rows, traversals, upper_traversal_rows,
                    upper_traversals):
  del upper_traversal_rows, upper_traversals  # Text only, for now.
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
  path = builder.figure("images", "reconstructions", figures.draw_image_grid(
      np.stack(rows), row_labels=labels, title="reconstructions"))
  body.append(figure_html(path, "Reconstructions: original, greedy "
                          "(posterior mean, most likely pixels) and sampled "
                          "(posterior sample, Bernoulli pixels)."))
  samples = np.stack([images(prior_sampled["elements"]),
                      images(prior_greedy["elements"])], 0)
  path = builder.figure("images", "samples", figures.draw_image_grid(
      samples, row_labels=["sampled", "most likely"],
      title="samples from the prior"))
  body.append(figure_html(path, "Samples from the prior: the same latents "
                          "with sampled pixels and with the most likely "
                          "pixels."))
  slots = np.stack([np.argmax(e["assignment"], -1) for e in shown])
  path = builder.figure("images", "slots", figures.draw_slot_overlay(
      originals, elements_info.pixel_slots(slots), num_slots))
  body.append(figure_html(path, "The slot slot read for each row group "
                          "(the decoder's argmax), drawn over the image."))
  if interpolations:
    grid = np.stack([images(r["elements"]) for r in interpolations])
    path = builder.figure("images", "interpolations", figures.draw_image_grid(
        grid, row_labels=[f"{a} to {b}" for a, b in pairs],
        column_labels=[f"s={s:.2f}" for s in np.linspace(
            0, 1, collect.INTERPOLATION_STEPS)], title="interpolations"))
    body.append(figure_html(path, "Interpolations between the posterior "
                            "means of two images (most likely pixels)."))
  records = []
  if traversals:
    first = traversal_rows[0][0]
    rows = [(slot, scale, r) for (e, slot, scale), r in
            zip(traversal_rows, traversals) if e == first]
    grid = np.stack([images(r["elements"]) for _, _, r in rows])
    path = builder.figure("images", "traversals", figures.draw_image_grid(
        grid, row_labels=[f"z{slot} (σ={scale:.2g})" for slot, scale, _ in rows],
        column_labels=[f"{o:+.0f}σ" for o in collect.TRAVERSAL_OFFSETS],
        title=f"traversals of image {first}"))
    body.append(figure_html(path, "Each slot moved along its principal "
                            "direction, the others held at the posterior "
                            "mean (most likely pixels)."))
    records = [dict(example=e, slot=slot, scale=scale)
               for e, slot, scale in traversal_rows]
  builder.section("images", "Images", "".join(body))
  return dict(reconstructions=[], samples=[],
              interpolations=[dict(start=a, end=b) for a, b in pairs],
              traversals=records)

