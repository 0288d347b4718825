"""Inverse DRAW on binarized MNIST with the PTB winner's attention (issue 9).

`mnist.py` with exact latent alignment: each 28-pixel row comes from one of
the 8 slots, marginalised exactly, under monotone Gaussian windows on both
sides (the decoder's prior moves forward about 0.29 slots per row, slot k of
the posterior starts on its own 3.5-row stretch). The expected read still
enters the LSTM (input feeding), as in `mnist.py`. No free bits: the
image models use their latents without a floor (`mnist.py` KL 9.1).

  bin/train --config=configs/mnist_exact_window.py --workdir=runs/mnist_exact_window
  bin/evaluate --workdir=runs/mnist_exact_window --split=test --num_samples=1000
"""

from configs import common
from configs import mnist


def get_config(arg=None):
  config = mnist.get_config(arg)
  config.model.decoder_alignment = "exact"
  common.replace_model_fields(
      config,
      decoder_attention=dict(type="window", kernel="gaussian",
                             initial_step=8 / 28),
      posterior_attention=dict(type="window", kernel="gaussian",
                               initial_step=28 / 8))
  return config
