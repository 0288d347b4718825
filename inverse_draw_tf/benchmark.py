"""Throughput measurements of the real training step on real PTB batches.

`time_training` builds the model and optimizer of a config, runs the same
`train_lib.train_step` bin/train runs (compiled with `tf.function`, optionally
XLA), discards the warm-up steps (tracing, compilation) and reports wall-clock
figures for the rest. Benchmarks print numbers; they assert nothing.
"""

import resource
import time

import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import train_lib


def peak_rss_mib():
  """Peak resident memory of this process so far (MiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fixed_batches(inputs, config, count):
  """`count` real training batches, materialised so input cost is excluded."""
  dataset = inputs.train_dataset(config.input.batch_size, config.seed,
                                 pad_to_bucket_boundary=bool(
                                     config.train.jit_compile))
  return [batch for batch in dataset.take(count)]


def time_training(config, inputs, *, steps=30, warmup=5, repeats=1):
  """Times `steps` training steps after `warmup`, `repeats` times over the
  same batches; reports the median repeat and the spread (min, max ms/step),
  since timings on a shared machine vary from run to run."""
  strategy = tf.distribute.get_strategy()
  keras.utils.set_random_seed(config.seed)
  model = train_lib.build_model(config, inputs.vocab_size)
  model(train_lib.example_batch(model))
  optimizer = train_lib.build_optimizer(config.optimizer,
                                        config.train.num_steps)
  optimizer.build(model.trainable_variables)
  seed = tf.constant([config.seed, 0], tf.int32)
  batch_size = config.input.batch_size
  gradient_fn = tf.function(
      lambda batch, step: train_lib.loss_and_gradients(
          model, batch, step=step, seed=seed, config=config,
          global_batch_size=batch_size),
      jit_compile=bool(config.train.jit_compile), reduce_retracing=True)

  @tf.function(reduce_retracing=True)
  def step_fn(batch, step):
    return strategy.run(lambda b: train_lib.train_step(
        model, optimizer, b, step=step, seed=seed, config=config,
        global_batch_size=batch_size, gradient_fn=gradient_fn),
                        args=(batch,))

  batches = fixed_batches(inputs, config, steps + warmup)
  for index in range(warmup):
    step_fn(batches[index], tf.constant(index, tf.int64))
  durations = []
  for _ in range(repeats):
    elements = 0.0
    start = time.perf_counter()
    for index in range(warmup, warmup + steps):
      out = step_fn(batches[index], tf.constant(index, tf.int64))
      elements += float(out["elements"])
    durations.append(time.perf_counter() - start)
  seconds = float(np.median(durations))
  timed = batches[warmup:warmup + steps]
  flops = sum(training_flops(model, *b[next(iter(b))].shape[:2])
              for b in timed)
  return dict(ms_per_step=1000.0 * seconds / steps,
              ms_per_step_min=1000.0 * min(durations) / steps,
              ms_per_step_max=1000.0 * max(durations) / steps,
              repeats=repeats,
              elements_per_s=elements / seconds,
              model_gflops_per_s=flops / seconds / 1e9,
              parameters=int(sum(np.prod(v.shape)
                                 for v in model.trainable_variables)),
              peak_rss_mib=peak_rss_mib())


def matmul_ceiling(size=4096, repeats=10):
  """fp32 matmul throughput of TensorFlow on this machine (GFLOP/s).

  Square `size` x `size` products with all cores, the work a dense layer or
  an LSTM gate does; the best of `repeats` timed runs after one warm-up.
  """
  a = tf.random.stateless_normal([size, size], [1, 2])
  b = tf.random.stateless_normal([size, size], [3, 4])
  product = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
  product(a, b).numpy()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    product(a, b).numpy()
    best = min(best, time.perf_counter() - start)
  return 2.0 * size ** 3 / best / 1e9


def _lstm_flops(inputs, units):
  return 2.0 * (inputs + units) * 4 * units + 10.0 * units


def _attention_flops(query_dim, memory_slots, memory_dim, spec):
  """Multiply-adds (x2) of one read: projections, weights and the read."""
  kind = spec if isinstance(spec, str) else spec.get("type")
  read = 2.0 * memory_slots * memory_dim
  if kind == "window":
    components = 1 if isinstance(spec, str) else spec.get("num_components", 1)
    return 2.0 * query_dim * 3 * components + 8.0 * memory_slots * (
        components) + read
  projection = 2.0 * query_dim * memory_dim
  weights = 2.0 * memory_slots * memory_dim
  if kind == "location":
    weights += 10.0 * memory_slots * memory_slots  # Shift as a (K, K) map.
  return projection + weights + read


def training_flops(model, batch_size, length):
  """Analytic FLOPs of one training step (forward and backward = 3x forward).

  Counts the matrix work of the model for `batch_size` sequences of `length`
  elements: decoder LSTM, output layer, attention over the latents, the
  BiLSTM encoder and the slot writers with their attention over the
  observation. Elementwise work (gate nonlinearities, softmax) is counted
  roughly; embedding lookups are free.
  """
  decoder = model.decoder
  tokens = float(batch_size * length)
  read_dim = model.latent_dim[0] if model.num_levels else 0
  input_dim = model.embedding_dim + (
      read_dim if model.decoder_wiring == "input_feeding" else 0)
  per_token = _lstm_flops(input_dim, decoder.units)
  per_token += 2.0 * (decoder.units + read_dim) * model.element_dim
  forward = tokens * per_token
  if model.num_levels:
    forward += tokens * _attention_flops(decoder.units, model.num_slots[0],
                                         read_dim, model.decoder_attention)
    encoder_dim = 2 * model.encoder_units
    forward += tokens * 2 * _lstm_flops(model.embedding_dim,
                                        model.encoder_units)
    for level, (slots, dims) in enumerate(zip(model.num_slots,
                                              model.latent_dim)):
      above = model.latent_dim[level + 1] if level + 1 < model.num_levels else 0
      reads = encoder_dim + above
      per_slot = _lstm_flops(dims + reads, model.posterior_units)
      per_slot += _attention_flops(model.posterior_units, length, encoder_dim,
                                   model.posterior_attention)
      per_slot += 2.0 * 2 * (model.posterior_units + reads) * dims
      forward += batch_size * slots * per_slot
  return 3.0 * forward
