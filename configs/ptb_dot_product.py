"""Results run: Inverse DRAW on PTB, decoder attention = scaled dot-product (Luong) attention.

Everything else is the default `ptb.py` (8 slots x 32, input feeding,
linear KL annealing, word dropout 0.3), so the attention types compare at the
same budget.

  bin/train --config=configs/ptb_dot_product.py --workdir=runs/ptb_dot_product
  bin/evaluate --workdir=runs/ptb_dot_product --split=test --num_samples=500
"""

from configs import common


def get_config(arg=None):
  return common.model_variant(arg, decoder_attention="dot_product")
