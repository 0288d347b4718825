"""Baseline: the Bowman-style sentence VAE (K=1) with KL annealing and word dropout.

  bin/train --config=configs/ptb_vae.py --workdir=runs/ptb_vae
  bin/evaluate --workdir=runs/ptb_vae --split=test --num_samples=500

One 32-dimensional slot at the results budget. Add `runlocal` to the arg
(`configs/ptb_vae.py:runlocal`) for a seconds-long smoke test.

Li et al. 2019 (https://arxiv.org/abs/1909.00868) train it in two runs: an
autoencoder (KL weight 0), then a fresh run whose encoder and posterior are
the autoencoder's and whose decoder starts from scratch, with free bits
(docs/options.md, "Autoencoder pretraining"), both with their SGD schedule,
embedding and output dropout 0.5, no word dropout, and per-dimension free
bits at their PTB lambda of 5 nats (5 / 32 a dimension); configs/results.py
holds the rows:

  bin/train --config=configs/ptb_vae.py:budget=literature,optimizer=sgd,kl_schedule=zero,word_dropout=0,decoder_dropout=0.5 --workdir=runs/li_ae
  bin/train --config=configs/ptb_vae.py:budget=literature,optimizer=sgd,init_inference_from=runs/li_ae,free_bits_per_dimension=0.15625,word_dropout=0,decoder_dropout=0.5 --workdir=runs/li_fb5

The keys (defaults: the base config's, `configs/common.py`), as in
`configs/ptb.py` unless said:
  budget: "results" (the default) or any of `common.BUDGETS`.
  word_dropout: the probability of hiding each input word from the decoder
    (Bowman et al. 2016); 0.3 by default.
  free_bits: the floor on the slot's batch-averaged KL in nats (Kingma et
    al. 2016); with one slot, the floor of the whole KL.
  free_bits_per_dimension: the floor on each example's KL in each of the
    32 dimensions (Li et al.'s "fb=2": their target KL lambda is 32 times
    it); needs free_bits=0.
  bn_gamma: 0 (off) or gamma of BN-VAE (Zhu et al. 2020,
    https://arxiv.org/abs/2004.12585; `model.posterior_mean_batchnorm_gamma`):
    the posterior mean is batch-normalised to this fixed scale and a
    learned shift, which floors the batch-averaged KL at about
    32 * gamma^2 / 2 nats without a hinge (4 nats at 0.5).
  decoder_dropout: dropout on the decoder's inputs and LSTM outputs
    (Zaremba et al. 2014).
  kl_schedule: "linear" KL annealing (the default), "cyclical", "none" (the
    KL at weight 1 from the start) or "zero" (weight 0 throughout: an
    autoencoder, whose KL is still computed and reported).
  optimizer: "adam" (the default) or "sgd", Li et al. 2019's SGD with
    learning-rate halving on validation plateaus (`common.set_optimizer`),
    as their recipe trains both runs.
  learning_rate: the (peak) learning rate; 0 keeps the budget's or the
    optimizer recipe's.
  epochs: the training length in validations (an epoch apart in the
    literature budget); 0 keeps the budget's or the recipe's.
  precision: the training precision, "float32" or "mixed_bfloat16"
    (`train.precision`).
  init_inference_from: "" or the workdir of a trained run with the same
    vocabulary, encoder and posterior sizes (`train.init_inference_from`):
    a fresh run copies its encoder and posterior from that run's latest
    checkpoint and initialises the rest afresh; `runlocal` clears it.
  tie_embeddings, aggressive: as in `ptb.py` (He et al. 2019's aggressive
    training is for this model: their text VAE is this one).
"""

from configs import common


def get_config(arg=None):
  """The sentence VAE at the results budget, or the variant `arg` names."""
  config = common.get_config()
  model, objective, train = config.model, config.objective, config.train
  arg = common.parse_arg(
      arg, budget="results", word_dropout=model.word_dropout,
      free_bits=objective.free_bits,
      bn_gamma=model.posterior_mean_batchnorm_gamma,
      decoder_dropout=model.decoder_dropout,
      kl_schedule=objective.kl_schedule, precision=train.precision,
      init_inference_from=train.init_inference_from, optimizer="adam",
      free_bits_per_dimension=objective.free_bits_per_dimension,
      learning_rate=0.0, epochs=0, tie_embeddings=model.tie_embeddings,
      aggressive=config.optimizer.aggressive_inference)
  common.set_budget(config, arg.budget)
  common.set_optimizer(config, arg.optimizer, latents=True)
  config.optimizer.aggressive_inference = arg.aggressive
  if arg.learning_rate:
    config.optimizer.learning_rate = arg.learning_rate
  if arg.epochs:
    config.train.num_steps = arg.epochs * config.train.eval_every
  config.model.update(num_slots=1, latent_dim=32,
                      word_dropout=arg.word_dropout,
                      decoder_dropout=arg.decoder_dropout,
                      posterior_mean_batchnorm_gamma=arg.bn_gamma,
                      tie_embeddings=arg.tie_embeddings)
  config.objective.update(
      free_bits=arg.free_bits, kl_schedule=arg.kl_schedule,
      free_bits_per_dimension=arg.free_bits_per_dimension)
  config.train.update(precision=arg.precision,
                      init_inference_from=arg.init_inference_from)
  if arg.runlocal:
    common.shrink_for_local_run(config)
  return config
