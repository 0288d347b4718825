"""Results run: Inverse DRAW on PTB, decoder attention = NTM location addressing (content, interpolation, shift, sharpening).

Everything else is the default `ptb.py` (8 slots x 32, input feeding,
linear KL annealing, word dropout 0.3), so the attention types compare at the
same budget.

  bin/train --config=configs/ptb_location.py --workdir=runs/ptb_location
  bin/evaluate --workdir=runs/ptb_location --split=test --num_samples=500
"""

from configs import common


def get_config(arg=None):
  return common.model_variant(arg, decoder_attention="location")
