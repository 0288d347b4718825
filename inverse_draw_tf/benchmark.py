"""Throughput and memory of training, evaluation and their parts, measured on
real data against this machine's own fp32 matmul ceiling.

Every figure is wall-clock time of the real code path: `time_training` runs
the very `optimization.train_step` bin/train runs (optionally with XLA),
`time_evaluation` the very IWAE bound bin/evaluate computes. Warm-up steps
(tracing, compilation) are discarded. Model FLOPs are counted analytically
(`flops.forward_flops`), so utilisation is "useful model work per second
over what the hardware does on large matmuls", the usual MFU. Benchmarks print
numbers; they assert nothing.

Peak memory is the resident-set high-water mark of the measured block: Linux
lets a process reset its own mark (`/proc/self/clear_refs`), so each row of
one benchmark process gets its own peak (`PeakMemory`).
"""

import contextlib
import ctypes
import gc
import os
import re
import resource
import time

import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import comparison
from inverse_draw_tf import data
from inverse_draw_tf import flops
from inverse_draw_tf import machine
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import optimization

# -- Memory ------------------------------------------------------------------


def _status_kib(field):
  try:
    with open("/proc/self/status") as f:
      match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    return int(match.group(1)) if match else None
  except OSError:
    return None


def _reset_peak():
  """Resets this process's RSS high-water mark; False where unsupported."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return True
  except OSError:
    return False


def peak_rss_mib():
  """Peak resident memory of this process so far (MiB)."""
  hwm = _status_kib("VmHWM")
  if hwm is not None:
    return hwm / 1024.0
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def release_memory():
  """Frees what earlier rows left behind (Keras state, garbage, malloc's
  free lists), so a row's peak is not inflated by the rows before it."""
  keras.backend.clear_session()
  gc.collect()
  try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
  except (OSError, AttributeError):  # Not glibc: nothing to trim.
    pass


class PeakMemory(contextlib.AbstractContextManager):
  """Peak resident memory (MiB) while the block runs.

  On entry, memory left by earlier blocks is released and, on Linux, the
  high-water mark is reset, so `peak_mib` is the block's own peak (which
  includes what the process holds anyway: TensorFlow itself, the data).
  `start_mib` is the resident memory at entry. Where the mark cannot be
  reset, `peak_mib` is the process's peak so far and `per_block` is False.
  """

  def __enter__(self):
    release_memory()
    self.start_mib = (_status_kib("VmRSS") or 0) / 1024.0
    self.per_block = _reset_peak()
    self.peak_mib = None
    return self

  def __exit__(self, *exc_info):
    self.peak_mib = peak_rss_mib()
    return False


# -- Batches -----------------------------------------------------------------


def training_batches(inputs, config, count):
  """`count` real training batches, materialised so input cost is excluded."""
  dataset = inputs.train_dataset(config.input.batch_size, config.seed,
                                 pad_to_bucket_boundary=bool(
                                     config.train.jit_compile))
  return list(dataset.take(count))


def fixed_length_batches(inputs, batch_size, length, count, split="train"):
  """`count` batches of `length` real tokens per row, no padding.

  PTB sentences (each with its `<eos>`) laid end to end and cut into rows of
  `length` tokens: real word statistics at any length, so cost can be
  measured against length alone (PTB has no 128-token sentence).
  """
  if inputs.vocabulary is None:
    raise ValueError("fixed-length batches need a text config; received "
                     f"dataset {inputs.dataset_name!r}.")
  dataset = inputs.eval_dataset(split, 256)
  stream = []
  needed = batch_size * length * count
  for batch in dataset:
    tokens = batch["tokens"].numpy()
    stream.extend(tokens[tokens != data.PAD_ID].tolist())
    if len(stream) >= needed:
      break
  if len(stream) < needed:
    raise ValueError(f"the `{split}` split has {len(stream)} tokens, fewer "
                     f"than {count} batches of {batch_size} x {length}.")
  rows = np.asarray(stream[:needed], np.int32).reshape(count, batch_size,
                                                        length)
  return [{"tokens": tf.constant(r)} for r in rows]


def _batch_shape(batch, model):
  first = batch[next(iter(batch))]
  if model.observation == "text":
    return int(first.shape[0]), int(first.shape[1])
  return int(first.shape[0]), int(np.prod(first.shape[1:])) // (
      model.pixels_per_step)


def _real_elements(model, batch):
  _, _, mask = model.elements(batch)
  return float(tf.reduce_sum(tf.cast(mask, tf.float32)))


def time_input(inputs, config, count=200):
  """Batches per second the training input pipeline delivers on its own
  (after its first batch), to compare with the steps per second it feeds."""
  iterator = iter(inputs.train_dataset(
      config.input.batch_size, config.seed,
      pad_to_bucket_boundary=bool(config.train.jit_compile)))
  next(iterator)
  start = time.perf_counter()
  for _ in range(count):
    next(iterator)
  return count / (time.perf_counter() - start)


# -- Training ----------------------------------------------------------------


def _timed_repeats(run_once, repeats):
  durations = []
  for _ in range(repeats):
    start = time.perf_counter()
    run_once()
    durations.append(time.perf_counter() - start)
  return float(np.median(durations)), min(durations), max(durations)


def time_training(config, inputs, *, steps=30, warmup=5, repeats=1,
                  batches=None):
  """Times `steps` training steps after `warmup`, `repeats` times over the
  same batches (median repeat, with the min-max spread: timings on a shared
  machine vary from run to run).

  Args:
    config: an experiment config.
    inputs: its `data.Input`.
    steps: timed steps per repeat.
    warmup: untimed steps first (tracing, XLA compilation).
    repeats: timed passes.
    batches: `warmup + steps` batches to use (default: real training
      batches of the config).

  Returns:
    dict of figures: ms_per_step (+ min, max), elements_per_s (tokens or
    pixel groups), examples_per_s, model_gflops_per_s, flop_shares (of each
    part), parameters, peak_rss_mib.
  """
  strategy = tf.distribute.get_strategy()
  with PeakMemory() as memory:
    keras.utils.set_random_seed(config.seed)
    model = model_lib.build_model(
        config.model, inputs.vocab_size,
        precision=config.train.get("precision", "float32"))
    model(model_lib.example_batch(model))
    optimizer = optimization.build_optimizer(config.optimizer,
                                          config.train.num_steps)
    optimizer.build(model.trainable_variables)
    seed = tf.constant([config.seed, 0], tf.int32)
    batch_size = config.input.batch_size
    gradient_fn = tf.function(
        lambda batch, step: optimization.loss_and_gradients(
            model, batch, step=step, seed=seed, config=config,
            global_batch_size=batch_size),
        jit_compile=bool(config.train.jit_compile), reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def step_fn(batch, step):
      return strategy.run(lambda b: optimization.train_step(
          model, optimizer, b, step=step, seed=seed, config=config,
          global_batch_size=batch_size, gradient_fn=gradient_fn),
                          args=(batch,))

    if batches is None:
      batches = training_batches(inputs, config, steps + warmup)
    if len(batches) < steps + warmup:
      raise ValueError(f"{len(batches)} batches given, {steps + warmup} "
                       "needed.")
    for index in range(warmup):
      step_fn(batches[index], tf.constant(index, tf.int64))
    # One untimed step per new input shape, so no tracing or XLA compilation
    # happens inside the timed steps.
    seen = {tuple(b[next(iter(b))].shape) for b in batches[:warmup]}
    for index in range(warmup, warmup + steps):
      shape = tuple(batches[index][next(iter(batches[index]))].shape)
      if shape not in seen:
        seen.add(shape)
        step_fn(batches[index], tf.constant(index, tf.int64))
    elements = []

    def run_once():
      elements.clear()
      for index in range(warmup, warmup + steps):
        out = step_fn(batches[index], tf.constant(index, tf.int64))
        elements.append(out["elements"])
      # Steps run asynchronously: the last result's value waits for all.
      elements[-1].numpy()

    seconds, fastest, slowest = _timed_repeats(run_once, repeats)
  timed = batches[warmup:warmup + steps]
  shapes = [_batch_shape(b, model) for b in timed]
  parts = {}
  for batch, shape in zip(timed, shapes):
    # Work on padding is not useful work: per-token parts count real tokens.
    fill = _real_elements(model, batch) / float(shape[0] * shape[1])
    for name, value in flops.forward_flops(model, *shape).items():
      useful = value if name == "slot_writers" else value * fill
      parts[name] = parts.get(name, 0.0) + 3.0 * useful
  total_flops = sum(parts.values())
  return dict(
      ms_per_step=1000.0 * seconds / steps,
      ms_per_step_min=1000.0 * fastest / steps,
      ms_per_step_max=1000.0 * slowest / steps,
      repeats=repeats, steps=steps,
      elements_per_s=float(sum(float(e) for e in elements)) / seconds,
      examples_per_s=sum(s[0] for s in shapes) / seconds,
      mean_length=float(np.mean([s[1] for s in shapes])),
      model_gflops_per_s=total_flops / seconds / 1e9,
      flop_shares={k: v / total_flops for k, v in parts.items()},
      precision=config.train.get("precision", "float32"),
      parameters=int(sum(np.prod(v.shape)
                         for v in model.trainable_variables)),
      peak_rss_mib=memory.peak_mib, start_rss_mib=memory.start_mib)


def time_decoder_attention(config, inputs, batch_size, length, *, steps=10,
                           repeats=3):
  """Forward and backward of the decoder's attention alone, all steps at once.

  The read head's `call_sequence` over `(batch_size, length)` queries and the
  K latent slots, with gradients to its weights and inputs: the attention's
  share of a training step, measured rather than counted. Under the
  input-feeding wiring the real step runs the head once per element inside
  the recurrence, which costs more than this batched call.

  Returns:
    ms per call (median of `repeats`), or None for a model without latents.
  """
  model = model_lib.build_model(config.model, inputs.vocab_size)
  model(model_lib.example_batch(model))
  head = model.decoder.head
  if head is None:
    return None
  hidden = tf.random.stateless_normal(
      [batch_size, length, model.decoder.units], [5, 6])
  latents = tf.random.stateless_normal(
      [batch_size, model.num_slots[0], model.latent_dim[0]], [7, 8])

  @tf.function(jit_compile=bool(config.train.jit_compile))
  def forward_backward(hidden, latents):
    with tf.GradientTape() as tape:
      tape.watch([hidden, latents])
      reads, weights, _ = head.call_sequence(hidden, latents, None)
      loss = tf.reduce_sum(reads) + tf.reduce_sum(weights)
    gradients = tape.gradient(loss, [hidden, latents] +
                              head.trainable_variables)
    return tf.add_n([tf.reduce_sum(g) for g in gradients if g is not None])

  forward_backward(hidden, latents).numpy()
  seconds, _, _ = _timed_repeats(
      lambda: [forward_backward(hidden, latents) for _ in range(steps)][
          -1].numpy(), repeats)
  return 1000.0 * seconds / steps


# -- Evaluation --------------------------------------------------------------


def time_evaluation(config, inputs, batches, *, num_samples, chunk_size=None,
                    repeats=1):
  """Times the IWAE bound (bin/evaluate's inner loop) over `batches`.

  The first batch is run once untimed (tracing); then every batch is timed.
  A model with fresh weights costs what a trained one does.

  Returns:
    dict: ms_per_batch, elements_per_s (observed tokens scored per second,
    each with `num_samples` samples), sample_elements_per_s (times S),
    model_gflops_per_s, peak_rss_mib, num_samples.
  """
  with PeakMemory() as memory:
    keras.utils.set_random_seed(config.seed)
    model = model_lib.build_model(config.model, inputs.vocab_size)
    model(model_lib.example_batch(model))
    seed = tf.constant([config.seed, 1], tf.int32)
    jit_compile = bool(config.evals.get("jit_compile", False))
    bound = tf.function(
        lambda batch: objectives.iwae_bound(model, batch, num_samples,
                                            seed=seed, chunk_size=chunk_size),
        reduce_retracing=not jit_compile, jit_compile=jit_compile)
    # Tracing (with `reduce_retracing` two shapes give a trace for all) or
    # XLA compilation (once per shape) happens before the timing.
    shapes = {}
    for batch in batches:
      shapes.setdefault(tuple(batch[next(iter(batch))].shape), batch)
    for batch in list(shapes.values())[:None if jit_compile else 2]:
      bound(batch).numpy()

    def run_once():
      for batch in batches:
        result = bound(batch)
      result.numpy()

    seconds, fastest, slowest = _timed_repeats(run_once, repeats)
  shapes = [_batch_shape(b, model) for b in batches]
  real = [_real_elements(model, batch) for batch in batches]
  elements = sum(real)
  # Work on padding is not useful work: scale each batch's FLOPs by its
  # share of real tokens (slightly undercounting the per-slot work).
  total_flops = sum(
      flops.evaluation_flops(model, b, t, num_samples) * r / (b * t)
      for (b, t), r in zip(shapes, real))
  return dict(
      num_samples=num_samples, batches=len(batches), precision="float32",
      batch_size=shapes[0][0],
      ms_per_batch=1000.0 * seconds / len(batches),
      ms_per_batch_min=1000.0 * fastest / len(batches),
      ms_per_batch_max=1000.0 * slowest / len(batches),
      elements_per_s=elements / seconds,
      sample_elements_per_s=elements * num_samples / seconds,
      model_gflops_per_s=total_flops / seconds / 1e9,
      peak_rss_mib=memory.peak_mib, start_rss_mib=memory.start_mib,
      per_block_memory=memory.per_block)


def evaluation_batches(inputs, batch_size, count, split="test",
                       pad_to_bucket_boundary=False):
  """The first `count` evaluation batches of `split`, every example whole."""
  return list(inputs.eval_dataset(
      split, batch_size, pad_to_bucket_boundary).take(count))


# -- The suite bin/benchmark runs --------------------------------------------

ATTENTIONS = {
    "content": "content",
    "location": "location",
    "window_gaussian": {"type": "window", "kernel": "gaussian"},
    "window_cauchy": {"type": "window", "kernel": "cauchy"},
    "dot_product": "dot_product",
}
WIRINGS = ("input_feeding", "output_only")
SECTIONS = ("training", "comparison", "image", "xla", "evaluation", "length",
            "slots", "attention")

# What each mode measures. Full: under 20 minutes here; quick: under 2.
PLANS = {
    "full": dict(steps=20, warmup=3, repeats=3, scaling_steps=3,
                 scaling_warmup=1, scaling_batch=64, lengths=(16, 32, 64, 128),
                 slots=(4, 8, 16, 64), attention_length=32,
                 eval_samples=100, eval_batches=2, memory_samples=1000,
                 memory_batch=32, matmul_size=4096, wirings=WIRINGS,
                 comparison_steps=40,
                 isolate=True,
                 attentions=tuple(ATTENTIONS)),
    "quick": dict(steps=3, warmup=1, repeats=1, scaling_steps=2,
                  scaling_warmup=1, scaling_batch=16, lengths=(16, 64),
                  slots=(8, 64), attention_length=16, eval_samples=10,
                  eval_batches=1, memory_samples=1000, memory_batch=2,
                  matmul_size=2048, wirings=("input_feeding",),
                  comparison_steps=3,
                  isolate=False,
                  attentions=("window_gaussian",)),
}

# The targets of the performance issue, checked on the default config.
TARGETS = dict(training_mfu=0.50, evaluation_mfu=0.60, memory_mib=4096.0,
               slots_64_vs_8_loss=0.15, per_token_cost_growth=0.15)


def _variant(base, jit_compile=False, **model_fields):
  """A copy of `base` with other model fields. Scaling rows run without XLA:
  each would compile for half a minute, and relative costs are the point."""
  from configs import common  # pylint: disable=g-import-not-at-top
  config = base.copy_and_resolve_references()
  config.train.jit_compile = jit_compile
  if model_fields:
    common.replace_model_fields(config, **model_fields)
  return config


def _with_mfu(row, ceiling):
  row["mfu"] = row["model_gflops_per_s"] / ceiling
  return row


def _row(kind, config, kwargs):
  """Measures one row: `kind` is "train", "scaling", "attention", "eval"."""
  inputs = data.Input(config.input)
  if kind == "train":
    row = time_training(config, inputs, **kwargs)
    row["input_batches_per_s"] = time_input(inputs, config)
    return row
  if kind in ("scaling", "attention"):
    kwargs = dict(kwargs)
    batch_size, length = kwargs.pop("batch_size"), kwargs.pop("length")
    config.input.batch_size = batch_size
    batches = fixed_length_batches(
        inputs, batch_size, length, kwargs["steps"] + kwargs["warmup"])
    row = time_training(config, inputs, batches=batches, repeats=1, **kwargs)
    if kind == "attention":
      row["attention_ms"] = time_decoder_attention(config, inputs, batch_size,
                                                   length)
      row["attention_share"] = row["attention_ms"] / row["ms_per_step"]
    return row
  batches = evaluation_batches(
      inputs, kwargs.pop("batch_size"), kwargs.pop("num_batches"),
      pad_to_bucket_boundary=bool(config.evals.get("jit_compile", False)))
  return time_evaluation(config, inputs, batches, **kwargs)


def _row_in_fresh_process(kind, config, kwargs):
  """`_row` in a new Python process, so its peak memory is its own (a
  process never gives back what TensorFlow's function library and XLA's
  caches took for earlier rows)."""
  import concurrent.futures  # pylint: disable=g-import-not-at-top
  import multiprocessing  # pylint: disable=g-import-not-at-top
  with concurrent.futures.ProcessPoolExecutor(
      1, mp_context=multiprocessing.get_context("spawn")) as pool:
    return pool.submit(_row, kind, config, kwargs).result()


def run_suite(config, image_config=None, *, mode="full", sections=SECTIONS,
              report=print):
  """Runs the benchmark plan; `report(section, row)` sees each row as it
  is measured. Returns `{"machine": ..., section: [rows], "targets": ...}`.

  In full mode every row runs in its own process, so each peak memory
  figure is that row's alone; quick mode runs all rows in this process to
  save the start-up time, so its peaks only grow down the table.
  """
  plan = PLANS[mode]
  measure = _row_in_fresh_process if plan["isolate"] else _row
  ceiling = machine.matmul_ceiling(plan["matmul_size"])
  results = dict(machine=dict(
      tensorflow=tf.__version__, cpu_cores=os.cpu_count(),
      memory_gib=round(os.sysconf("SC_PAGE_SIZE") *
                       os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1),
      matmul_ceiling_gflops_per_s=ceiling, mode=mode,
      isolated_rows=plan["isolate"],
      intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
      inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
      cpu=machine.cpu_features()))
  report("machine", results["machine"])

  def add(section, name, row, **fields):
    row = _with_mfu(dict(row, name=name, **fields), ceiling)
    results.setdefault(section, []).append(row)
    report(section, row)

  timing = dict(steps=plan["steps"], warmup=plan["warmup"],
                repeats=plan["repeats"])
  scaling = dict(steps=plan["scaling_steps"], warmup=plan["scaling_warmup"],
                 batch_size=plan["scaling_batch"])
  if mode == "quick":
    # A smoke run of every section: small batches, and no XLA outside the
    # xla section (compiling every bucket shape would take minutes).
    config = config.copy_and_resolve_references()
    config.input.batch_size = plan["scaling_batch"]
    config.train.jit_compile = False
    config.evals.jit_compile = False
  if "training" in sections:
    add("training", config.model.decoder_wiring, measure("train", config,
                                                         timing))
  if "comparison" in sections:
    # At their own batch size (32) in both modes: the reference's is 32.
    for name, cfg in comparison.configs().items():
      for precision in comparison.PRECISIONS:
        cfg.train.precision = precision
        add("comparison", f"{name}/{precision}", measure(
            "train", cfg, dict(timing, steps=plan["comparison_steps"])),
            precision=precision)
  if "image" in sections and image_config is not None:
    image_config = image_config.copy_and_resolve_references()
    if mode == "quick":
      image_config.input.batch_size = plan["scaling_batch"]
    add("image", "binarized_mnist", measure("train", image_config, timing))
  if "xla" in sections:
    for wiring in plan["wirings"]:
      for jit in (False, True):
        cfg = _variant(config, jit_compile=jit, decoder_wiring=wiring)
        add("xla", f"{wiring}/{'xla' if jit else 'no_xla'}", measure(
            "scaling", cfg, dict(scaling, length=plan["attention_length"])),
            wiring=wiring, jit_compile=jit)
  if "evaluation" in sections:
    for samples, batch_size, count in (
        (plan["eval_samples"], config.evals.batch_size, plan["eval_batches"]),
        (plan["memory_samples"], plan["memory_batch"], 1)):
      add("evaluation", f"iwae_s{samples}", measure("eval", config, dict(
          num_samples=samples, chunk_size=config.evals.chunk_size,
          batch_size=batch_size, num_batches=count)))
  if "length" in sections:
    for wiring in plan["wirings"]:
      for length in plan["lengths"]:
        add("length", f"{wiring}/T={length}", measure(
            "scaling", _variant(config, decoder_wiring=wiring),
            dict(scaling, length=length)), wiring=wiring, length=length)
  if "slots" in sections:
    for wiring in plan["wirings"]:
      for slots in plan["slots"]:
        add("slots", f"{wiring}/K={slots}", measure(
            "scaling", _variant(config, decoder_wiring=wiring,
                                num_slots=slots),
            dict(scaling, length=plan["attention_length"])),
            wiring=wiring, slots=slots)
  if "attention" in sections:
    for name in plan["attentions"]:
      for wiring in plan["wirings"]:
        cfg = _variant(config, decoder_wiring=wiring,
                       decoder_attention=ATTENTIONS[name])
        add("attention", f"{name}/{wiring}", measure(
            "attention", cfg, dict(scaling, length=plan["attention_length"])),
            attention=name, wiring=wiring)
  results["targets"] = check_targets(results)
  return results


def _rows_by(results, section, key, value):
  return [r for r in results.get(section, ()) if r.get(key) == value]


def check_targets(results):
  """Each target with its measured value and whether it is met."""
  targets = []

  def target(name, measured, goal, met, unit=""):
    targets.append(dict(name=name, measured=measured, goal=goal, met=met,
                        unit=unit))

  training = results.get("training", ())
  if training:
    mfu = training[0]["mfu"]
    target("training MFU (default config)", mfu, TARGETS["training_mfu"],
           mfu >= TARGETS["training_mfu"])
  evaluation = results.get("evaluation", ())
  if evaluation:
    mfu = evaluation[0]["mfu"]
    target("IWAE evaluation MFU", mfu, TARGETS["evaluation_mfu"],
           mfu >= TARGETS["evaluation_mfu"])
    memory = evaluation[-1]["peak_rss_mib"]
    target(f"peak memory, IWAE S={evaluation[-1]['num_samples']}", memory,
           TARGETS["memory_mib"], memory <= TARGETS["memory_mib"], "MiB")
  for wiring in WIRINGS:
    rows = {r["slots"]: r for r in _rows_by(results, "slots", "wiring",
                                            wiring)}
    if 8 in rows and 64 in rows:
      loss = 1.0 - rows[64]["elements_per_s"] / rows[8]["elements_per_s"]
      target(f"throughput lost from K=8 to K=64 ({wiring})", loss,
             TARGETS["slots_64_vs_8_loss"],
             loss <= TARGETS["slots_64_vs_8_loss"])
    rows = sorted(_rows_by(results, "length", "wiring", wiring),
                  key=lambda r: r["length"])
    if len(rows) > 1:
      # Total cost linear in length: the cost per token must not grow. It
      # may fall (fixed per-sequence work, such as writing the K slots, is
      # spread over more tokens); the worst growth from a shorter length to
      # a longer one is what is checked.
      per_token = [1.0 / r["elements_per_s"] for r in rows]
      growth = max(later / earlier - 1.0
                   for i, earlier in enumerate(per_token)
                   for later in per_token[i + 1:])
      target(f"growth of cost per token with length ({wiring})", growth,
             TARGETS["per_token_cost_growth"],
             growth <= TARGETS["per_token_cost_growth"])
  targets += comparison.check_targets(
      results.get("comparison", ()),
      results.get("machine", {}).get("cpu") or {})
  return targets


# -- Printing ----------------------------------------------------------------

_HEADER = (f"{'row':<46} {'precision':<14} {'ms/step':>9} {'(min-max)':>11} "
           f"{'elem/s':>9} {'GFLOP/s':>8} {'MFU':>6} {'peak MiB':>9}")


def format_row(section, row):
  """One printed line (or block) per measured row; the header on a new
  section."""
  if section == "machine":
    return (f"TensorFlow {row['tensorflow']}, {row['cpu_cores']} CPU cores, "
            f"{row['memory_gib']} GiB, threads intra {row['intra_op_threads']}"
            f" / inter {row['inter_op_threads']} (0 = TF's default: all "
            f"cores); fp32 matmul ceiling "
            f"{row['matmul_ceiling_gflops_per_s']:,.0f} GFLOP/s; "
            f"mode {row['mode']}\nCPU {row['cpu']['model'] or 'unknown'}: "
            + ", ".join(f"{name} {'yes' if row['cpu'][name] else 'no'}"
                        for name in machine.CPU_FEATURES))
  if "ms_per_batch" in row:
    timing = (f"{row['ms_per_batch']:>9.0f} "
              f"{row['ms_per_batch_min']:>5.0f}-{row['ms_per_batch_max']:<5.0f}")
  else:
    timing = (f"{row['ms_per_step']:>9.1f} "
              f"{row['ms_per_step_min']:>5.0f}-{row['ms_per_step_max']:<5.0f}")
  line = (f"{section + ': ' + row['name']:<46} "
          f"{row.get('precision', 'float32'):<14} {timing} "
          f"{row['elements_per_s']:>9,.0f} {row['model_gflops_per_s']:>8.1f} "
          f"{row['mfu']:>6.1%} {row['peak_rss_mib']:>9,.0f}")
  extras = []
  if "attention_share" in row:
    extras.append(f"attention {row['attention_ms']:.1f} ms = "
                  f"{row['attention_share']:.0%} of the step")
  if "sample_elements_per_s" in row:
    extras.append(f"S={row['num_samples']}: "
                  f"{row['sample_elements_per_s']:,.0f} token-samples/s")
  if "examples_per_s" in row and section == "image":
    extras.append(f"{row['examples_per_s']:,.0f} images/s")
  if "input_batches_per_s" in row:
    extras.append(f"input pipeline alone {row['input_batches_per_s']:,.0f} "
                  f"batches/s (the step takes "
                  f"{1000.0 / row['ms_per_step']:.1f}/s)")
  return line + ("  " + "; ".join(extras) if extras else "")


def format_targets(targets):
  lines = []
  for t in targets:
    if t["unit"] == "MiB":
      measured, goal = f"{t['measured']:,.0f} MiB", f"<= {t['goal']:,.0f} MiB"
    elif t["unit"] in ("x", "tokens/s"):
      measured = f"{t['measured']:,.2f}x" if t["unit"] == "x" else (
          f"{t['measured']:,.0f}")
      goal = f">= {t['goal']:,.4g}{'x' if t['unit'] == 'x' else ''}"
    elif t["unit"] == "min":
      measured, goal = f"{t['measured']:,.0f} min", f"<= {t['goal']:,.0f} min"
    elif "MFU" in t["name"]:
      measured, goal = f"{t['measured']:.1%}", f">= {t['goal']:.0%}"
    else:
      measured, goal = f"{t['measured']:.1%}", f"<= {t['goal']:.0%}"
    verdict = "met" if t["met"] else "MISSED"
    if not t["met"] and "MFU" in t["name"]:
      verdict += f" by {t['goal'] - t['measured']:.1%} points"
    elif not t["met"]:
      gap = abs(t["measured"] - t["goal"])
      verdict += (f" by {gap:,.2f}x" if t["unit"] == "x" else
                  f" by {gap:,.0f} {t['unit']}" if t["unit"] else
                  f" by {gap:,.3g}")
    lines.append(f"{t['name']:<52} {measured:>12}  target {goal:<12} "
                 f"{verdict}")
  return "\n".join(lines)
