"""`ptb_exact_window_wd0_input_feeding_long.py` with the 0.5-nat KL floor per
slot and no entropy penalty: the control for
`ptb_exact_window_wd0_input_feeding_sharp_fb05_long.py`, which scored 0.21
nats below the language model with one slot in use. Is the likelihood the
lower floor's, and what does the assignment do without the penalty?

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_fb05_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_fb05_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_fb05_long --split=test --num_samples=100
"""

from configs import common
from configs import ptb_exact_window_wd0_input_feeding


def _fb05(arg=None):
  config = ptb_exact_window_wd0_input_feeding.get_config(arg)
  config.objective.free_bits = 0.5
  return config


def get_config(arg=None):
  return common.long_variant(_fb05, arg)
