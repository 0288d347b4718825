"""Baseline: the LSTM language model (K=0), the decoder without latents.

Every Inverse DRAW row's NLL target compares against the language model
trained at the same budget with the same decoder dropout
(configs/results.py):

  bin/train --config=configs/ptb_lm.py --workdir=runs/ptb_lm
  bin/evaluate --workdir=runs/ptb_lm --split=test --num_samples=1
  bin/train --config=configs/ptb_lm.py:decoder_dropout=0.3,budget=long --workdir=runs/ptb_lm_dropout_long

Its likelihood is exact, so S=1. The keys: `budget` ("results", the
default, or any of `common.BUDGETS`; `warm` continues `ptb_lm_dropout_long`
from its own best checkpoint: the control of the warm latent rows),
`decoder_dropout`, `learning_rate` (0 keeps the budget's), `optimizer`
("adam", or "sgd": Li et al. 2019's SGD with learning-rate halving on
validation plateaus, `common.set_optimizer`), `precision` and
`tie_embeddings`, as in `ptb.py`. Add `runlocal` to the arg for a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  """The language model at the results budget, or the variant `arg` names."""
  config = common.get_config()
  arg = common.parse_arg(arg, budget="results",
                         decoder_dropout=config.model.decoder_dropout,
                         learning_rate=0.0, optimizer="adam",
                         precision=config.train.precision,
                         tie_embeddings=config.model.tie_embeddings)
  common.set_budget(config, arg.budget)
  common.set_optimizer(config, arg.optimizer)
  # Word dropout only helps a model with latents to lean on.
  config.model.update(num_slots=0, word_dropout=0.0,
                      decoder_dropout=arg.decoder_dropout,
                      tie_embeddings=arg.tie_embeddings)
  config.objective.kl_schedule = "none"
  if arg.learning_rate:
    config.optimizer.learning_rate = arg.learning_rate
  config.train.precision = arg.precision
  if arg.runlocal:
    common.shrink_for_local_run(config)
  config.evals.num_samples = 1  # Exact likelihood: nothing to sample.
  return config
