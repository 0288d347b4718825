"""`ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_warm.py` at peak
learning rate 3e-4 and with a 0.25-nat KL floor per slot (2 nats in all) instead of 0.5; against `ptb_lm_dropout_warm_lr3e4.py`.

With the 0.5-nat floor the warm-started run bought 1.3 nats of
reconstruction with 3.8 nats of KL by step 3,000: free bits make KL below
the floor cost nothing in the loss, so the posterior spends it whether or
not the decoder gains, but the bound pays it in full.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_warm_lr3e4.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_warm_lr3e4
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_warm_lr3e4 --split=test --num_samples=500
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_long as mi


def warm_mutual_information(arg=None, free_bits=0.25):
  """The mutual-information config warm-started at peak learning rate 3e-4
  with this KL floor per slot (shared with the floor-less row)."""
  return common.warm_started(
      functools.partial(mi.mutual_information, free_bits=free_bits), arg,
      learning_rate=3e-4)


def get_config(arg=None):
  return warm_mutual_information(arg)
