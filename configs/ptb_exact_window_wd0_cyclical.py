"""`ptb_exact_window_wd0.py` with cyclical KL annealing (Fu et al. 2019).

Four cycles over the 3,000 steps, the KL weight rising from 0 to 1 over the
first half of each and flat at 1 for the second, with the same per-slot
floor of 1.25 nats: each restart lets the posterior write information into
the slots again while reconstruction dominates (issue 8, run 4: the best
model with free bits and cyclical annealing).

  bin/train --config=configs/ptb_exact_window_wd0_cyclical.py --workdir=runs/ptb_exact_window_wd0_cyclical
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_cyclical --split=test --num_samples=100
"""

from configs import ptb_exact_window_wd0


def get_config(arg=None):
  config = ptb_exact_window_wd0.get_config(arg)
  config.objective.update(kl_schedule="cyclical", kl_cycles=4,
                          kl_cycle_ratio=0.5)
  return config
