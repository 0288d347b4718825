"""`ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_warm.py` with the
weights copied from the language model frozen (`train.freeze_init_from`):
only the encoder, posterior, prior, attention and the rows that take the
read vector into the gates and logits train.

Warm-started and trained along with its decoder, this run scored 104.61
nats, as the language model continued under the same schedule did (104.60):
the latents paid for themselves, but the decoder's continuation lost 0.1
nats against the language model it started from (104.50). Frozen, the
decoder is that language model, and the latents are the only change.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_frozen.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_frozen
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_dropout_frozen --split=test --num_samples=500
"""

import functools

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_mi_fb05_long as mi


def frozen_mutual_information(arg=None, free_bits=0.5):
  """The mutual-information config warm-started from the dropout LM with the
  copied weights frozen, at this KL floor per slot (shared with the other
  `_frozen` rows)."""
  return common.warm_started(
      functools.partial(mi.mutual_information, free_bits=free_bits), arg,
      freeze=True)


def get_config(arg=None):
  return frozen_mutual_information(arg)
