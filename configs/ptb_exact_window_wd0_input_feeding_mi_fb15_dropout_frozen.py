"""`ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_frozen.py` with a
1.5-nat KL floor per slot (12 nats in all): issue 8 asks for KL >= 10 and
the language model's NLL in one run.

The 1.25-nat floor (10 nats) ended at KL 9.42 on test when warm-started
and trained with its decoder (`..._mi_dropout_warm`): per-slot KL under the
floor gets no gradient, so the floor is a target the posterior may
undershoot, and 1.5 leaves room.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb15_dropout_frozen.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb15_dropout_frozen
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb15_dropout_frozen --split=test --num_samples=500
"""

from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_frozen as frozen


def get_config(arg=None):
  return frozen.frozen_mutual_information(arg, free_bits=1.5)
