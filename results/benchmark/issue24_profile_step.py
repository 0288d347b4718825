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
by_type = collections.Counter(); by_name = collections.Counter(); count = collections.Counter()
for plane in space.planes:
  if "Host" not in plane.name and "CPU" not in plane.name: continue
  meta = plane.event_metadata
  for line in plane.lines:
    if "TraceMe" in line.name or "python" in line.name.lower(): continue
    for ev in line.events:
      name = meta[ev.metadata_id].name
      if ":" in name:
        op_name, op_type = name.rsplit(":", 1)
      else:
        continue
      by_type[op_type] += ev.duration_ps / 1e9
      count[op_type] += 1
      by_name[op_name.split("/")[-2] if "/" in op_name else op_name] += ev.duration_ps / 1e9
total = sum(by_type.values())
print(f"total op ms {total:.0f} over {steps} steps = {total/steps:.1f} ms/step (summed over threads)")
for k, v in by_type.most_common(30):
  print(f"{k:34s} {v/steps:8.2f} ms/step  {count[k]/steps:7.0f} ops/step  {100*v/total:5.1f}%")
print("---- by scope (excluding Process)")
scopes = collections.Counter()
samples = {}
for plane in space.planes:
  if "Host" not in plane.name and "CPU" not in plane.name: continue
  meta = plane.event_metadata
  for line in plane.lines:
    for ev in line.events:
      name = meta[ev.metadata_id].name
      if ":" not in name or name.endswith(":Process"): continue
      op_name = name.rsplit(":", 1)[0]
      parts = op_name.split("/")
      key = "/".join(p for p in parts[:4])
      scopes[key] += ev.duration_ps / 1e9
for k, v in scopes.most_common(40):
  print(f"{k[:90]:90s} {v/steps:8.2f}")
print("lines:", [(p.name, [l.name for l in p.lines][:8]) for p in space.planes])
print("---- inside loops by scope+type")
inner = collections.Counter(); inner_n = collections.Counter()
for plane in space.planes:
  if "Host" not in plane.name and "CPU" not in plane.name: continue
  meta = plane.event_metadata
  for line in plane.lines:
    for ev in line.events:
      name = meta[ev.metadata_id].name
      if ":" not in name or name.endswith(":Process"): continue
      op_name, op_type = name.rsplit(":", 1)
      for scope in ("gradient_tape/inverse_draw_1/decoder_1", "inverse_draw_1/decoder_1/scan", "gradient_tape/inverse_draw_1/posterior_0_1", "inverse_draw_1/posterior_0_1/scan", "gradient_tape/inverse_draw_1/scan", "inverse_draw_1/scan/while"):
        if scope in op_name and (scope.startswith("gradient") or "gradient_tape" not in op_name):
          short = "bwd " if scope.startswith("gradient") else "fwd "
          short += scope.split("/")[-2] if scope.endswith("scan") or scope.endswith("while") else scope.split("/")[-1]
          inner[(short, op_type)] += ev.duration_ps / 1e9; inner_n[(short, op_type)] += 1
          break
for k, v in sorted(inner.items(), key=lambda kv: (kv[0][0], -kv[1])):
  if v / steps > 0.4:
    print(f"{k[0]:24s} {k[1]:28s} {v/steps:7.2f} ms/step {inner_n[k]/steps:6.0f} ops/step")
