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


def time_training(config, inputs, *, steps=30, warmup=5):
  """Times `steps` training steps after `warmup`; returns a dict of figures."""
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
  elements = 0.0
  start = time.perf_counter()
  for index in range(warmup, warmup + steps):
    out = step_fn(batches[index], tf.constant(index, tf.int64))
    elements += float(out["elements"])
  seconds = time.perf_counter() - start
  return dict(ms_per_step=1000.0 * seconds / steps,
              elements_per_s=elements / seconds,
              parameters=int(sum(np.prod(v.shape)
                                 for v in model.trainable_variables)),
              peak_rss_mib=peak_rss_mib())
