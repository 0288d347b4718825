"""The speed comparison `bin/benchmark` makes with a public PyTorch VAE.

The reference is the most used public sentence VAE, timbmg/Sentence-VAE
(https://github.com/timbmg/Sentence-VAE), trained on PTB on the CPU at its
sizes: LSTM, embedding 300, 256 hidden units, one 16-dimensional latent,
batch 32, 2 threads. It needs PyTorch, so the benchmark does not run it: its
speed is quoted per CPU kind from a run on that kind (`REFERENCE_SPEEDS`).
A new CPU kind gets its own line once someone measures the reference on it.

Two configs are timed against it (`configs`):

  reference_sized: this package's sentence VAE (`configs/ptb_vae.py`, one
    slot) at the reference's sizes. Its encoder is bidirectional, the
    reference's is not, so it does more work per token.
  released_li_sizes: the released recipe (exact alignment, window attention,
    8 slots) at the published text VAEs' sizes (`budget=literature`: Li et
    al. 2019's embedding 256, 256-unit LSTMs, 16-dimensional slots,
    batch 32), whose 40-epoch run is the first run of the results study.
"""

from inverse_draw_tf import machine

# Training tokens per second of the reference (target tokens including
# <eos>, steps 51-300, median of 50-step windows), by CPU kind: `cpu` is
# matched against the model name /proc/cpuinfo gives, `feature` (if set)
# must be present too.
REFERENCE_SPEEDS = (
    dict(cpu="Xeon", feature="amx_bf16", tokens_per_s=2818.0,
         measured="2-core Intel Xeon with AMX-BF16, PyTorch 2.14, "
         "2026-12-03 (issue 24)"),
    # The AVX2-only AMD kind: an AMD EPYC with AVX-512 (and AVX512-BF16,
    # met 2026-12-06) is another kind, its reference not measured.
    dict(cpu="AMD EPYC", feature=None, absent="avx512f", tokens_per_s=1880.0,
         measured="2-core AMD EPYC (AVX2), PyTorch 2.13 CPU, 2026-12-03: "
         "1,859 and 1,910 tokens/s in two runs"),
)

RELEASED_RECIPE = (
    "alignment=exact,attention=window,window_step=0.33,"
    "posterior_window_step=3.0,word_dropout=0,free_bits=0.25,"
    "entropy_weight=2,balance_weight=2,decoder_dropout=0.3")

# Each row is timed in both training precisions (config.train.precision).
PRECISIONS = ("float32", "mixed_bfloat16")

# What issue 24 asks of the two rows (the faster precision of each counts).
TARGETS = dict(reference_ratio=3.0, released_tokens_per_s=6500.0,
               literature_run_minutes=100.0)

# PTB's training split: 887,521 words and 42,068 <eos>, the tokens an epoch
# trains on.
PTB_TRAIN_TOKENS = 929589


def configs():
  """`{row name: config}` of the two comparison rows."""
  from configs import ptb  # pylint: disable=g-import-not-at-top
  from configs import ptb_vae  # pylint: disable=g-import-not-at-top
  reference = ptb_vae.get_config("budget=results")
  reference.model.update(embedding_dim=300, encoder_units=256,
                         decoder_units=256, posterior_units=256,
                         latent_dim=16)
  reference.input.batch_size = 32
  released = ptb.get_config(RELEASED_RECIPE + ",budget=literature")
  return dict(reference_sized=reference, released_li_sizes=released)


def reference_speed(cpu=None):
  """The reference's entry for this CPU kind (`machine.cpu_features()`
  format), or None where it has not been measured."""
  if cpu is None:
    cpu = machine.cpu_features()
  for entry in REFERENCE_SPEEDS:
    if entry["cpu"] in (cpu.get("model") or "") and (
        entry["feature"] is None or cpu.get(entry["feature"])) and not (
            entry.get("absent") and cpu.get(entry["absent"])):
      return entry
  return None


def literature_run_minutes(tokens_per_s, epochs=40):
  """Wall minutes of an `epochs`-epoch PTB run at `tokens_per_s`."""
  return epochs * PTB_TRAIN_TOKENS / tokens_per_s / 60.0


def check_targets(rows, cpu):
  """The comparison's targets, as `benchmark.check_targets` lists them.

  Args:
    rows: the "comparison" section's rows, named "<config>/<precision>"
      (`configs`, `PRECISIONS`).
    cpu: `machine.cpu_features()` of the machine that measured them.
  """
  targets = []
  reference = reference_speed(cpu)
  best = {}
  for row in rows:
    kind = row["name"].split("/")[0]
    if row["elements_per_s"] > best.get(kind, (0.0, None))[0]:
      best[kind] = (row["elements_per_s"], row["name"])
  if "reference_sized" in best and reference is not None:
    speed, name = best["reference_sized"]
    ratio = speed / reference["tokens_per_s"]
    targets.append(dict(
        name=f"{name} over the PyTorch reference "
        f"({reference['tokens_per_s']:,.0f} tokens/s)", measured=ratio,
        goal=TARGETS["reference_ratio"],
        met=ratio >= TARGETS["reference_ratio"], unit="x"))
  if "released_li_sizes" in best:
    speed, name = best["released_li_sizes"]
    targets.append(dict(
        name=f"{name} tokens/s", measured=speed,
        goal=TARGETS["released_tokens_per_s"],
        met=speed >= TARGETS["released_tokens_per_s"], unit="tokens/s"))
    minutes = literature_run_minutes(speed)
    targets.append(dict(
        name="its 40 PTB epochs at that speed", measured=minutes,
        goal=TARGETS["literature_run_minutes"],
        met=minutes <= TARGETS["literature_run_minutes"], unit="min"))
  return targets
