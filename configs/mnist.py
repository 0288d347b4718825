"""Inverse DRAW on statically binarized MNIST: one 28-pixel row per step.

  bin/train --config=configs/mnist.py --workdir=runs/mnist
  bin/evaluate --workdir=runs/mnist --split=test --num_samples=50
  bin/train --config=configs/mnist.py:variant=exact_window,budget=long --workdir=runs/mnist_exact_window_long
  bin/evaluate --workdir=runs/mnist_exact_window_long --split=test --num_samples=1000
  bin/train --config=configs/mnist.py:variant=exact_window,budget=literature --workdir=runs/mnist_exact_window_literature

The keys:
  variant: "window" (soft reads through a monotone window over the 8
    slots, the posterior reading the image by content), "exact_window"
    (the PTB rows' attention: each row comes from one slot, marginalised
    exactly, under monotone Gaussian windows on both sides spread over the
    image: the decoder's prior moves 8/28 slots per row, slot k of the
    posterior starts on its own 28/8-row stretch) or "rows" (the decoder
    alone, K=0: each row predicted exactly from the rows above, so S=1).
  budget: "results" (3,000 steps, about 4 epochs, as the PTB results
    budget), "long" (four times the steps, `common.stretch`) or
    "literature" (ten times: 30,000 steps, about 38 epochs of the 50,000
    training images; issue 26's MNIST row against DRAW) or "fine_tune"
    (3,000 steps more from the trained run `init_model_from` names, at a
    seventh of the learning rate and the KL weight at 1 throughout).
  init_model_from: with `budget=fine_tune`, the workdir of a trained run
    of the same config whose every weight the run starts from
    (`train.init_model_from`).
  iwae_samples: 1 (the ELBO) or k > 1 to train on the IWAE bound with k
    samples (Burda et al. 2016, `objective.training_samples`); best/ then
    keeps the checkpoint of the best validation IWAE_k bound.
  levels: 1, 2 for the 8 row-rate slots under 2 image-rate slots, or 3 for
    8 under 4 under 2 (`common.LEVEL_SLOTS`), as in `configs/ptb.py`.
  prior_alignment: with levels >= 2, "soft" (a lower slot's prior is
    centred on the read's blend of the upper slots) or "exact" (each lower
    slot comes from one upper slot, a mixture marginalised exactly).
  prior_window_step: with levels >= 2, 0 (the lower level reads the upper by
    content) or a monotone Gaussian window with this initial step in upper
    slots per lower slot.
  bn_gamma: 0 (off) or gamma of BN-VAE (Zhu et al. 2020,
    https://arxiv.org/abs/2004.12585; `model.posterior_mean_batchnorm_gamma`)
    on every level's posterior means, as in `configs/ptb.py`: the lever
    tried against the upper level's collapse (RESULTS.md, "A hierarchy of
    levels").
  kl_level_delay, level_balance, level_entropy: with levels >= 2, the upper
    levels' KL annealing delayed by this many KL warm-ups per level
    (`objective.kl_level_delay_steps`), the weight of the upper slots'
    balance (`objective.level_balance_weight`) and of the entropy of the
    prior's reads of them (`objective.level_entropy_weight`), as in
    `configs/ptb.py`.
  inference_units: 0 (the default's 128) or the units of the encoder and
    the posterior's slot writer (the decoder has 256): the inference side's
    size, the lever RESULTS.md names for the gap to DRAW.
  entropy_weight, balance_weight: the decoder attention's entropy penalty
    and the slots' balance (`objective.attention_entropy_weight`,
    `objective.slot_balance_weight`; equal, the pair is minus the mutual
    information between a row and its slot), as in `configs/ptb.py`: the
    lever tried for a sharp assignment of rows to slots (results/probes/).
  row_autoregression: 0 (a row's 28 pixels independent given the decoder's
    state) or the hidden units of the masked network that makes each pixel
    depend on the pixels left of it in its row
    (`model.group_autoregressive_units`, group_autoregression.py).
No free bits: the image models use their latents without a floor. Add
`runlocal` to the arg (`configs/mnist.py:runlocal`) for a seconds-long smoke
test.
"""

from configs import common

VARIANTS = ("window", "exact_window", "rows")
# How many times the 3,000 results steps each budget trains.
BUDGET_STRETCH = {"results": 1, "long": 4, "literature": 10, "fine_tune": 1}


def get_config(arg=None):
  """The soft window model, or the variant `arg` names (module docstring)."""
  arg = common.parse_arg(arg, variant="window", budget="results", levels=1,
                         prior_alignment="soft", prior_window_step=0.0,
                         bn_gamma=0.0, kl_level_delay=0.0,
                         level_balance=0.0, level_entropy=0.0,
                         inference_units=0,
                         row_autoregression=0, init_model_from="",
                         iwae_samples=1, entropy_weight=0.0,
                         balance_weight=0.0)
  if arg.variant not in VARIANTS:
    raise ValueError(f"`variant` must be one of {VARIANTS}, received "
                     f"{arg.variant!r}.")
  if arg.budget not in BUDGET_STRETCH:
    raise ValueError(f"`budget` must be one of {tuple(BUDGET_STRETCH)}, "
                     f"received {arg.budget!r}.")
  if (arg.budget == "fine_tune") != bool(arg.init_model_from):
    raise ValueError("`budget=fine_tune` and `init_model_from` go together: "
                     "pass both (a trained run's workdir) or neither.")
  if arg.variant == "rows" and arg.levels != 1:
    raise ValueError("`variant=rows` has no slots, so no levels: drop "
                     f"`levels={arg.levels}` or pick another variant.")
  config = common.get_config()
  config.input.update(dataset="binarized_mnist", batch_size=64,
                      eval_batch_size=256)
  config.model.update(observation="binary_image", embedding_dim=128,
                      encoder_units=128, decoder_units=256,
                      posterior_units=128, num_slots=8, latent_dim=16,
                      word_dropout=0.0, decoder_attention="window",
                      posterior_mean_batchnorm_gamma=arg.bn_gamma)
  if arg.inference_units < 0:
    raise ValueError("`inference_units` must be >= 0 (0 keeps 128), "
                     f"received {arg.inference_units}.")
  if arg.inference_units:
    config.model.update(encoder_units=arg.inference_units,
                        posterior_units=arg.inference_units)
  if arg.row_autoregression < 0:
    raise ValueError("`row_autoregression` must be >= 0 (0 = off), "
                     f"received {arg.row_autoregression}.")
  config.model.group_autoregressive_units = arg.row_autoregression
  config.optimizer.update(learning_rate=2e-3, warmup_steps=100)
  config.objective.update(kl_warmup_steps=1500,
                          level_balance_weight=arg.level_balance,
                          level_entropy_weight=arg.level_entropy,
                          training_samples=arg.iwae_samples,
                          attention_entropy_weight=arg.entropy_weight,
                          slot_balance_weight=arg.balance_weight)
  config.train.update(num_steps=3000, eval_every=500, eval_batches=10,
                      checkpoint_every=250)
  config.evals.update(num_samples=1000, chunk_size=100, batch_size=64)
  if arg.variant == "exact_window":
    config.model.decoder_alignment = "exact"
    common.replace_model_fields(
        config,
        decoder_attention=common.window_attention(initial_step=8 / 28),
        posterior_attention=common.window_attention(initial_step=28 / 8))
  config.model.prior_alignment = arg.prior_alignment
  fields = common.hierarchy_fields(config, arg.levels, arg.prior_window_step)
  if fields:
    common.replace_model_fields(config, **fields)
  if arg.budget == "fine_tune":
    # The trained run ended at 2e-4 (cosine to a tenth) with its KL annealed.
    config.optimizer.learning_rate = 3e-4
    config.objective.kl_schedule = "none"
    config.train.init_model_from = arg.init_model_from
  if BUDGET_STRETCH[arg.budget] > 1:
    common.stretch(config, factor=BUDGET_STRETCH[arg.budget])
  if arg.runlocal:
    common.shrink_for_local_run(config)
  common.set_kl_level_delay(config, arg.kl_level_delay)
  if arg.variant == "rows":
    config.model.num_slots = 0
    config.objective.kl_schedule = "none"
    config.evals.update(num_samples=1, chunk_size=1)
  return config
