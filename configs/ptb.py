"""Inverse DRAW on Penn Treebank, and every variant the results study.

With no arg, the default model: 8 slots of 32 dimensions read by soft
content attention, input feeding, word dropout 0.3, 12,000 steps:

  bin/train --config=configs/ptb.py --workdir=runs/ptb
  bin/evaluate --workdir=runs/ptb --split=test --num_samples=500

A `key=value,...` arg picks a variant; configs/results.py holds every
studied one. The released model (RESULTS.md), for example:

  bin/train --config=configs/ptb.py:alignment=exact,attention=window,window_step=0.33,posterior_window_step=3.0,word_dropout=0,free_bits=0.25,entropy_weight=2,balance_weight=2,decoder_dropout=0.3,budget=frozen --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_frozen
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_frozen --split=test --num_samples=500

Add `runlocal` to the arg (`configs/ptb.py:runlocal`,
`configs/ptb.py:budget=long,runlocal`) for a seconds-long smoke test.

The keys (defaults: the base config's, `configs/common.py`):
  budget: "default", "results", "long", "warm", "frozen" or "literature"
    (`common.set_budget`). The results rows use `results` unless they say.
  optimizer: "adam" (the default) or "sgd", Li et al. 2019's SGD with
    learning-rate halving on validation plateaus (`common.set_optimizer`).
  epochs: the training length in validations (an epoch apart in the
    literature budget); 0 keeps the budget's or the optimizer's.
  plateau_patience, plateau_start_epoch: with `optimizer=sgd`, the stale
    validations that halve the learning rate (0: the recipe's five) and
    the first epoch that may (-1: the recipe's 15; `common.set_plateau`).
  free_bits_per_dimension: the floor on each example's KL in each latent
    dimension (Li et al.'s "fb=2"); needs free_bits=0.
  clip_separately: clip the decoder's gradient and the latent side's
    (encoder, posteriors, priors) to the clip norm each
    (`optimizer.clip_separately`), so a large latent-side gradient, such as
    an autoencoder-pretrained posterior's KL, does not also shrink the
    decoder's update; for `optimizer=sgd`, whose updates are the clipped
    gradients.
  aggressive: aggressive inference-network training (He et al. 2019,
    https://arxiv.org/abs/1901.05534; `optimizer.aggressive_inference`,
    inverse_draw_tf/aggressive.py): the encoder and posteriors are trained
    alone until their loss stops falling before each decoder update, until
    the validation's mutual information stops rising.
  iwae_samples: 1 (the ELBO) or k > 1: train the IWAE bound on k samples
    (Burda et al. 2016, `objective.training_samples`); needs no floor.
  attention: the decoder's read head: "content" (cosine keys, NTM),
    "location" (NTM content, interpolation, shift, sharpening),
    "dot_product" (scaled, Luong) or "window" (a monotone window moving
    over the slots).
  window_kernel: the decoder window's "gaussian" or "cauchy" (heavy-tailed)
    kernel.
  window_step: the decoder window's initial step in slots per word; 0 is
    the layer's default.
  window_min_width, posterior_window_min_width: 0 (none) or a floor on the
    decoder's (posterior's) window precision, in slots (words): one large
    SGD step can saturate the width's softplus, leaving a window that reads
    everything uniformly for good (`attention.WindowAttention`). 0.5 keeps
    the decoder's window over 8 slots at <= 1.3 nats on average. On row 3
    the windows sat at their floors, 4 nats of ELBO behind (RESULTS.md).
  encoder_context: 0 (the default: the posterior reads a BiLSTM's states,
    each of which can summarise the whole sentence) or c > 0: each position
    the posterior reads sees only the c words on either side
    (`model.encoder_context`, `encoders.LocalEncoder`), so under
    `posterior_window_step` a slot can only describe its own span.
  posterior_window_step: 0 (the posterior reads the sentence by content)
    or a monotone Gaussian window for the posterior too, slot k starting on
    its own stretch of this many words. Windows on both sides break the
    symmetry of exchangeable slots, which soft and exact reads by content
    leave uniform (results/probes/).
  alignment: how a word reads the slots (`model.decoder_alignment`): "soft"
    (the expected read), "exact" (one slot a_t ~ p(a_t | h_t) per word,
    marginalised exactly), "gumbel" (a straight-through Gumbel-softmax hard
    read) or "variational" (q(a_t | x) in training, Deng et al. 2018,
    https://arxiv.org/abs/1807.03756).
  wiring: "input_feeding" (the read enters the LSTM and the output layer)
    or "output_only" (the output layer only, so a_t is a per-word choice
    the LSTM never sees).
  normalizer: the decoder head's "softmax", "sparsemax" (Martins &
    Astudillo 2016, https://arxiv.org/abs/1602.02068) or "entmax15"
    (Peters et al. 2019, https://arxiv.org/abs/1905.05702); the sparse ones
    give slots exactly zero weight.
  word_dropout: the probability of hiding each input word from the decoder
    (Bowman et al. 2016); 0 lets it see every word, as the language model
    does.
  free_bits: the per-slot floor on the batch-averaged KL in nats (Kingma et
    al. 2016): 1.25 puts the total of 8 slots at the 10 nats issue 8 asks
    for.
  bn_gamma: 0 (off) or gamma of BN-VAE (Zhu et al. 2020,
    https://arxiv.org/abs/2004.12585; `model.posterior_mean_batchnorm_gamma`):
    every posterior mean is batch-normalised to this fixed scale and a
    learned shift, which floors each slot's batch-averaged KL at about
    latent_dim * gamma^2 / 2 nats without a hinge (2 nats for the results
    budget's 16-dimensional slots at 0.5).
  bn_levels: with bn_gamma and levels >= 2, how many levels from the bottom
    are normalised (`model.posterior_mean_batchnorm_levels`); 0, the
    default, is every level. 1 forces information into the lowest level
    only, so an upper level's KL is its own choice.
  entropy_weight: the weight of the decoder attention's mean entropy in the
    loss (`objective.attention_entropy_weight`), pushing each word to read
    few slots.
  balance_weight: the weight of the entropy of the batch's slot shares,
    subtracted from the loss (`objective.slot_balance_weight`); equal to
    `entropy_weight`, the pair is minus the mutual information between a
    word and its slot, so sharp reads must also spread over the slots.
  decoder_dropout: dropout on the decoder's inputs and LSTM outputs
    (Zaremba et al. 2014). The rows use 0.3, untuned: the lower end of what
    Zaremba et al. used on PTB, for a decoder half their medium model's
    size; the language model they compare with gets the same.
  kl_schedule: "linear" KL annealing, "cyclical" (Fu et al. 2019,
    https://arxiv.org/abs/1903.10145: 4 cycles, each rising over its first
    half), "none" (weight 1 from the start) or "zero" (weight 0 throughout:
    an autoencoder, its KL still reported; phase 1 of Li et al. 2019,
    `init_inference_from`).
  levels: 1, 2 for 8 word-rate slots under 2 sentence-rate slots, or 3
    for 8 under 4 under 2.
  prior_alignment: with levels >= 2, "soft" (the default: a lower slot's prior
    is centred on the read's blend of the upper slots) or "exact" (each
    lower slot comes from one upper slot, a mixture marginalised exactly;
    `model.prior_alignment`, `mixture_prior.py`).
  prior_window_step: with levels >= 2, 0 (the lower level reads the upper by
    content, in the prior and the top-down posterior) or a monotone
    Gaussian window with this initial step in upper slots per lower slot,
    the symmetry breaker that made one level choose.
  kl_level_delay: with levels >= 2, 0 (every level anneals its KL
    together) or how many KL warm-ups later each level above the lowest
    starts its annealing (`objective.kl_level_delay_steps`): an upper
    level's KL is free while the levels below learn to use it.
  level_balance: with levels >= 2, the weight of the upper slots' balance
    (`objective.level_balance_weight`): the entropy of the upper slots'
    shares of the lower slots subtracted from the loss, so the lower slots
    do not all come from one upper slot.
  level_entropy: with levels >= 2, the weight of the mean entropy of the
    prior's reads of the upper slots (`objective.level_entropy_weight`),
    added to the loss: each lower slot from few upper slots. Equal to
    `level_balance`, the pair is minus their mutual information.
  learning_rate: the peak learning rate; 0 keeps the budget's. The warm
    rows at 3e-4 start nearer the rate the language model ended at.
  precision: the training precision, "float32" or "mixed_bfloat16"
    (`train.precision`); evaluation and export run in float32 either way.
  init_inference_from: "" (the default) or the workdir of a trained run
    with the same vocabulary, encoder and posterior sizes, e.g. one with
    `kl_schedule=zero` (`train.init_inference_from`): a fresh run copies
    its encoder and posteriors and initialises the rest afresh (Li et al.
    2019, https://arxiv.org/abs/1909.00868; docs/options.md); `runlocal`
    clears it.
  init_from: "" (the budget's: none, or the language model of the warm and
    frozen budgets) or the workdir of a trained language model
    (`model.num_slots=0`) with the same vocabulary and decoder sizes
    (`train.init_from`): the decoder starts as that model, its read rows at
    zero, so training starts from the language model's likelihood
    (`warm_start.py`); with `init_inference_from` the inference network
    comes from an autoencoder as well. `runlocal` clears it.
  min_scale: the floor on every posterior and prior standard deviation
    (`model.min_scale`, 1e-4 by default). An autoencoder (`kl_schedule=zero`)
    drives its posterior's scales to the floor; at 1e-4 the KL's gradient
    (1 / sigma per dimension) is then 10,000 when a second phase turns the
    KL on, at 0.1 it is 10.
  tie_embeddings: the decoder's output rows for its state are its input
    embedding's transpose (`model.tie_embeddings`; needs decoder units equal
    to the embedding size, as `budget=literature` has them).
"""

from configs import common

ATTENTIONS = ("content", "location", "dot_product", "window")


def get_config(arg=None):
  """The default config, or the variant `arg` names (module docstring)."""
  config = common.get_config()
  model, objective = config.model, config.objective
  arg = common.parse_arg(
      arg, budget="default", attention=model.decoder_attention,
      window_kernel="gaussian", window_step=0.0, posterior_window_step=0.0,
      window_min_width=0.0, posterior_window_min_width=0.0,
      encoder_context=model.encoder_context,
      alignment=model.decoder_alignment, wiring=model.decoder_wiring,
      normalizer=model.decoder_normalizer, word_dropout=model.word_dropout,
      free_bits=objective.free_bits,
      bn_gamma=model.posterior_mean_batchnorm_gamma,
      bn_levels=model.posterior_mean_batchnorm_levels,
      entropy_weight=objective.attention_entropy_weight,
      balance_weight=objective.slot_balance_weight,
      decoder_dropout=model.decoder_dropout,
      kl_schedule=objective.kl_schedule, levels=1,
      prior_alignment=model.prior_alignment, prior_window_step=0.0,
      kl_level_delay=0.0, level_balance=objective.level_balance_weight,
      level_entropy=objective.level_entropy_weight,
      learning_rate=0.0,
      optimizer="adam", precision=config.train.precision, epochs=0,
      plateau_patience=0, plateau_start_epoch=-1,
      free_bits_per_dimension=objective.free_bits_per_dimension,
      iwae_samples=objective.training_samples,
      clip_separately=config.optimizer.clip_separately,
      aggressive=config.optimizer.aggressive_inference,
      init_inference_from=config.train.init_inference_from, init_from="",
      min_scale=model.min_scale, tie_embeddings=model.tie_embeddings)
  if arg.attention not in ATTENTIONS:
    raise ValueError(f"`attention` must be one of {ATTENTIONS}, received "
                     f"{arg.attention!r}.")
  if arg.attention != "window" and (arg.window_step or arg.window_min_width or
                                    arg.window_kernel != "gaussian"):
    raise ValueError("`window_step`, `window_min_width` and `window_kernel` "
                     f"need `attention=window`, received {arg.attention!r}.")
  if arg.posterior_window_min_width and not arg.posterior_window_step:
    raise ValueError("`posterior_window_min_width` floors the posterior's "
                     "window: it needs `posterior_window_step` > 0.")

  common.set_budget(config, arg.budget)
  common.set_optimizer(config, arg.optimizer, latents=True)
  common.set_plateau(config, arg.plateau_patience, arg.plateau_start_epoch)
  config.model.update(decoder_alignment=arg.alignment,
                      decoder_wiring=arg.wiring,
                      decoder_normalizer=arg.normalizer,
                      word_dropout=arg.word_dropout,
                      decoder_dropout=arg.decoder_dropout,
                      posterior_mean_batchnorm_gamma=arg.bn_gamma,
                      posterior_mean_batchnorm_levels=arg.bn_levels,
                      prior_alignment=arg.prior_alignment,
                      min_scale=arg.min_scale,
                      tie_embeddings=arg.tie_embeddings,
                      encoder_context=arg.encoder_context)
  config.objective.update(free_bits=arg.free_bits,
                          attention_entropy_weight=arg.entropy_weight,
                          slot_balance_weight=arg.balance_weight,
                          level_balance_weight=arg.level_balance,
                          level_entropy_weight=arg.level_entropy,
                          kl_schedule=arg.kl_schedule)
  config.optimizer.update(clip_separately=arg.clip_separately,
                          aggressive_inference=arg.aggressive)
  if arg.learning_rate:
    config.optimizer.learning_rate = arg.learning_rate
  if arg.epochs:
    config.train.num_steps = arg.epochs * config.train.eval_every
  config.objective.update(free_bits_per_dimension=arg.free_bits_per_dimension,
                          training_samples=arg.iwae_samples)
  config.train.update(precision=arg.precision,
                      init_inference_from=arg.init_inference_from)
  if arg.init_from:
    config.train.init_from = arg.init_from
  fields = {}
  if arg.attention == "window":
    fields["decoder_attention"] = common.window_attention(
        arg.window_kernel, arg.window_step, arg.window_min_width)
  else:
    config.model.decoder_attention = arg.attention
  if arg.posterior_window_step:
    fields["posterior_attention"] = common.window_attention(
        "gaussian", arg.posterior_window_step, arg.posterior_window_min_width)
  fields.update(common.hierarchy_fields(config, arg.levels,
                                        arg.prior_window_step))
  if fields:
    common.replace_model_fields(config, **fields)
  if arg.runlocal:
    common.shrink_for_local_run(config)
  common.set_kl_level_delay(config, arg.kl_level_delay)
  return config
