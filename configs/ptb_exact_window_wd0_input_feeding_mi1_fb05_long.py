"""`ptb_exact_window_wd0_input_feeding_mi_fb05_long.py` at half the weight:
-1 x I(a; t) instead of -2 x. The unpenalised control at the same floor kept
8 slots at alignment entropy 1.57 (0.34 nats above the language model); the
question is how little pressure takes it under 0.5 log 8 = 1.04.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi1_fb05_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi1_fb05_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi1_fb05_long --split=test --num_samples=100
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_long as mi


def get_config(arg=None):
  return common.long_variant(functools.partial(mi.mutual_information,
                                               weight=1.0), arg)
