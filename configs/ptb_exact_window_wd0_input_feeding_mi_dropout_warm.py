"""`ptb_exact_window_wd0_input_feeding_mi_dropout_long.py` (1.25-nat floor,
so KL >= 10) with its decoder warm-started from `ptb_lm_dropout_long` and
trained 6,000 steps (`common.warm_started`), against
`ptb_lm_dropout_warm.py`: issue 8's four PTB targets in one run.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_dropout_warm.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_dropout_warm
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_dropout_warm --split=test --num_samples=100
"""

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_long as mi_long


def get_config(arg=None):
  return common.warm_started(mi_long.mutual_information_kl10, arg)
