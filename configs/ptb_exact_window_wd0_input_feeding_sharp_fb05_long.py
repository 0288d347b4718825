"""`ptb_exact_window_wd0_input_feeding_sharp_long.py` with a 0.5-nat KL floor
per slot (4 nats in all) instead of 1.25.

Issue 9's target asks for a sharp assignment (entropy <= 0.5 log 8, at least
4 slots with >= 5% of the words) at a test NLL at or below the language
model's; it sets no KL floor. Every nat of KL the free bits force beyond
what the decoder uses is paid in the bound: at 3,000 steps a 0.25-nat floor
took the test NLL from 116.67 to 112.31 but the alignment went uniform
(entropy 1.99) once the latents carried little. Here the entropy penalty
holds the alignment sharp while the floor is lowered, trading issue 8's
KL >= 10 for likelihood.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_sharp_fb05_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_sharp_fb05_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_sharp_fb05_long --split=test --num_samples=500
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_sharp_long as sharp


def get_config(arg=None):
  return common.long_variant(
      functools.partial(sharp.sharp_input_feeding, free_bits=0.5), arg)
