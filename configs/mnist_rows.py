"""Results baseline: the autoregressive row model on binarized MNIST (K=0).

The decoder of `mnist.py` with no latents: each 28-pixel row is predicted
from the rows above, exactly, so its NLL needs no importance sampling.

  bin/train --config=configs/mnist_rows.py --workdir=runs/mnist_rows
  bin/evaluate --workdir=runs/mnist_rows --split=test --num_samples=1
"""

from configs import mnist


def get_config(arg=None):
  config = mnist.get_config(arg)
  config.model.update(num_slots=0)
  config.objective.kl_schedule = "none"
  config.evals.num_samples = 1
  config.evals.chunk_size = 1
  return config
