"""Baseline: the Bowman-style sentence VAE (K=1) with KL annealing and word dropout.

  bin/train --config=configs/ptb_vae.py --workdir=runs/ptb_vae
  bin/evaluate --workdir=runs/ptb_vae --split=test --num_samples=500

One 32-dimensional slot at the results budget; `budget` takes any of
`common.BUDGETS`. Add `runlocal` to the arg (`configs/ptb_vae.py:runlocal`)
for a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  """The sentence VAE at the results budget, or the budget `arg` names."""
  arg = common.parse_arg(arg, budget="results")
  config = common.set_budget(common.get_config(), arg.budget)
  config.model.update(num_slots=1, latent_dim=32)
  if arg.runlocal:
    common.shrink_for_local_run(config)
  return config
