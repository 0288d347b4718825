"""Settings shared by every experiment; each config file overrides what changes.

Not an experiment by itself: `ptb.py` is the default Inverse DRAW run. Also
here: the budgets every PTB config takes (`set_budget`), the smoke-test
shrink (`shrink_for_local_run`) and the reader of `key=value,...` config
args (`parse_arg`).
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
      # 0: a BiLSTM encoder; c > 0: each position sees c words a side.
      encoder_context=0,
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
      # Attention that chooses (docs/options.md): soft
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
      # BN-VAE (Zhu et al. 2020, https://arxiv.org/abs/2004.12585): > 0
      # batch-normalises every posterior mean (per slot and dimension) to
      # this fixed scale and a learned shift, which floors each slot's
      # batch-averaged KL at about latent_dim * gamma^2 / 2 nats without a
      # hinge (docs/options.md). 0 is off.
      posterior_mean_batchnorm_gamma=0.0,
      # With BN-VAE in a hierarchy: how many levels from the bottom
      # normalise their means (0: every level).
      posterior_mean_batchnorm_levels=0,
      # In a hierarchy, how a lower slot comes from the level above under
      # the prior: "soft" (around the read's blend) or "exact" (from one
      # upper slot, a mixture marginalised exactly; mixture_prior.py).
      prior_alignment="soft",
      # The decoder's output rows for its state as the transpose of its
      # input embedding (Press & Wolf 2017; needs decoder_units ==
      # embedding_dim): a different model, so compare tied with tied.
      tie_embeddings=False,
      # Images: 0 (a step's pixels independent given the decoder state) or
      # the hidden units of a MADE that orders them (group_autoregression.py).
      group_autoregressive_units=0,
  ))

  config.optimizer = ml_collections.ConfigDict(dict(
      # "adam" (Keras' Adam, one fused update per variable) or "sgd" (plain
      # SGD with `momentum`: the LSTM language models of Zaremba et al. 2014
      # and Li et al. 2019 are trained with it at learning rate 1).
      name="adam",
      momentum=0.0,
      learning_rate=1e-3,
      # "warmup_cosine", "constant", or "plateau": constant until the
      # validation ELBO has not improved for `plateau_patience` validations
      # in a row, then times `plateau_factor` with the weights of the best
      # validation restored; the run stops at the `plateau_max_decays`-th
      # plateau (Li et al. 2019's schedule, train_lib.train). Stale
      # validations before `plateau_start_step` count but never decay.
      schedule="warmup_cosine",
      plateau_factor=0.5,
      plateau_patience=2,
      plateau_max_decays=5,
      plateau_start_step=0,
      warmup_steps=500,
      final_learning_rate_fraction=0.1,
      clip_norm=5.0,  # Global norm of the all-reduced gradient.
      # Clip the decoder's gradient and the rest's to clip_norm each.
      clip_separately=False,
      # Aggressive inference-network training (He et al. 2019,
      # inverse_draw_tf/aggressive.py): before each decoder update, up to
      # `aggressive_max_inner_steps` updates of the encoder and posteriors
      # alone, stopping when the mean loss of a window of
      # `aggressive_window` of them rises; off for good once the
      # validation's mutual information falls.
      aggressive_inference=False,
      aggressive_max_inner_steps=100,
      aggressive_window=15,
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
      # rising linearly for kl_cycle_ratio of each cycle, then flat at 1) or
      # "zero" (weight 0 throughout: an autoencoder whose KL is still
      # reported, phase 1 of Li et al. 2019's recipe, docs/options.md).
      kl_schedule="linear",
      kl_warmup_steps=5000,
      kl_cycles=4,
      kl_cycle_ratio=0.5,
      # With levels >= 2 and the linear schedule: level l (0 the lowest)
      # starts its annealing l times this many steps later, so an upper
      # level's KL is free while the levels below learn to use it.
      kl_level_delay_steps=0,
      # Per-slot floor on the batch-averaged KL in nats (Kingma et al. 2016).
      free_bits=0.0,
      # Or a floor per example and latent dimension (Li et al. 2019's
      # "fb=2"); one of the two floors only.
      free_bits_per_dimension=0.0,
      # Importance samples per example in the training loss: 1 trains the
      # ELBO; k > 1 the IWAE bound (Burda et al. 2016), without free bits.
      training_samples=1,
      analytic_kl=True,
      # Weight of the decoder attention's mean entropy (nats) in the loss:
      # > 0 pushes each element to read few slots. 0 leaves the ELBO alone.
      attention_entropy_weight=0.0,
      # Weight of the entropy of the batch's slot shares, subtracted from the
      # loss: with the same weight as above the pair is minus the mutual
      # information between a read and its slot, so sharp reads must also
      # spread over the slots. 0 leaves the ELBO alone.
      slot_balance_weight=0.0,
      # The same one level up, in a hierarchy: weight of the entropy of the
      # upper slots' shares of the lower slots (the prior's read weights),
      # subtracted from the loss, so the lower slots do not all come from
      # one upper slot. 0 leaves the ELBO alone.
      level_balance_weight=0.0,
      # The entropy penalty one level up: weight of the mean entropy of the
      # prior's read weights over the upper slots, added to the loss, so
      # each lower slot comes from few upper slots; with the weight above
      # the pair is minus their mutual information. 0 leaves the ELBO alone.
      level_entropy_weight=0.0,
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
      # "float32", or "mixed_bfloat16": float32 variables and optimizer
      # state, bfloat16 matmuls and recurrences, float32 log-softmaxes,
      # densities, KLs and loss (model.build_model). It pays on CPUs with
      # AMX-BF16 or AVX512-BF16 (bin/benchmark says which this one has) and
      # on GPUs; elsewhere bfloat16 matmuls run no faster than float32.
      # Evaluation and export always run in float32.
      precision="float32",
      # The workdir of a trained language model (num_slots=0, same sizes and
      # vocabulary) whose decoder a fresh run starts from, read rows zeroed
      # (inverse_draw_tf/warm_start.py); "" trains from scratch.
      init_from="",
      # Keep the weights copied from `init_from` fixed: only the latent
      # parts and the read rows train (warm_start.frozen_gradient_masks).
      freeze_init_from=False,
      # The workdir of a trained run with latents (same vocabulary, encoder
      # and posterior sizes; e.g. an autoencoder, kl_schedule="zero") whose
      # encoder and posteriors a fresh run starts from, everything else at
      # its fresh initialisation (Li et al. 2019,
      # https://arxiv.org/abs/1909.00868; warm_start.py); "" copies none.
      init_inference_from="",
      # The workdir of a trained run of the same model whose every weight a
      # fresh run starts from (a fine-tuning stage, e.g. on the IWAE bound;
      # warm_start.warm_start_model); "" copies none.
      init_model_from="",
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


BUDGETS = ("default", "results", "long", "warm", "frozen", "literature")

# PTB's training split: 42,068 sentences, 1,315 batches of 32 an epoch.
PTB_TRAIN_SENTENCES = 42068
LITERATURE_EPOCHS = 40

# The language model that `budget=warm` and `budget=frozen` start from:
# train it first (configs/results.py lists it before them). A path relative
# to the directory bin/train runs in, as `--workdir` is.
WARM_START_RUN = "runs/ptb_lm_dropout_long"


def set_budget(config, budget):
  """Sets a config built on `get_config()` to a named budget, in place.

  The budgets:
    default: `get_config()` as it is: 12,000 steps at batch 64 with the
      full sizes, 1.5-2 hours a run on 2 CPU cores.
    results: the budget every results row shares, so rows compare: the
      dozens of runs on 2 CPU cores cannot each take hours. The demo's
      sizes (128-unit encoder and posterior, a 256-unit decoder,
      16-dimensional slots; 8 slots as the default), batch 32 and 3,000
      steps (2.3 epochs of the 42,068 PTB training sentences).
    long: `results` at four times the steps (`stretch`), to ask whether a
      ranking holds nearer convergence.
    warm: `results` for 6,000 steps (`stretch` by 2) with the decoder
      warm-started from the language model in `WARM_START_RUN`
      (`train.init_from`, inverse_draw_tf/warm_start.py): peak learning
      rate 1e-3, half the from-scratch rate, since the decoder is trained
      and the encoder and posterior are new, after 500 warm-up steps (fresh
      Adam moments). Every warm row, the language model's own continuation
      included, gets this schedule, so they compare at 18,000 steps of
      decoder training.
    frozen: `warm` with the copied weights kept fixed
      (`train.freeze_init_from`): only the latent parts and the read rows
      train.
    literature: the sizes and length of the published PTB text VAEs (Li et
      al. 2019, https://arxiv.org/abs/1909.00868; He et al. 2019,
      https://arxiv.org/abs/1901.05534): embedding 256, 256-unit encoder,
      decoder and slot writers, 16-dimensional slots, batch 32, 40 epochs
      (52,600 steps), learning rate 1e-3, KL annealed over the first 10
      epochs, a validation every epoch.

  Args:
    config: a config from `get_config()` (the sizes `results` shrinks).
    budget: one of `BUDGETS`.

  Returns:
    `config`.

  Raises:
    ValueError: for a budget not in `BUDGETS`.
  """
  if budget not in BUDGETS:
    raise ValueError(f"`budget` must be one of {BUDGETS}, received "
                     f"{budget!r}.")
  if budget == "default":
    return config
  if budget == "literature":
    epoch = -(-PTB_TRAIN_SENTENCES // 32)
    config.input.update(batch_size=32, eval_batch_size=128)
    config.model.update(embedding_dim=256, encoder_units=256,
                        decoder_units=256, posterior_units=256,
                        prior_units=256, latent_dim=16)
    config.optimizer.update(learning_rate=1e-3, warmup_steps=500)
    config.objective.update(kl_warmup_steps=10 * epoch,
                            gumbel_anneal_steps=10 * epoch)
    config.train.update(num_steps=LITERATURE_EPOCHS * epoch,
                        eval_every=epoch, eval_batches=20,
                        checkpoint_every=500)
    return config
  config.input.update(batch_size=32, eval_batch_size=128)
  config.model.update(embedding_dim=128, encoder_units=128,
                      decoder_units=256, posterior_units=128,
                      prior_units=128, latent_dim=16)
  config.optimizer.update(learning_rate=2e-3, warmup_steps=100)
  config.objective.update(kl_warmup_steps=1500, gumbel_anneal_steps=2500)
  config.train.update(num_steps=3000, eval_every=500, eval_batches=10,
                      checkpoint_every=250)
  if budget == "long":
    stretch(config, factor=4)
  elif budget in ("warm", "frozen"):
    stretch(config, factor=2)
    config.optimizer.update(learning_rate=1e-3, warmup_steps=500)
    config.train.update(init_from=WARM_START_RUN,
                        freeze_init_from=budget == "frozen")
  return config


OPTIMIZERS = ("adam", "sgd")
# Li et al. 2019 train for up to 100 epochs; their schedule usually ends the
# run sooner (`set_optimizer`).
LITERATURE_MAX_EPOCHS = 100


def set_optimizer(config, name, latents=False):
  """Sets a config's optimiser to a named recipe, in place.

  The recipes:
    adam: the config as it is (Adam under its budget's schedule).
    sgd: Li et al. 2019's (https://arxiv.org/abs/1909.00868, their code's
      lm.py): plain SGD at learning rate 1 on the per-sentence loss,
      gradients clipped at global norm 5, the rate halved at every second
      validation in a row without a new best (with the best validation's
      weights restored), the run over at the fifth such plateau or after
      `LITERATURE_MAX_EPOCHS` epochs, a validation per epoch. With
      `latents` (their text_anneal_fb.py for VAEs) the plateau is five
      stale validations and none comes before epoch 15. Meant for the
      literature budget, whose sizes and batch it keeps.

  Args:
    config: a config built on `get_config()`.
    name: one of `OPTIMIZERS`.
    latents: the model has latent variables (Li et al.'s VAE schedule).

  Returns:
    `config`.

  Raises:
    ValueError: for a name not in `OPTIMIZERS`.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}, received "
                     f"{name!r}.")
  if name == "sgd":
    config.optimizer.update(name="sgd", momentum=0.0, learning_rate=1.0,
                            schedule="plateau", warmup_steps=0, clip_norm=5.0,
                            plateau_factor=0.5, plateau_patience=2,
                            plateau_max_decays=5)
    epoch = -(-PTB_TRAIN_SENTENCES // config.input.batch_size)
    if latents:
      config.optimizer.update(plateau_patience=5,
                              plateau_start_step=15 * epoch)
    config.train.update(num_steps=LITERATURE_MAX_EPOCHS * epoch,
                        eval_every=epoch)
  return config


def set_plateau(config, patience=0, start_epoch=-1):
  """Overrides the plateau schedule's patience and first epoch, in place.

  Li et al.'s VAE schedule (`set_optimizer` with `latents`) waits 15 epochs
  and five stale validations before its first halving; a run whose
  validation is flat from the end of its KL anneal can take the language
  model's (two stale validations) from that epoch instead.

  Args:
    config: a config whose optimiser is `sgd` (schedule "plateau").
    patience: stale validations in a row that make a plateau; 0 keeps the
      recipe's.
    start_epoch: the first epoch (validation) that may decay; -1 keeps the
      recipe's.

  Returns:
    `config`.

  Raises:
    ValueError: (one line) without the plateau schedule, or for a negative
      patience or a start epoch below -1.
  """
  if patience == 0 and start_epoch == -1:
    return config
  if config.optimizer.schedule != "plateau":
    raise ValueError("`plateau_patience` and `plateau_start_epoch` set the "
                     "plateau schedule: add `optimizer=sgd`.")
  if patience < 0 or start_epoch < -1:
    raise ValueError(f"`plateau_patience` must be >= 0 and "
                     f"`plateau_start_epoch` >= -1, received {patience} and "
                     f"{start_epoch}.")
  if patience:
    config.optimizer.plateau_patience = patience
  if start_epoch >= 0:
    config.optimizer.plateau_start_step = start_epoch * config.train.eval_every
  return config


def stretch(config, factor):
  """Multiplies the steps of a config by `factor`, in place.

  Every schedule stretches with the steps, so a longer run anneals its KL
  and Gumbel temperature over the same fraction of training. Validations
  come twice as many steps apart, whatever the factor.
  """
  config.train.num_steps *= factor
  config.train.eval_every *= 2
  config.objective.kl_warmup_steps *= factor
  config.objective.gumbel_anneal_steps *= factor
  return config


def set_kl_level_delay(config, warmups):
  """Delays each level's KL annealing by `warmups` KL warm-ups per level
  above the lowest (`objective.kl_level_delay_steps`), in place; call it
  after the budget and any stretch or shrink have set the warm-up."""
  if warmups < 0:
    raise ValueError(f"`kl_level_delay` must be >= 0, received {warmups}.")
  num_slots = config.model.num_slots
  if warmups and (isinstance(num_slots, int) or len(num_slots) < 2):
    raise ValueError("`kl_level_delay` delays the upper levels' KL: it "
                     "needs `levels` of 2 or 3.")
  config.objective.kl_level_delay_steps = int(
      round(warmups * config.objective.kl_warmup_steps))
  return config


def window_attention(kernel="gaussian", initial_step=0.0, min_width=0.0):
  """The attention spec of a monotone window (attention.WindowAttention).

  Args:
    kernel: "gaussian" or "cauchy".
    initial_step: the window's step at initialisation, in slots per read
      for the decoder and in reads per slot for the posterior; 0 leaves
      the layer's default.
    min_width: the floor of the window's gaussian precision (cauchy scale);
      0 for none.
  """
  spec = dict(type="window", kernel=kernel)
  if initial_step:
    spec["initial_step"] = initial_step
  if min_width:
    spec["min_width"] = min_width
  return spec


# The hierarchies the configs build: `levels` -> slots per level, bottom
# first (8 slots read by the observation, then ever fewer, slower ones).
LEVEL_SLOTS = {1: 8, 2: (8, 2), 3: (8, 4, 2)}


def hierarchy_fields(config, levels, prior_window_step=0.0):
  """The model fields of a `levels`-deep hierarchy (`LEVEL_SLOTS`).

  Args:
    config: a config whose `model.latent_dim` every level takes.
    levels: 1, 2 or 3.
    prior_window_step: 0 (a lower level reads the upper by content, in the
      prior and the top-down posterior) or a monotone Gaussian window's
      initial step in upper slots per lower slot.

  Returns:
    A dict for `replace_model_fields` (empty for one level without a window).

  Raises:
    ValueError: `levels` is not 1, 2 or 3, or a window with one level.
  """
  if levels not in LEVEL_SLOTS:
    raise ValueError(f"`levels` must be 1, 2 or 3, received {levels!r}.")
  fields = {}
  if levels > 1:
    fields.update(num_slots=LEVEL_SLOTS[levels],
                  latent_dim=(config.model.latent_dim,) * levels)
  if prior_window_step:
    if levels == 1:
      raise ValueError("`prior_window_step` needs `levels` of 2 or 3, "
                       f"received levels={levels!r}.")
    fields["prior_attention"] = window_attention("gaussian",
                                                 prior_window_step)
  return fields


def replace_model_fields(config, **fields):
  """Sets model fields whose type differs from the default's (a tuple of
  per-level values for an int, a dict attention spec for a string), which
  ConfigDict's type safety refuses as plain assignments."""
  config.model = ml_collections.ConfigDict(dict(config.model.to_dict(),
                                                **fields))
  return config


def parse_arg(arg, **defaults):
  """Reads a config arg, `key=value,key=value`, over `defaults`.

  The arg is what follows the config file's `:` in
  `bin/train --config=configs/ptb.py:budget=long,runlocal`. Values read as
  booleans (`true`, `false`), integers or floats where they are one, else
  as strings; a key whose default is a float takes an integer too
  (`word_dropout=0`). A bare key sets a boolean key to true. Every config
  takes `runlocal`, which shrinks it to a CPU smoke test
  (`shrink_for_local_run`).

  Args:
    arg: the string, or None (every key at its default).
    **defaults: every key the config takes (but `runlocal`), with its
      default; the arg may set only these, each to a value of the default's
      type.

  Returns:
    A ConfigDict with every key.

  Raises:
    ValueError: (one line) for an unknown key, naming the known ones, or a
      value of another type than the key's default.
  """
  known = dict(defaults, runlocal=False)
  values = dict(known)
  for item in (arg or "").split(","):
    key, has_value, text = (part.strip() for part in item.partition("="))
    if not key and not has_value:
      continue  # An empty arg, or a trailing comma.
    if key not in known:
      raise ValueError(
          f"unknown config key `{key}` in {arg!r}; known keys: "
          f"{', '.join(known)}.")
    value = _literal(text) if has_value else True
    default = known[key]
    # Exact types: to isinstance, a bool is an int.
    if isinstance(default, float) and type(value) is int:  # pylint: disable=unidiomatic-typecheck
      value = float(value)
    if type(value) is not type(default):  # pylint: disable=unidiomatic-typecheck
      received = repr(text) if has_value else "no value"
      raise ValueError(
          f"config key `{key}` takes {_KINDS[type(default)]} (default "
          f"{default!r}), received {received} in {arg!r}.")
    values[key] = value
  return ml_collections.ConfigDict(values)


_KINDS = {bool: "true or false", int: "an integer", float: "a number",
          str: "a string"}


def _literal(text):
  """`text` as a bool, int or float where it reads as one, else itself."""
  if text.lower() in ("true", "false"):
    return text.lower() == "true"
  for kind in (int, float):
    try:
      return kind(text)
    except ValueError:
      pass
  return text


def shrink_for_local_run(config):
  """Makes any config a seconds-long CPU smoke test of the same code paths."""
  config.input.batch_size = 8
  config.input.eval_batch_size = 16
  config.model.embedding_dim = 16
  config.model.encoder_units = 16
  # A tied decoder needs its units equal to the embedding size.
  config.model.decoder_units = (
      16 if config.model.get("tie_embeddings", False) else 32)
  config.model.posterior_units = 16
  config.model.prior_units = 16
  if config.optimizer.schedule != "plateau":  # It has no warm-up.
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
  # A smoke test cannot depend on a trained run: it trains from scratch.
  config.train.init_from = ""
  config.train.freeze_init_from = False
  config.train.init_inference_from = ""
  config.train.init_model_from = ""
  return config
