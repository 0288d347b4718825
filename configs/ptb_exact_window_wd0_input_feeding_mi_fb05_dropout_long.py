"""`ptb_exact_window_wd0_input_feeding_mi_fb05_long.py` with decoder dropout
0.3, against `ptb_lm_dropout_long.py`: the mutual-information run's
validation ELBO stopped improving after step 9,000, as the language model's
did after 6,000; does the same regularisation for both close the 0.67 nats?

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_long --split=test --num_samples=500
"""

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_long as mi


def get_config(arg=None):
  return common.with_decoder_dropout(mi.mutual_information, arg)
