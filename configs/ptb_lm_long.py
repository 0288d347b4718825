"""`ptb_lm.py` at four times the steps (12,000): the baseline of the long rows.

  bin/train --config=configs/ptb_lm_long.py --workdir=runs/ptb_lm_long
  bin/evaluate --workdir=runs/ptb_lm_long --split=test --num_samples=1
"""

from configs import common
from configs import ptb_lm


def get_config(arg=None):
  return common.long_variant(ptb_lm.get_config, arg)
