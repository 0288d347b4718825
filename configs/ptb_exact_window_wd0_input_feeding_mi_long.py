"""`ptb_exact_window_wd0_input_feeding_mi_fb05_long.py` with the 1.25-nat KL
floor per slot (10 nats in all) of the other long window runs, so that issue
8's KL >= 10 holds by construction: can the mutual-information term give a
sharp, spread assignment and the language model's NLL with that much KL?

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_long --split=test --num_samples=500
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_long as mi


# The results-budget config (before `long_variant`), shared with the dropout row.
mutual_information_kl10 = functools.partial(mi.mutual_information,
                                            free_bits=1.25)


def get_config(arg=None):
  return common.long_variant(mutual_information_kl10, arg)
