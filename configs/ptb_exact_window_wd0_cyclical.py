"""`ptb_exact_window_wd0.py` with cyclical KL annealing (Fu et al. 2019)
instead of the linear warm-up: issue 8's run 4 asks for the best model with
free bits and/or cyclical annealing. The KL weight rises from 0 to 1 over
the first half of each of 4 cycles of 750 steps and stays at 1 for the
second half (`objective.kl_schedule="cyclical"`, `kl_cycles=4`,
`kl_cycle_ratio=0.5`); the 1.25-nat floor per slot is kept, so the
comparison with `ptb_exact_window_wd0` is the schedule alone.

  bin/train --config=configs/ptb_exact_window_wd0_cyclical.py --workdir=runs/ptb_exact_window_wd0_cyclical
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_cyclical --split=test --num_samples=500
"""

from configs import ptb_exact_window_wd0


def get_config(arg=None):
  config = ptb_exact_window_wd0.get_config(arg)
  config.objective.update(kl_schedule="cyclical", kl_cycles=4,
                          kl_cycle_ratio=0.5)
  return config
