"""The default Inverse DRAW on Penn Treebank: 8 latent slots of 32 dimensions.

  bin/train --config=configs/ptb.py --workdir=runs/ptb
  bin/evaluate --workdir=runs/ptb --split=test --num_samples=500

Append `:runlocal` to the config path for a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  return common.get_config(runlocal=arg == "runlocal")
