"""`ptb_exact_window_wd0_input_feeding_long.py` with the 0.5-nat KL floor per
slot and no entropy penalty: the control for
`ptb_exact_window_wd0_input_feeding_sharp_fb05_long.py`, which scored 0.21
nats below the language model with one slot in use. Is the likelihood the
lower floor's, and what does the assignment do without the penalty?

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_fb05_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_fb05_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_fb05_long --split=test --num_samples=100
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_sharp_long as sharp


def get_config(arg=None):
  # The entropy-penalty config with the penalty off: one place says what
  # the 0.5-nat input-feeding runs share.
  return common.long_variant(
      functools.partial(sharp.sharp_input_feeding, free_bits=0.5,
                        entropy_weight=0.0), arg)
