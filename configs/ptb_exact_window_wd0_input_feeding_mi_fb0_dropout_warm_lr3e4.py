"""`ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_warm.py` at peak
learning rate 3e-4 and with no KL floor at all: the loss is the ELBO (with KL annealing over the first 3,000 steps) plus the mutual-information term on the assignment, so a latent is used only where it pays for its KL; against `ptb_lm_dropout_warm_lr3e4.py`.

With the 0.5-nat floor the warm-started run bought 1.3 nats of
reconstruction with 3.8 nats of KL by step 3,000: free bits make KL below
the floor cost nothing in the loss, so the posterior spends it whether or
not the decoder gains, but the bound pays it in full.

Measured: the latents collapsed by step 500 (KL 0.08 nats at KL weight
0.16, 0.01 at step 1,000; validation ELBO -102.40 against the language
model continuation's -102.32); the run was stopped at step 1,248 and is not
in configs/results.py. Its training log is in results/runs/.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb0_dropout_warm_lr3e4.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb0_dropout_warm_lr3e4
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb0_dropout_warm_lr3e4 --split=test --num_samples=500
"""

from configs import ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_warm_lr3e4 as fb025


def get_config(arg=None):
  return fb025.warm_mutual_information(arg, free_bits=0.0)
