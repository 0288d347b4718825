"""The report's page: `write_report` restores a run, runs `collect.py` over a
split and writes one self-contained HTML page with its figures.

```none
REPORT_DIR/index.html       one self-contained page (open it from disk)
REPORT_DIR/summary.json     every number shown, and each section's figures
REPORT_DIR/figures/*.png    the figures, referenced relatively
```
The page starts with the run's metrics (`run_metrics`) and config, then the
sections of `sections.py` in order.
"""

import glob
import json
import os
import shutil
import tempfile
import time

import numpy as np

from inverse_draw_tf import checkpoints
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import reconstruction
from inverse_draw_tf import report
from inverse_draw_tf.report import collect
from inverse_draw_tf.report import figures
from inverse_draw_tf.report import sections

REPORT_MARKER = "inverse_draw_tf bin/analyze report"

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


def css():
  """The page's style sheet; `.s<k>` colours text by slot k."""
  return _CSS + "".join(f".s{k} {{ color: {color}; }}\n"
                        for k, color in enumerate(figures.PALETTE))


# The metrics shown first, in this order; the others follow sorted.
_METRIC_ORDER = ("nll", "ppl", "elbo", "kl", "distortion", "mutual_information",
                 "active_units", "latent_dimensions",
                 "decoder_attention_entropy", "uniform_attention_entropy",
                 "posterior_attention_entropy", "slots_over_5_percent",
                 "assignment_entropy", "assignment_slots_over_5_percent",
                 "num_examples", "num_samples", "split", "step", "loss",
                 "elbo_ppl", "kl_weight")
# Validation records written before `metrics.summarize` named these keys
# differently: their `slot_token_share` and `slots_over_5_percent` were the
# assignment's argmax shares, which now have the `assignment_` names.
_RENAMED_VALIDATION_KEYS = {
    "ppl_bound": "elbo_ppl",
    "slot_token_share": "assignment_argmax_share",
    "slots_over_5_percent": "assignment_slots_over_5_percent"}


def _current_names(record):
  """`record` with an old validation record's keys renamed (see above)."""
  if record.get("kind") != "valid" or "ppl_bound" not in record:
    return record
  return {_RENAMED_VALIDATION_KEYS.get(k, k): v for k, v in record.items()}


def run_metrics(workdir, split):
  """The run's headline numbers: `evaluate_<split>.json` if present (else
  another `evaluate_*.json`), else the last record of each kind in
  `metrics.jsonl` (validation records under their current key names).

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
      last[record.get("kind", "train")] = _current_names(record)
  if not last:
    return None
  return dict(source="metrics.jsonl",
              records={f"last {kind} record (metrics.jsonl)": record
                       for kind, record in sorted(last.items())})


# -- The report --------------------------------------------------------------


def _check_arguments(split, num_sentences, max_examples, num_samples):
  """Raises `report.ReportError` naming the first bad argument."""
  if split not in data.SPLITS:
    raise report.ReportError(f"`split` must be one of {data.SPLITS}, "
                             f"received {split!r}.")
  for name, value, low in (("num_sentences", num_sentences, 1),
                           ("max_examples", max_examples, 0),
                           ("num_samples", num_samples, 1)):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
      raise report.ReportError(f"`{name}` must be an integer >= {low}, "
                               f"received {value!r}.")


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
      raise report.ReportError(
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
                 checkpoint=None, beam_size=4, log_fn=None):
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
    which, checkpoint: which checkpoint (see `checkpoints.restore`).
    beam_size: beam of the split-wide reconstruction F1 (text; it is also
      measured greedily).
    log_fn: optional progress callback.

  Returns:
    The summary dict (also written as `out/summary.json`).

  Raises:
    report.ReportError: bad arguments, a missing workdir, an `out` that is
      not an earlier report, or a run without latents.
  """
  _check_arguments(split, num_sentences, max_examples, num_samples)
  if not os.path.isdir(workdir):
    raise report.ReportError(f"workdir `{workdir}` does not exist; pass the "
                             "--workdir of a run made by bin/train.")
  out = os.path.abspath(out)
  _check_output(out)
  config, inputs, model, path, step = checkpoints.restore(
      workdir, checkpoint, which)
  if not model.num_levels:
    raise report.ReportError(
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
        beam_size=beam_size, log_fn=log_fn)
    _replace_directory(temp, out)
  except BaseException:
    shutil.rmtree(temp, ignore_errors=True)
    raise
  return summary


def build_report(directory, *, model, config, inputs, workdir, checkpoint,
                 step, split, num_sentences, max_examples, num_samples, seed,
                 beam_size=4, log_fn=None):
  """Writes `index.html`, `summary.json` and the figures into `directory`."""
  text = model.observation == "text"
  tokens = (data.load_vocabulary(inputs.vocabulary.vocabulary_path)
            if text else None)
  elements_info = collect.Elements(model, tokens)
  dataset = inputs.eval_dataset(split, config.input.eval_batch_size)
  stride = 1
  if not text:
    # The bundled MNIST test split is sorted by digit: spread the shown
    # images over the analysed ones (text batches are mixed already).
    size = data.MNIST_SIZES[split]
    size = min(size, max_examples) if max_examples else size
    stride = max(1, size // num_sentences)
  stats = collect.collect(model, dataset, elements_info,
                          num_shown=num_sentences, max_examples=max_examples,
                          log_fn=log_fn, shown_stride=stride)
  numbers = collect.summarize(model, stats, elements_info)
  builder = sections.Builder(directory)
  shown = stats["shown"]
  # Training's length limit, or room for the longest shown sentence.
  max_length = (max(int(config.input.max_length),
                    max(e["length"] for e in shown) + 5)
                if text else elements_info.steps)
  generate = collect.make_generate_fn(model, max_length)
  base_seed = np.array([seed, 0], np.int32)

  sections.maps_section(builder, model, elements_info, shown)
  sections.profile_section(builder, model, numbers, elements_info)
  sections.rate_section(builder, model, stats, numbers, elements_info)
  sections.sharpness_section(builder, model, stats, numbers)
  if log_fn:
    log_fn("generating reconstructions, samples, interpolations, traversals")
  decoded = collect.decode_examples(model, stats, generate, base_seed,
                                    num_samples)
  generated = sections.decoding_sections(builder, model, elements_info,
                                         shown, decoded)
  if text:
    generated["reconstruction"] = _reconstruction_f1(
        builder, model, dataset, elements_info, beam_size,
        min(max_examples or RECONSTRUCTED, RECONSTRUCTED), log_fn)

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
  with open(os.path.join(directory, "index.html"), "w") as f:
    f.write(_page(builder, summary, config_lib.to_json(config)))
  return summary


# Sentences of the split whose reconstructions the report scores.
RECONSTRUCTED = 500


def _reconstruction_f1(builder, model, dataset, elements_info, beam_size,
                       max_examples, log_fn):
  """The split-wide unigram F1 of reconstructions, by beam and greedily."""
  if log_fn:
    log_fn(f"scoring the reconstructions of {max_examples} sentences")
  results = {
      name: reconstruction.evaluate_reconstructions(
          model, dataset, beam_size=beam, max_examples=max_examples,
          num_kept=5, tokens=elements_info.tokens)
      for name, beam in (("beam", beam_size), ("greedy", 1))}
  sections.reconstruction_f1_section(builder, results)
  return results


def _json_default(value):
  """NumPy scalars as Python numbers in summary.json."""
  if isinstance(value, np.generic):
    return value.item()
  raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _page(builder, summary, config_json):
  """The whole HTML page."""
  title = f"Inverse DRAW: {os.path.basename(summary['workdir'].rstrip('/'))}"
  header = [f"<h1>{sections.esc(title)}</h1>",
            '<p class="note">Made by <code>bin/analyze</code>: everything '
            "below comes from the checkpoint and split named here, along the "
            "posterior mean path unless a sample is named.</p>",
            sections.key_value_table(dict(
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
      header.append(f"<h3>{sections.esc(name)}</h3>")
      header.append(sections.key_value_table(record, first=_METRIC_ORDER))
  header.append("<details><summary>Config</summary><pre>"
                f"{sections.esc(config_json)}</pre></details>")
  header.append(sections.legend(summary["num_slots"][0]))
  nav = "<nav><h2>Contents</h2><ul>" + "".join(
      f'<li><a href="#{sid}">{sections.esc(stitle)}</a></li>'
      for sid, stitle, _ in builder.sections) + "</ul></nav>"
  body = "".join(f'<section id="{sid}"><h2>{sections.esc(stitle)}</h2>'
                 f"{content}</section>"
                 for sid, stitle, content in builder.sections)
  return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          '<meta name="viewport" content="width=device-width, '
          f'initial-scale=1"><title>{sections.esc(title)}</title>'
          f"<style>{css()}</style></head><body>"
          + "".join(header) + nav + body + "</body></html>\n")

