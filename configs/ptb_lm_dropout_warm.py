"""`ptb_lm_dropout_long.py` trained 6,000 steps more from its own best
checkpoint: the control of the `*_warm` latent rows, which start from the
same checkpoint with the same schedule (`common.warm_started`). A latent
row that beats `ptb_lm_dropout_long` but not this one has only gained the
extra steps.

  bin/train --config=configs/ptb_lm_dropout_warm.py --workdir=runs/ptb_lm_dropout_warm
  bin/evaluate --workdir=runs/ptb_lm_dropout_warm --split=test --num_samples=1
"""

from configs import common
from configs import ptb_lm


def get_config(arg=None):
  return common.warm_started(ptb_lm.get_config, arg)
