"""Where a training step's time goes: the TensorFlow profiler over timed steps.

  python results/benchmark/issue24_profile_step.py released_li_sizes mixed_bfloat16 10

Times <steps> training steps of a comparison row (inverse_draw_tf/comparison.py)
under `tf.profiler`, then sums the host op events (thread time, so up to
2x the wall time on 2 cores) by op type, by name scope, and inside each
recurrence (forward and gradient loops of the encoder, slot writer and
decoder). The "Process" rows are the executor's parents of the op events,
not extra time. RESULTS.md, Performance, quotes its figures for
2026-12-07.
"""
import collections, glob, os, sys, shutil
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.chdir(ROOT)
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2
from inverse_draw_tf import benchmark, comparison, data

row, precision = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
config = comparison.configs()[row]
config.train.precision = precision
logdir = f"/tmp/inverse_draw_profile_{row}_{precision}"
shutil.rmtree(logdir, ignore_errors=True)
original = benchmark._timed_repeats
def profiled(run_once, repeats):
  tf.profiler.experimental.start(logdir)
  result = original(run_once, repeats)
  tf.profiler.experimental.stop()
  return result
benchmark._timed_repeats = profiled
result = benchmark.time_training(config, data.Input(config.input), steps=steps, warmup=5)
print(f"ms/step {result['ms_per_step']:.1f} tokens/s {result['elements_per_s']:.0f}")
path = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]
space = xplane_pb2.XSpace()
space.ParseFromString(open(path, "rb").read())


def op_events():
  """`(op name, op type, thread milliseconds)` of every host op event."""
  for plane in space.planes:
    if "Host" not in plane.name and "CPU" not in plane.name:
      continue
    for line in plane.lines:
      if "TraceMe" in line.name or "python" in line.name.lower():
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if ":" in name:
          op_name, op_type = name.rsplit(":", 1)
          yield op_name, op_type, event.duration_ps / 1e9


by_type, count = collections.Counter(), collections.Counter()
scopes = collections.Counter()
inner, inner_count = collections.Counter(), collections.Counter()
# Each recurrence's forward loop and its gradient loop, by name scope.
LOOPS = ("gradient_tape/inverse_draw_1/decoder_1",
         "inverse_draw_1/decoder_1/scan",
         "gradient_tape/inverse_draw_1/posterior_0_1",
         "inverse_draw_1/posterior_0_1/scan",
         "gradient_tape/inverse_draw_1/scan", "inverse_draw_1/scan/while")
for op_name, op_type, ms in op_events():
  by_type[op_type] += ms
  count[op_type] += 1
  if op_type == "Process":
    continue
  scopes["/".join(op_name.split("/")[:4])] += ms
  for scope in LOOPS:
    backward = scope.startswith("gradient")
    if scope in op_name and (backward or "gradient_tape" not in op_name):
      parts = scope.split("/")
      loop = parts[-2] if parts[-1] in ("scan", "while") else parts[-1]
      key = ("bwd " if backward else "fwd ") + loop, op_type
      inner[key] += ms
      inner_count[key] += 1
      break

total = sum(by_type.values())
print(f"total op ms {total:.0f} over {steps} steps = {total/steps:.1f} "
      "ms/step (summed over threads)")
for k, v in by_type.most_common(30):
  print(f"{k:34s} {v/steps:8.2f} ms/step  {count[k]/steps:7.0f} ops/step  "
        f"{100*v/total:5.1f}%")
print("---- by scope (excluding Process)")
for k, v in scopes.most_common(40):
  print(f"{k[:90]:90s} {v/steps:8.2f}")
print("---- inside loops by scope+type")
for k, v in sorted(inner.items(), key=lambda kv: (kv[0][0], -kv[1])):
  if v / steps > 0.4:
    print(f"{k[0]:24s} {k[1]:28s} {v/steps:7.2f} ms/step "
          f"{inner_count[k]/steps:6.0f} ops/step")
