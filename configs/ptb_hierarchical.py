"""Two-level Inverse DRAW on PTB: 8 word-rate slots under 2 sentence-rate slots.

  bin/train --config=configs/ptb_hierarchical.py --workdir=runs/ptb_hierarchical
  bin/evaluate --workdir=runs/ptb_hierarchical --split=test --num_samples=500
"""

import ml_collections

from configs import common


def get_config(arg=None):
  config = common.get_config()
  # A per-level tuple replaces the integer fields (ConfigDict is type-safe).
  config.model = ml_collections.ConfigDict(
      dict(config.model.to_dict(), num_slots=(8, 2), latent_dim=(32, 32)))
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
