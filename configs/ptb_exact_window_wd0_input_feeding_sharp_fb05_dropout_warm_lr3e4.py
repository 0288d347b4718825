"""`ptb_exact_window_wd0_input_feeding_sharp_fb05_long.py` (the entropy
penalty alone, 0.5-nat floor) with decoder dropout, warm-started from
`ptb_lm_dropout_long` and trained 6,000 steps at peak learning rate 3e-4
(`common.warm_started`), against `ptb_lm_dropout_warm_lr3e4.py`.

From scratch and without dropout this run beat the language model (105.95
against 106.15) by reading one slot for nearly every word, a global
sentence vector; the language model with dropout is 1.45 nats lower. Does
the one-slot model still beat it when both decoders start from the same
weights? (Issue 8's likelihood target; the slot spread of issue 9 is not
expected.)

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_sharp_fb05_dropout_warm_lr3e4.py --workdir=runs/ptb_exact_window_wd0_input_feeding_sharp_fb05_dropout_warm_lr3e4
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_sharp_fb05_dropout_warm_lr3e4 --split=test --num_samples=100
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_sharp_long as sharp


def get_config(arg=None):
  return common.warm_started(
      functools.partial(sharp.sharp_input_feeding, free_bits=0.5), arg,
      learning_rate=3e-4)
