"""Baseline: the LSTM language model (K=0) with the default decoder.

  bin/train --config=configs/ptb_lm.py --workdir=runs/ptb_lm
  bin/evaluate --workdir=runs/ptb_lm --split=test --num_samples=1
"""

from configs import common


def get_config(arg=None):
  config = common.results_config()
  # Word dropout only helps a model with latents to lean on.
  config.model.update(num_slots=0, word_dropout=0.0)
  config.objective.kl_schedule = "none"
  config.evals.num_samples = 1  # Exact likelihood: nothing to sample.
  if arg == "runlocal":
    common.shrink_for_local_run(config)
    config.evals.num_samples = 1
  return config
