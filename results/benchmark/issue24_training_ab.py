"""Training throughput of one tree's code for one comparison row and precision.

  python results/benchmark/issue24_training_ab.py <tree> <row> <precision>

<tree> is a checkout (e.g. `git worktree add /tmp/old <commit>`); <row> is
`released_li_sizes` or `reference_sized` (inverse_draw_tf/comparison.py).
Run old and new trees alternately, each in a fresh process, so the host's
drift between sittings lands on both: 30 steps x 2 repeats after 5 warm-up.
"""
import json
import os
import sys

tree, row, precision = sys.argv[1:4]
sys.path.insert(0, tree)
os.chdir(tree)
from inverse_draw_tf import benchmark, comparison, data  # pylint: disable=g-import-not-at-top

config = comparison.configs()[row]
config.train.precision = precision
result = benchmark.time_training(config, data.Input(config.input), steps=30,
                                 warmup=5, repeats=2)
print(json.dumps(dict(tree=tree, row=row, precision=precision,
                      ms_per_step=round(result["ms_per_step"], 1),
                      ms_min=round(result["ms_per_step_min"], 1),
                      ms_max=round(result["ms_per_step_max"], 1),
                      tokens_per_s=round(result["elements_per_s"]))))
