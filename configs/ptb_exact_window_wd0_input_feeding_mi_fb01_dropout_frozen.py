"""`ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_frozen.py` with a
0.1-nat KL floor per slot (0.8 nats in all).

Frozen, the lower floor scored better: on the first 224 test sentences at
S=50 the 0.5-nat floor came 0.27 nats above the language model and the
0.25-nat floor 0.07 (KL 3.83 and 1.90): the floor is KL the bound pays
whether or not the decoder uses it. Does a smaller one keep the latents
alive (with the decoder trained along, no floor collapsed by step 1,000)?

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb01_dropout_frozen.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb01_dropout_frozen
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb01_dropout_frozen --split=test --num_samples=500
"""

from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_frozen as frozen


def get_config(arg=None):
  return frozen.frozen_mutual_information(arg, free_bits=0.1)
