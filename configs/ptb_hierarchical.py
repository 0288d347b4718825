"""Two-level Inverse DRAW on PTB: 8 word-rate slots under 2 sentence-rate slots.

  bin/train --config=configs/ptb_hierarchical.py --workdir=runs/ptb_hierarchical
  bin/evaluate --workdir=runs/ptb_hierarchical --split=test --num_samples=500
"""

from configs import common


def get_config(arg=None):
  config = common.results_config()
  common.replace_model_fields(config, num_slots=(8, 2), latent_dim=(16, 16))
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
