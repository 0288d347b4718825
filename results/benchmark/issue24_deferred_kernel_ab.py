"""Recurrent kernels' gradients in the loop against after it, paired in one process.

  python results/benchmark/issue24_deferred_kernel_ab.py <row> <precision> [rounds]

Builds the comparison row (inverse_draw_tf/comparison.py) twice with the same
seed: once as the tree now runs it (`recurrent.DeferredKernel`: each
recurrent kernel's gradient is one product after the loop) and once with the
kernel differentiated inside the loop, step by step, as before. Each
variant's step function is traced on every batch shape first; then the two
are timed alternately after one discarded pass each, `rounds` times
10 steps each, so the host's drift
between minutes lands on both. Prints one JSON line per round and a summary.
"""
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.chdir(ROOT)

import keras  # pylint: disable=g-import-not-at-top
import tensorflow as tf

from inverse_draw_tf import (benchmark, comparison, data, machine,
                             model as model_lib, optimization, recurrent)


class InLoopKernel:
  """`DeferredKernel`'s interface with the old maths: no tap, and the
  kernel's gradient computed and accumulated at every step."""

  def __init__(self, kernel):
    self.kernel = kernel
    self._transposed = tf.transpose(
        kernel, [0, 2, 1] if len(kernel.shape) == 3 else [1, 0])

  def tap(self, step_gates):
    return step_gates

  def product(self, states_t):
    return recurrent.matmul(states_t, self.kernel, self._transposed)

  def record_states(self, states, first):
    del states, first


def build_step(config, inputs, kernel_class, batches):
  original = recurrent.DeferredKernel
  recurrent.DeferredKernel = kernel_class
  try:
    keras.utils.set_random_seed(config.seed)
    model = model_lib.build_model(config.model, inputs.vocab_size,
                                  precision=config.train.precision)
    model(model_lib.example_batch(model))
    optimizer = optimization.build_optimizer(config.optimizer,
                                             config.train.num_steps)
    optimizer.build(model.trainable_variables)
    seed = tf.constant([config.seed, 0], tf.int32)

    @tf.function(reduce_retracing=True)
    def step_fn(batch, step):
      return optimization.train_step(
          model, optimizer, batch, step=step, seed=seed, config=config,
          global_batch_size=config.input.batch_size)

    for index, batch in enumerate(batches):  # Traces every shape.
      step_fn(batch, tf.constant(index, tf.int64))
    return step_fn
  finally:
    recurrent.DeferredKernel = original


def main():
  row, precision = sys.argv[1], sys.argv[2]
  rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 8
  config = comparison.configs()[row]
  config.train.precision = precision
  inputs = data.Input(config.input)
  batches = benchmark.training_batches(inputs, config, 10)
  steps = dict(in_loop=build_step(config, inputs, InLoopKernel, batches),
               deferred=build_step(config, inputs, recurrent.DeferredKernel,
                                   batches))
  for step_fn in steps.values():  # A discarded round: the first timed
    for index, batch in enumerate(batches):  # pass of a graph runs slower.
      step_fn(batch, tf.constant(index, tf.int64))
  times = {name: [] for name in steps}
  for round_index in range(rounds):
    order = list(steps) if round_index % 2 == 0 else list(steps)[::-1]
    for name in order:
      start = time.perf_counter()
      for index, batch in enumerate(batches):
        loss = steps[name](batch, tf.constant(index, tf.int64))
      tf.nest.map_structure(lambda t: t.numpy(), loss)
      times[name].append((time.perf_counter() - start) / len(batches) * 1e3)
    print(json.dumps(dict(row=row, precision=precision, round=round_index,
                          **{f"{n}_ms": round(t[-1], 1)
                             for n, t in times.items()})), flush=True)
  ratios = [a / b for a, b in zip(times["in_loop"], times["deferred"])]
  print(json.dumps(dict(
      row=row, precision=precision, rounds=rounds,
      in_loop_median_ms=round(statistics.median(times["in_loop"]), 1),
      deferred_median_ms=round(statistics.median(times["deferred"]), 1),
      speedup_median=round(statistics.median(ratios), 3),
      speedup_min=round(min(ratios), 3), speedup_max=round(max(ratios), 3),
      cpu=machine.cpu_features())), flush=True)


if __name__ == "__main__":
  main()
