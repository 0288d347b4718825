"""The results tables and training curves of RESULTS.md, from what the runs
wrote: `bin/evaluate`'s JSON per run and each workdir's `metrics.jsonl`.

Nothing here computes a model statistic: it reads, checks against the
targets and published anchors, formats and draws.
"""

import json
import math
import os

# Published anchors, marked as such in the tables, as the results issue
# quotes them. PTB: Bowman et al. 2016 (https://arxiv.org/abs/1511.06349),
# NLL per sentence. Binarized MNIST (static): DRAW (Gregor et al. 2015,
# https://arxiv.org/abs/1502.04623) and GLAS, a latent-attention model.
PUBLISHED = {
    "text": (
        dict(name="LSTM language model (Bowman et al. 2016)", nll=100.0,
             ppl=116.0),
        dict(name="sentence VAE (Bowman et al. 2016)", nll=101.0, kl=2.0),
    ),
    "image": (
        dict(name="DRAW with attention (Gregor et al. 2015)", nll=80.97),
        dict(name="DRAW without attention (Gregor et al. 2015)", nll=87.40),
        dict(name="GLAS (latent attention)", nll=89.67),
    ),
}

# The targets of the results issue for an Inverse DRAW row (PTB).
MIN_KL = 10.0
MIN_ACTIVE_FRACTION = 0.5
MAX_ENTROPY_FRACTION = 0.5  # Of log K.
# The assignment issue's: slots that must each take >= 5% of the tokens.
MIN_CHOSEN_SLOTS = 4
MNIST_TARGET_NLL = 85.0
# Issue 26's MNIST target: at or below DRAW with attention (the first
# published image anchor).
MNIST_DRAW_NLL = PUBLISHED["image"][0]["nll"]


def load_results(results_dir, names):
  """`{name: evaluation dict}` for the names whose `<name>.json` exists."""
  found = {}
  for name in names:
    path = os.path.join(results_dir, f"{name}.json")
    if os.path.exists(path):
      with open(path) as f:
        found[name] = json.loads(f.read())
  return found


def relative_run_paths(text, runs_dir):
  """`text` with the workdirs under `runs_dir` written `runs/<name>`.

  A run started with `init_inference_from=/abs/runs/ae` records that
  absolute path; its kept record says `runs/ae`, as the row's config
  string in configs/results.py does, so the record reproduces on any
  machine (tests/configs_test.py).
  """
  for prefix in {os.path.abspath(runs_dir), os.path.realpath(runs_dir)}:
    text = text.replace(prefix.rstrip("/") + "/", "runs/")
  return text


def extends_record(kept_metrics, workdir_metrics):
  """Whether a workdir's `metrics.jsonl` text continues the kept record's.

  A run resumed for more epochs only appends to its metrics, so the kept
  copy is a prefix of the workdir's; a new training in the same workdir
  (a retrain under the same name) starts a different file, and copying it
  would silently replace the record the results rows were scored from.
  """
  return workdir_metrics.startswith(kept_metrics)


def keep_run_record(runs_dir, kept_dir, name):
  """Copies a workdir's `config.json` and `metrics.jsonl` into its kept
  record `kept_dir/name/`, unless the workdir's metrics do not continue the
  kept ones (`extends_record`); then returns a one-line message saying so.

  The config's warm-start paths are written as rows write them
  (`relative_run_paths`); each file is replaced atomically.
  """
  from inverse_draw_tf import config_lib  # pylint: disable=g-import-not-at-top
  texts = {}
  for filename in ("config.json", "metrics.jsonl"):
    source = os.path.join(runs_dir, name, filename)
    if os.path.exists(source):
      with open(source) as f:
        texts[filename] = f.read()
  kept_metrics = os.path.join(kept_dir, name, "metrics.jsonl")
  if "metrics.jsonl" in texts and os.path.exists(kept_metrics):
    with open(kept_metrics) as f:
      if not extends_record(f.read(), texts["metrics.jsonl"]):
        return (f"bin/results: kept results/runs/{name} as it is: "
                f"{os.path.join(runs_dir, name, 'metrics.jsonl')} does not "
                "continue it (a new training in that workdir?); move the "
                "workdir or the record aside to replace it.")
  for filename, text in texts.items():
    if filename == "config.json":
      text = relative_run_paths(text, runs_dir)
    os.makedirs(os.path.join(kept_dir, name), exist_ok=True)
    config_lib.write_atomic(os.path.join(kept_dir, name, filename), text)
  return None


def assignment_entropy(result):
  """Mean entropy of the word-to-latent assignment: the exact alignment
  posterior's when the model has one, else the decoder attention's."""
  if result.get("alignment_entropy") is not None:
    return result["alignment_entropy"]
  return result.get("decoder_attention_entropy")


def slots_over_5_percent(result):
  """How many slots take at least 5% of the tokens by argmax: of the exact
  alignment posterior when the model has one, else of the read weights."""
  return result.get("alignment_slots_over_5_percent",
                    result.get("slots_over_5_percent"))


def _nll_missed(result, baseline_nll):
  if baseline_nll is None:
    return ["no LM baseline yet"]
  if result["nll"] > baseline_nll:
    return [f"NLL {result['nll']:.2f} > LM {baseline_nll:.2f}"]
  return []


def _entropy_missed(result):
  entropy = assignment_entropy(result)
  uniform = result.get("uniform_attention_entropy")
  if entropy is not None and uniform and (
      entropy > MAX_ENTROPY_FRACTION * uniform):
    return [f"entropy {entropy:.2f} > {MAX_ENTROPY_FRACTION} log K "
            f"= {MAX_ENTROPY_FRACTION * uniform:.2f}"]
  return []


def check_targets(result, baseline_nll):
  """The unmet PTB targets of the results issue (8) for one Inverse DRAW
  row (empty: all met).

  Args:
    result: its evaluation dict.
    baseline_nll: the LSTM language model's test NLL, or None if not run.
  """
  missed = _nll_missed(result, baseline_nll)
  if result["kl"] < MIN_KL:
    missed.append(f"KL {result['kl']:.1f} < {MIN_KL:.0f}")
  if result.get("active_unit_fraction", 0.0) < MIN_ACTIVE_FRACTION:
    missed.append(f"active {result.get('active_unit_fraction', 0.0):.0%} "
                  f"< {MIN_ACTIVE_FRACTION:.0%}")
  return missed + _entropy_missed(result)


def check_assignment_target(result, baseline_nll):
  """The unmet parts of the assignment issue's (9) target for one row: an
  assignment entropy at most half of log K with at least `MIN_CHOSEN_SLOTS`
  slots each taking >= 5% of the tokens, at an NLL at or below the LM's. It
  sets no KL floor. Empty: met. A row without an assignment entropy (no
  attention) misses it."""
  missed = _nll_missed(result, baseline_nll)
  if assignment_entropy(result) is None:
    return missed + ["no attention"]
  slots = slots_over_5_percent(result) or 0
  if slots < MIN_CHOSEN_SLOTS:
    missed.append(f"{slots} slots >= 5% < {MIN_CHOSEN_SLOTS}")
  return missed + _entropy_missed(result)


# What a row's "NLL at or below the LM" targets compare against when the
# caller names nothing else: the language model at the results budget.
DEFAULT_BASELINES = ("ptb_lm",)


def baseline_nll(baselines, results):
  """The NLL a row's "at or below the LM" targets compare against: the
  lowest test NLL of the runs named in `baselines` (configs/results.py
  lists each row's), or None while any of them has not been evaluated
  (or none is named)."""
  values = [results.get(name, {}).get("nll") for name in baselines]
  return None if not values or None in values else min(values)


def _number(value, digits):
  if value is None or (isinstance(value, float) and math.isnan(value)):
    return ""
  if isinstance(value, int):
    return f"{value:,}"
  return f"{value:,.{digits}f}"


def training_speed(train_records):
  """Median milliseconds per training step over a run's training records
  (the median, so the first step's tracing and validation pauses do not
  count), or None when none records it."""
  times = sorted(r["seconds_per_step"] for r in train_records
                 if r.get("seconds_per_step") is not None)
  if not times:
    return None
  middle = len(times) // 2
  median = (times[middle] if len(times) % 2 else
            (times[middle - 1] + times[middle]) / 2)
  return 1000.0 * median


# What the collapse table calls collapsed and uniform (see `collapse_points`).
COLLAPSED_NATS_PER_SLOT = 0.25
UNIFORM_FRACTION = 0.95


def collapse_points(train_records, uniform_entropy):
  """Where a run's training curves show posterior collapse and attention
  that stopped choosing.

  Args:
    train_records: the run's training records by step (`read_metrics`),
      each with `kl_per_slot` (nats per sentence, one entry per slot) and
      `kl_weight`, and where the model reads slots
      `decoder_attention_entropy`.
    uniform_entropy: log K of the run's decoder attention (0 for one slot).

  Returns:
    A dict: `first_step`, `first_kl` (total KL of the first record, when
    the KL weight is still near 0: what the untrained posterior writes);
    `collapse_step`, the first step whose KL per slot (total / slots) is
    below `COLLAPSED_NATS_PER_SLOT`, and `collapse_kl_weight` there (both
    None if no step is); `lowest_kl`, `lowest_step`; `final_kl` and
    `final_slot_kl` (the lowest and highest slot's KL at the last record);
    `uniform_step`, the first step from which the attention entropy stays
    at or above `UNIFORM_FRACTION` x log K to the last record (None if it
    never settles there, or for one slot).
  """
  kl = [(r["step"], sum(r["kl_per_slot"]), r["kl_per_slot"],
         r.get("kl_weight")) for r in train_records if r.get("kl_per_slot")]
  if not kl:
    raise ValueError("no training record has a `kl_per_slot`: is this a run "
                     "with latents?")
  first_step, first_kl, _, _ = kl[0]
  collapse = next(((step, weight) for step, total, slots, weight in kl
                   if total / len(slots) < COLLAPSED_NATS_PER_SLOT),
                  (None, None))
  lowest_step, lowest_kl, _, _ = min(kl, key=lambda item: item[1])
  _, final_kl, final_slots, _ = kl[-1]
  uniform_step = None
  if uniform_entropy > 0:
    for record in reversed(train_records):
      entropy = record.get("decoder_attention_entropy")
      if entropy is None:
        continue
      if entropy < UNIFORM_FRACTION * uniform_entropy:
        break
      uniform_step = record["step"]
  return dict(first_step=first_step, first_kl=first_kl,
              collapse_step=collapse[0], collapse_kl_weight=collapse[1],
              lowest_kl=lowest_kl, lowest_step=lowest_step,
              final_kl=final_kl,
              final_slot_kl=(min(final_slots), max(final_slots)),
              uniform_step=uniform_step)


def collapse_table(results, train_records):
  """The collapse points (`collapse_points`) of the text runs with latents
  as a markdown table, in the order of `results`.

  Args:
    results: ordered `{name: evaluation dict}` (for log K).
    train_records: `{name: training records}`; runs missing here are left
      out.
  """
  lines = [
      "### Collapse points (PTB training curves)", "",
      f"| run | KL at first record | first step under "
      f"{COLLAPSED_NATS_PER_SLOT:g} nats per slot | KL weight there | "
      f"lowest KL (step) | final KL | final KL per slot, lowest-highest | "
      f"attention uniform from step (entropy >= {UNIFORM_FRACTION:g} log K "
      f"to the end) |",
      "|---|---:|---:|---:|---:|---:|---:|---:|"]
  for name, r in results.items():
    if "ppl" not in r or "active_units" not in r or name not in train_records:
      continue
    points = collapse_points(train_records[name],
                             r.get("uniform_attention_entropy") or 0.0)
    uniform = ("one slot" if not r.get("uniform_attention_entropy") else
               _number(points["uniform_step"], 0) or "never")
    lowest, highest = points["final_slot_kl"]
    lines.append(
        f"| {name} | {points['first_kl']:.2f} (step {points['first_step']})"
        f" | {_number(points['collapse_step'], 0) or 'never'} | "
        f"{_number(points['collapse_kl_weight'], 3)} | "
        f"{points['lowest_kl']:.2f} ({points['lowest_step']:,}) | "
        f"{points['final_kl']:.2f} | {lowest:.2f}-{highest:.2f} | "
        f"{uniform} |")
  return "\n".join(lines) + "\n"


def _verdict(missed):
  return "met" if not missed else "missed: " + "; ".join(missed)


def markdown_tables(results, baselines=None, speeds=None):
  """One markdown table per kind of data (text, images): the runs in the
  given order, then the published anchors marked as such.

  Args:
    results: ordered `{name: evaluation dict}` as `bin/evaluate` wrote them.
    baselines: optional `{name: baseline run names}`: the language models
      each text row's targets compare against (`baseline_nll`);
      `DEFAULT_BASELINES` for a row not in it.
    speeds: optional `{name: ms per training step}` (`training_speed`).

  Returns:
    Markdown text.
  """
  baselines = baselines or {}
  speeds = speeds or {}
  text = [(n, r) for n, r in results.items() if "ppl" in r]
  images = [(n, r) for n, r in results.items() if "ppl" not in r]
  lines = ["### PTB (test split)", "",
           "| run | S | NLL | PPL | KL | MI | active | entropy / log K | "
           "slots >= 5% | ms/step | targets | assignment target |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
  for name, r in text:
    entropy = assignment_entropy(r)
    uniform = r.get("uniform_attention_entropy")
    has_latents = "active_units" in r
    slots = slots_over_5_percent(r)
    if not has_latents:
      verdict = assignment_verdict = "baseline"
    else:
      baseline = baseline_nll(baselines.get(name, DEFAULT_BASELINES),
                              results)
      verdict = _verdict(check_targets(r, baseline))
      assignment_verdict = _verdict(check_assignment_target(r, baseline))
    lines.append(
        f"| {name} | {r['num_samples']} | {_number(r['nll'], 2)} | "
        f"{_number(r['ppl'], 1)} | {_number(r['kl'], 2)} | "
        f"{_number(r.get('mutual_information'), 2)} | "
        + (f"{r['active_units']}/{r['latent_dimensions']}" if has_latents
           else "") + " | "
        + (f"{entropy:.2f} / {uniform:.2f}" if entropy is not None and
           uniform else "") + f" | {_number(slots, 0)} | "
        f"{_number(speeds.get(name), 0)} | {verdict} | "
        f"{assignment_verdict} |")
  for anchor in PUBLISHED["text"]:
    lines.append(f"| *published:* {anchor['name']} | | "
                 f"{_number(anchor['nll'], 2)} | "
                 f"{_number(anchor.get('ppl'), 1)} | "
                 f"{_number(anchor.get('kl'), 2)} | | | | | | | |")
  lines += ["", "### Binarized MNIST (static, test split)", "",
            "| run | S | NLL | KL | active | ms/step | target (< 85) | "
            f"issue 26 (<= DRAW's {MNIST_DRAW_NLL}) |",
            "|---|---:|---:|---:|---:|---:|---|---|"]
  for name, r in images:
    active = (f"{r['active_units']}/{r['latent_dimensions']}"
              if "active_units" in r else "")
    verdict = _verdict([] if r["nll"] < MNIST_TARGET_NLL else
                       [f"NLL {r['nll']:.2f} >= {MNIST_TARGET_NLL:.0f}"])
    draw_verdict = _verdict([] if r["nll"] <= MNIST_DRAW_NLL else
                            [f"NLL {r['nll']:.2f} > {MNIST_DRAW_NLL}"])
    lines.append(f"| {name} | {r['num_samples']} | {_number(r['nll'], 2)} | "
                 f"{_number(r['kl'], 2)} | {active} | "
                 f"{_number(speeds.get(name), 0)} | {verdict} | "
                 f"{draw_verdict} |")
  for anchor in PUBLISHED["image"]:
    lines.append(f"| *published:* {anchor['name']} | | "
                 f"{_number(anchor['nll'], 2)} | | | | | |")
  return "\n".join(lines) + "\n"


TABLES_BEGIN = "<!-- tables: the output of bin/results (results/tables.md) -->"
TABLES_END = "<!-- /tables -->"


def splice_tables(document, tables):
  """`document` (RESULTS.md's text) with `tables` between its table markers.

  The prose around the tables is written by hand; only the generated part
  between `TABLES_BEGIN` and `TABLES_END` is replaced, so it cannot drift
  from what bin/results computes.
  """
  begin, end = document.find(TABLES_BEGIN), document.find(TABLES_END)
  if begin < 0 or end < begin:
    raise ValueError(
        f"the document has no `{TABLES_BEGIN}` ... `{TABLES_END}` section; "
        "add the two marker lines where the tables go.")
  head = document[:begin + len(TABLES_BEGIN)]
  return f"{head}\n{tables.strip()}\n{document[end:]}"


def read_metrics(path):
  """`(train_records, valid_records)` of a `metrics.jsonl`, by step."""
  train, valid = [], []
  with open(path) as f:
    for line in f:
      if line.strip():
        record = json.loads(line)
        kind = record.get("kind", "train")  # Early runs wrote no kind.
        if kind in ("train", "valid"):  # Not the "plateau" records.
          (valid if kind == "valid" else train).append(record)
  key = lambda r: r["step"]
  return sorted(train, key=key), sorted(valid, key=key)


def distinct_colours(ax, count):
  """One colour per line for up to 20 lines (matplotlib's default cycle
  repeats after 10, and the results figures have more runs than that)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  palette = matplotlib.colormaps["tab20"]
  ax.set_prop_cycle(color=[palette(i % 20) for i in range(max(count, 1))])


def beside_legend_size(entries):
  """(width, height) in inches of a figure with a legend of `entries` lines
  at font size 7 beside its axes: room for the longest run names beside
  7 x 4 inches of axes, taller once the legend would not fit."""
  return (11.0, max(4.0, 0.16 * (entries + 1)))


def draw_curves(metrics_paths, out_dir, image_runs=(), long_runs=()):
  """Training curves as PNG files: validation ELBO, KL per slot and decoder
  attention entropy over steps, one line (or panel) per run.

  Args:
    metrics_paths: ordered `{run name: metrics.jsonl path}`.
    out_dir: directory for `elbo.png` (text runs), `elbo_long.png` (text
      runs in `long_runs`), `elbo_images.png` (image runs, any budget),
      `kl_per_slot.png` and `entropy.png`.
    image_runs: the names among them that model images, not sentences.
    long_runs: the names among them trained for more steps than the rest.

  Returns:
    The list of written paths.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import figure  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  runs = {name: read_metrics(path) for name, path in metrics_paths.items()}
  written = []

  def save(fig, name):
    path = os.path.join(out_dir, name)
    temp = path + ".tmp.png"
    fig.tight_layout()
    fig.savefig(temp, dpi=100, bbox_inches="tight")
    os.replace(temp, path)
    written.append(path)

  # Sentences and images have ELBOs nats apart: one figure per kind, and
  # the longer-budget rows apart from the rest, whose steps they dwarf.
  for filename, kind_is_text, long_budget in (
      ("elbo.png", True, False), ("elbo_long.png", True, True),
      ("elbo_images.png", False, False)):
    kind = {n: valid for n, (_, valid) in runs.items()
            if valid and (n not in image_runs) == kind_is_text and
            (not kind_is_text or (n in long_runs) == long_budget)}
    if not kind:
      continue
    fig = figure.Figure(figsize=beside_legend_size(len(kind)))
    ax = fig.add_subplot()
    distinct_colours(ax, len(kind))
    for name, valid in kind.items():
      ax.plot([r["step"] for r in valid], [r["elbo"] for r in valid],
              marker=".", label=name)
    ax.set(xlabel="step", ylabel=f"validation ELBO (nats / "
           f"{'sentence' if kind_is_text else 'image'})",
           title="Validation ELBO")
    # Beside the axes: with twenty runs a legend inside hides the curves.
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    save(fig, filename)

  with_slots = {n: t for n, (t, _) in runs.items()
                if t and t[0].get("kl_per_slot")}
  if with_slots:
    columns = min(4, len(with_slots))
    rows = -(-len(with_slots) // columns)
    fig = figure.Figure(figsize=(4 * columns, 3.2 * rows))
    for index, (name, train) in enumerate(with_slots.items()):
      ax = fig.add_subplot(rows, columns, index + 1)
      steps = [r["step"] for r in train]
      for slot in range(len(train[0]["kl_per_slot"])):
        ax.plot(steps, [r["kl_per_slot"][slot] for r in train],
                label=f"z{slot}", linewidth=1)
      ax.set(xlabel="step", ylabel="KL (nats)", title=name)
      ax.legend(fontsize=6, ncol=2)
    save(fig, "kl_per_slot.png")

    fig = figure.Figure(figsize=beside_legend_size(len(with_slots)))
    ax = fig.add_subplot()
    distinct_colours(ax, len(with_slots))
    for name, train in with_slots.items():
      key = ("alignment_entropy" if "alignment_entropy" in train[0] else
             "decoder_attention_entropy")
      # One slot (the sentence VAE) has nothing to choose between.
      if key in train[0] and len(train[0]["kl_per_slot"]) > 1:
        uniform = math.log(len(train[0]["kl_per_slot"]))
        ax.plot([r["step"] for r in train],
                [r[key] / uniform for r in train], label=name)
    ax.axhline(MAX_ENTROPY_FRACTION, color="k", linestyle="--",
               linewidth=1, label="target: half of log K")
    ax.set(xlabel="step", ylabel="entropy / log K",
           title="Word-to-latent assignment entropy (training batches)",
           ylim=(0, 1.05))
    # Beside the axes: with twenty runs a legend inside hides the curves.
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    save(fig, "entropy.png")
  return written
