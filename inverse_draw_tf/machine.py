"""What the machine is: its CPU features and its fp32 matmul ceiling.

`bin/benchmark` prints both with every run, because the CPU kind changes
between sessions here and speeds only compare within one machine.
"""

import time

import tensorflow as tf


# The CPU features that decide which precision pays on a CPU: AVX-512, its
# bfloat16 dot products, and the AMX tile units (bf16 / int8 matmuls), which
# oneDNN uses for bfloat16 when present. They vary between machines here.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                "amx_bf16", "amx_int8")


def cpu_features(cpuinfo_path="/proc/cpuinfo"):
  """`{"model": name, feature: bool for each of CPU_FEATURES}` from the
  first processor's flags (all False, model None, where the file is
  missing, as off Linux)."""
  model, flags = None, set()
  try:
    with open(cpuinfo_path) as f:
      for line in f:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
          model = value.strip()
        elif key == "flags" and not flags:
          flags = set(value.split())
        if model is not None and flags:
          break
  except OSError:
    pass
  return dict(model=model, **{name: name in flags for name in CPU_FEATURES})


def matmul_ceiling(size=4096, repeats=10):
  """fp32 matmul throughput of TensorFlow on this machine (GFLOP/s).

  The best of square products of sides `size / 4`, `size / 2` and `size`
  with all cores (each the best of `repeats` timed runs after a warm-up).
  Several sides because the fastest is machine-dependent: on a 2-core AMD
  EPYC with 32 MB of L3, 4096-squares (64 MB a matrix) ran at 92 GFLOP/s
  and 1024-squares at 146; on the Intel Xeon kind 4096 was the fastest.
  """
  return max(_square_matmul(side, repeats)
             for side in sorted({max(size // 4, 64), max(size // 2, 64),
                                 size}))


def _square_matmul(size, repeats):
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
