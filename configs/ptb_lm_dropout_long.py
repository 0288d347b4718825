"""`ptb_lm_long.py` with decoder dropout 0.3: the language model that the
`*_dropout_long` latent rows must beat (same regularisation, same budget).
Without it the long language model overfits from step 6,000 on.

  bin/train --config=configs/ptb_lm_dropout_long.py --workdir=runs/ptb_lm_dropout_long
  bin/evaluate --workdir=runs/ptb_lm_dropout_long --split=test --num_samples=1
"""

from configs import common
from configs import ptb_lm


def get_config(arg=None):
  return common.with_decoder_dropout(ptb_lm.get_config, arg)
