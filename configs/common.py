"""Settings shared by every experiment; each config file overrides what changes.

Not an experiment by itself: `ptb.py` is the default Inverse DRAW run.
"""

import ml_collections


def get_config(runlocal=False):
  """The base config. `runlocal` shrinks everything to a CPU smoke test."""
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.input = ml_collections.ConfigDict(dict(
      # "ptb" (bundled), "text" (any one-sentence-per-line files given in
      # train_path/valid_path/test_path) or "binarized_mnist" (bundled).
      dataset="ptb",
      train_path="",
      valid_path="",
      test_path="",
      vocab_max_size=0,  # 0 = every training word type.
      vocab_min_count=1,
      batch_size=64,
      eval_batch_size=128,
      # Tokens including <eos>. PTB train has 344 sentences over 50 tokens
      # and none over 83; training truncates the few over 64 (their first 63
      # words and <eos>), evaluation always keeps every sentence whole.
      max_length=64,
      length_policy="truncate",
      bucket_boundaries=(8, 12, 16, 20, 24, 28, 32, 40, 48),
  ))

  config.model = ml_collections.ConfigDict(dict(
      observation="text",
      embedding_dim=256,
      encoder_units=256,
      decoder_units=512,
      posterior_units=256,
      prior_units=256,
      num_slots=8,
      latent_dim=32,
      slots_per_token=0.0,
      decoder_attention="content",
      posterior_attention="content",
      prior_attention="content",
      decoder_wiring="input_feeding",
      posterior_type="recurrent",
      # Bowman et al. 2016 (https://arxiv.org/abs/1511.06349): weakening the
      # decoder's view of the words forces information through the latents.
      word_dropout=0.3,
      min_scale=1e-4,
      # Attention that chooses (README, "Attention that chooses"): soft
      # content attention over exchangeable slots stays uniform, so every
      # word reads the slots' average. "soft" (that expected read), "exact"
      # (each word comes from one slot a_t ~ p(a_t | h_t), marginalised
      # exactly), "gumbel" (straight-through Gumbel-softmax hard read) or
      # "variational" (Deng et al. 2018, https://arxiv.org/abs/1807.03756:
      # q(a_t | x) sampled in training, its KL to p(a_t | h_t) in the loss).
      decoder_alignment="soft",
      # The decoder head's normaliser: "softmax", "sparsemax" or "entmax15"
      # (the sparse ones give slots exactly zero weight).
      decoder_normalizer="softmax",
      # Probability of hiding each slot from the decoder in training.
      slot_dropout=0.0,
      # Dropout on the decoder's embedded inputs and LSTM outputs in training
      # (Zaremba et al. 2014): the 12,000-step language model overfits PTB
      # from step 6,000 on without it (runs/ptb_lm_long validation ELBO).
      decoder_dropout=0.0,
  ))

  config.optimizer = ml_collections.ConfigDict(dict(
      learning_rate=1e-3,
      schedule="warmup_cosine",  # or "constant"
      warmup_steps=500,
      final_learning_rate_fraction=0.1,
      clip_norm=5.0,  # Global norm of the all-reduced gradient.
      # Updates whose gradient norm exceeds this are skipped and counted, as
      # in vdvae (https://arxiv.org/abs/2011.10650); 0 disables the check.
      skip_grad_norm=0.0,
      beta_1=0.9,
      beta_2=0.999,
  ))

  config.objective = ml_collections.ConfigDict(dict(
      # KL annealing (Bowman et al. 2016): "none", "linear" (0 -> 1 over
      # kl_warmup_steps) or "cyclical" (Fu et al. 2019,
      # https://arxiv.org/abs/1903.10145: kl_cycles cycles over num_steps,
      # rising linearly for kl_cycle_ratio of each cycle, then flat at 1).
      kl_schedule="linear",
      kl_warmup_steps=5000,
      kl_cycles=4,
      kl_cycle_ratio=0.5,
      # Per-slot floor on the batch-averaged KL in nats (Kingma et al. 2016).
      free_bits=0.0,
      analytic_kl=True,
      # Weight of the decoder attention's mean entropy (nats) in the loss:
      # > 0 pushes each element to read few slots. 0 leaves the ELBO alone.
      attention_entropy_weight=0.0,
      # Weight of the entropy of the batch's slot shares, subtracted from the
      # loss: with the same weight as above the pair is minus the mutual
      # information between a read and its slot, so sharp reads must also
      # spread over the slots. 0 leaves the ELBO alone.
      slot_balance_weight=0.0,
      # Temperature of the Gumbel-softmax samples ("gumbel" and
      # "variational" alignments): geometric from start to end over
      # gumbel_anneal_steps, then flat (Jang et al. 2017,
      # https://arxiv.org/abs/1611.01144, anneal towards hard samples).
      gumbel_temperature_start=1.0,
      gumbel_temperature_end=0.1,
      gumbel_anneal_steps=10000,
  ))

  config.train = ml_collections.ConfigDict(dict(
      # About 18 epochs of PTB at batch 64: 1.5-2 hours per run on 2 CPU cores.
      num_steps=12000,
      log_every=50,
      eval_every=1000,
      eval_batches=20,  # Validation batches per in-training evaluation.
      checkpoint_every=500,
      keep_checkpoints=3,
      max_consecutive_nonfinite=20,
      # At every validation, TensorBoard gets the attention maps and
      # reconstructions of this many fixed validation examples (0 disables).
      summary_examples=4,
      # XLA (compiling the forward and backward pass once per bucket shape,
      # about 3 minutes for all ten) measured 490 against 501 ms/step on the
      # default PTB config here (bin/benchmark): not worth its compile time,
      # its extra 2 GB, or random draws that differ from the plain path.
      jit_compile=False,
      # The workdir of a trained language model (num_slots=0, same sizes and
      # vocabulary) whose decoder a fresh run starts from, read rows zeroed
      # (inverse_draw_tf/warm_start.py); "" trains from scratch.
      init_from="",
      # Keep the weights copied from `init_from` fixed: only the latent
      # parts and the read rows train (warm_start.frozen_gradient_masks).
      freeze_init_from=False,
  ))

  config.evals = ml_collections.ConfigDict(dict(
      split="test",
      num_samples=500,
      chunk_size=50,
      batch_size=32,
      # Mutual information needs q(z_i | x_j) for every pair in a batch, so
      # it is estimated on the first mi_batches batches only.
      mi_batches=10,
      max_examples=0,  # 0 = the whole split.
      # XLA compiles the IWAE bound once per bucket shape: 12.2k against
      # 9.2k token-samples/s on the default PTB config here.
      jit_compile=True,
  ))

  if runlocal:
    shrink_for_local_run(config)
  return config


def results_config():
  """The base config at the results budget (configs/results.py).

  Sixteen runs on 2 CPU cores cannot each take the default's 1.5-2 hours,
  so every results run shares this smaller budget: the demo's sizes
  (128-unit encoder and posterior, a 256-unit decoder, 16-dimensional
  slots; 8 slots as the default), batch 32 and 3,000 steps (2.3 epochs of
  the 42,068 PTB training sentences), about 10 minutes a run here when two
  runs share the cores. Same budget for every row, so rows compare;
  `long_budget` stretches a row to 12,000 steps.
  """
  config = get_config()
  config.input.update(batch_size=32, eval_batch_size=128)
  config.model.update(embedding_dim=128, encoder_units=128,
                      decoder_units=256, posterior_units=128,
                      prior_units=128, latent_dim=16)
  config.optimizer.update(learning_rate=2e-3, warmup_steps=100)
  config.objective.update(kl_warmup_steps=1500, gumbel_anneal_steps=2500)
  config.train.update(num_steps=3000, eval_every=500, eval_batches=10,
                      checkpoint_every=250)
  return config


def long_budget(config, factor=4):
  """Stretches a results-budget config to `factor` times the steps.

  At 3,000 steps the LSTM language model was still improving (its
  validation NLL fell 0.3 nats over the last 500 steps) and so was every
  latent model: the long rows ask whether the ranking holds nearer
  convergence. Every schedule stretches with the steps, so a long run
  anneals its KL and temperature over the same fraction of training.
  """
  config.train.num_steps *= factor
  config.train.eval_every *= 2
  config.objective.kl_warmup_steps *= factor
  config.objective.gumbel_anneal_steps *= factor
  return config


# The decoder dropout of the `*_dropout_long` rows, the language model's and
# the latent models' alike. One rate, not tuned: 0.3 is the lower end of what
# Zaremba et al. 2014 used on PTB, for a decoder half their medium model's size.
DECODER_DROPOUT = 0.3


def with_decoder_dropout(get_base_config, arg=None, rate=DECODER_DROPOUT):
  """`long_variant(get_base_config, arg)` with `model.decoder_dropout = rate`."""
  config = long_variant(get_base_config, arg)
  config.model.decoder_dropout = rate
  return config


# The language model that the `*_warm` rows start from: train it first
# (configs/results.py lists it before them). A path relative to the
# directory bin/train runs in, as `--workdir` is.
WARM_START_RUN = "runs/ptb_lm_dropout_long"


def warm_started(get_base_config, arg=None, init_from=WARM_START_RUN,
                 learning_rate=1e-3, freeze=False):
  """`get_base_config(arg)` with decoder dropout, its decoder warm-started
  from the language model in `init_from`, for 6,000 more steps.

  Every `*_warm` row, the language model's own continuation included, gets
  the same schedule, so the rows compare at 18,000 steps of decoder
  training: peak `learning_rate` (1e-3, half the from-scratch rate: the
  decoder is trained, the encoder and posterior are new; the `_lr3e4` rows
  use 3e-4, near the 2e-4 the language model ended at) after 500 warm-up
  steps (fresh Adam moments), cosine decay to a tenth, KL annealing over
  the first 3,000 steps. `freeze` keeps the copied weights fixed
  (`train.freeze_init_from`; the `_frozen` rows). A smoke test (`arg ==
  "runlocal"`) trains from scratch: it cannot depend on a trained run.
  """
  config = get_base_config(arg)
  config.model.decoder_dropout = DECODER_DROPOUT
  if arg != "runlocal":
    long_budget(config, factor=2)
    config.optimizer.update(learning_rate=learning_rate, warmup_steps=500)
    config.train.init_from = init_from
    config.train.freeze_init_from = freeze
  return config


def long_variant(get_base_config, arg=None):
  """`get_base_config(arg)` at `long_budget`, left as is when `arg ==
  "runlocal"` (a smoke test stays seconds long): one-line long configs."""
  config = get_base_config(arg)
  if arg != "runlocal":
    long_budget(config)
  return config


def replace_model_fields(config, **fields):
  """Sets model fields whose type differs from the default's (a tuple of
  per-level values for an int, a dict attention spec for a string), which
  ConfigDict's type safety refuses as plain assignments."""
  config.model = ml_collections.ConfigDict(dict(config.model.to_dict(),
                                                **fields))
  return config


def model_variant(arg=None, **model_fields):
  """The results config with other model fields (`replace_model_fields`),
  shrunk to a smoke test when `arg == "runlocal"`: one-line results configs."""
  config = replace_model_fields(results_config(), **model_fields)
  if arg == "runlocal":
    shrink_for_local_run(config)
  return config


def shrink_for_local_run(config):
  """Makes any config a seconds-long CPU smoke test of the same code paths."""
  config.input.batch_size = 8
  config.input.eval_batch_size = 16
  config.model.embedding_dim = 16
  config.model.encoder_units = 16
  config.model.decoder_units = 32
  config.model.posterior_units = 16
  config.model.prior_units = 16
  config.optimizer.warmup_steps = 5
  config.objective.kl_warmup_steps = 20
  config.objective.gumbel_anneal_steps = 20
  config.train.num_steps = 20
  config.train.log_every = 5
  config.train.eval_every = 10
  config.train.eval_batches = 2
  config.train.checkpoint_every = 10
  config.train.summary_examples = 2  # Still drawn, at half the cost.
  # Compiling every bucket shape costs more than a smoke run saves.
  config.train.jit_compile = False
  config.evals.jit_compile = False
  config.evals.num_samples = 5
  config.evals.chunk_size = 5
  config.evals.batch_size = 8
  config.evals.mi_batches = 1
  config.evals.max_examples = 16
  return config
