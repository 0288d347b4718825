"""`ptb_exact_window_wd0_input_feeding_sharp_fb05_long.py` with a quarter of
the entropy penalty: eta = 0.5 instead of 2.

At eta = 2 the decoder's window escaped the penalty by step 250 by jumping
past the last slot (steps of about 5 slots per word), so z7 produced 95% of
the words: entropy 0 but one slot in use. The unpenalised model's windows
were sharp (entropy 0.2) and spread over all 8 slots until the KL weight
neared 1, then broadened to 1.17. A smaller eta leaves that early, spread
out solution its small entropy cost and charges the late broadening.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_sharp05_fb05_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_sharp05_fb05_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_sharp05_fb05_long --split=test --num_samples=100
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_sharp_long as sharp


def get_config(arg=None):
  return common.long_variant(
      functools.partial(sharp.sharp_input_feeding, free_bits=0.5,
                        entropy_weight=0.5), arg)
