"""`ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_long.py` with its
decoder warm-started from `ptb_lm_dropout_long` (inverse_draw_tf/
warm_start.py: the language model's weights, the read rows zero, so step 0
scores exactly as the language model does) and trained 6,000 steps
(`common.warm_started`), against `ptb_lm_dropout_warm.py`.

From scratch this run's sharp, spread assignment (entropy 0.05, 8 slots)
came 1.69 nats short of the language model with the same dropout (106.19
against 104.50): is that the latents' cost or a decoder trained less well
next to an encoder it has to learn with?

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_warm.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_warm
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_warm --split=test --num_samples=500
"""

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_long as mi


def get_config(arg=None):
  return common.warm_started(mi.mutual_information, arg)
