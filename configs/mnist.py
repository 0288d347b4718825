"""Inverse DRAW on statically binarized MNIST: one 28-pixel row per step.

  bin/train --config=configs/mnist.py --workdir=runs/mnist
  bin/evaluate --workdir=runs/mnist --split=test --num_samples=50
"""

from configs import common


def get_config(arg=None):
  config = common.get_config()
  config.input.update(dataset="binarized_mnist", batch_size=64,
                      eval_batch_size=256)
  config.model.update(observation="binary_image", embedding_dim=128,
                      encoder_units=128, decoder_units=256,
                      posterior_units=128, num_slots=8, latent_dim=16,
                      word_dropout=0.0, decoder_attention="window")
  # The results budget (common.results_config): 3,000 steps, about 4 epochs.
  config.optimizer.update(learning_rate=2e-3, warmup_steps=100)
  config.objective.update(kl_warmup_steps=1500)
  config.train.update(num_steps=3000, eval_every=500, eval_batches=10,
                      checkpoint_every=250)
  config.evals.update(num_samples=1000, chunk_size=100, batch_size=64)
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
