"""The demo: a small Inverse DRAW on PTB that trains in about 10 minutes on 2 CPU cores.

  bin/train --config=configs/ptb_small.py --workdir=runs/ptb_small
  bin/evaluate --workdir=runs/ptb_small --split=test

`make demo` trains and evaluates it in runs/demo, then writes its analysis
report. `configs/ptb_small.py:runlocal` is a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  """The demo config; `runlocal` is the only key."""
  arg = common.parse_arg(arg)
  config = common.get_config()
  config.input.batch_size = 32
  config.input.max_length = 40
  config.model.update(embedding_dim=128, encoder_units=128, decoder_units=256,
                      posterior_units=128, num_slots=4, latent_dim=16,
                      decoder_wiring="output_only")
  # Soft content attention over exchangeable slots stays uniform (every word
  # reads the slots' average). Monotone windows break the symmetry: slot k
  # covers a stretch of words, about 5 words per slot at the start.
  common.replace_model_fields(
      config,
      decoder_attention=dict(type="window", kernel="gaussian",
                             initial_step=0.2),
      posterior_attention=dict(type="window", kernel="gaussian",
                               initial_step=5.0))
  config.optimizer.update(learning_rate=2e-3, warmup_steps=100)
  config.objective.update(kl_warmup_steps=1500, free_bits=0.5)
  config.train.update(num_steps=3000, log_every=50, eval_every=500,
                      eval_batches=10, checkpoint_every=250)
  # S=20 keeps the demo's full test-set evaluation to a few minutes; the
  # results runs use S=500.
  config.evals.update(num_samples=20, chunk_size=20, batch_size=64,
                      mi_batches=3)
  if arg.runlocal:
    common.shrink_for_local_run(config)
  return config
