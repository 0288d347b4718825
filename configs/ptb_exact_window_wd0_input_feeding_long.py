"""`ptb_exact_window_wd0_input_feeding.py` at four times the steps (12,000),
against `ptb_lm_long.py` at the same budget.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_long --split=test --num_samples=500
"""

from configs import common
from configs import ptb_exact_window_wd0_input_feeding


def get_config(arg=None):
  return common.long_variant(ptb_exact_window_wd0_input_feeding.get_config, arg)
