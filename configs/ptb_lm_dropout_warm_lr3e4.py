"""`ptb_lm_dropout_warm.py` at peak learning rate 3e-4 instead of 1e-3: the
control of the `*_warm_lr3e4` latent rows. At 1e-3 the language model's
continuation never regained its starting validation ELBO (-102.57 at step
6,000 against -101.94): the restart kicked it out of its minimum.

  bin/train --config=configs/ptb_lm_dropout_warm_lr3e4.py --workdir=runs/ptb_lm_dropout_warm_lr3e4
  bin/evaluate --workdir=runs/ptb_lm_dropout_warm_lr3e4 --split=test --num_samples=1
"""

from configs import common
from configs import ptb_lm


def get_config(arg=None):
  return common.warm_started(ptb_lm.get_config, arg, learning_rate=3e-4)
