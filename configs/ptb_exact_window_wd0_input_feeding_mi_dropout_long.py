"""`ptb_exact_window_wd0_input_feeding_mi_long.py` (1.25-nat floor, so KL >=
10) with decoder dropout 0.3, against `ptb_lm_dropout_long.py`.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_dropout_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_dropout_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_dropout_long --split=test --num_samples=500
"""

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_long as mi_long


def get_config(arg=None):
  return common.with_decoder_dropout(mi_long.mutual_information_kl10, arg)
