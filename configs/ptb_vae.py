"""Baseline: the Bowman-style sentence VAE (K=1) with KL annealing and word dropout.

  bin/train --config=configs/ptb_vae.py --workdir=runs/ptb_vae
  bin/evaluate --workdir=runs/ptb_vae --split=test --num_samples=500
"""

from configs import common


def get_config(arg=None):
  config = common.results_config()
  config.model.update(num_slots=1, latent_dim=32)
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
