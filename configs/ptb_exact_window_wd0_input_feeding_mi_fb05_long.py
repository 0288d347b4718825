"""`ptb_exact_window_wd0_input_feeding_sharp_fb05_long.py` with the entropy
penalty turned into a mutual-information term.

The entropy penalty alone (eta = 2, 0.5-nat floor) beat the language model
by 0.21 nats but met the penalty by sending 95% of the words to one slot:
the decoder window stepped past the last slot. Subtracting gamma times the
entropy of the batch's slot shares (`objective.slot_balance_weight`) with
gamma = eta makes the pair minus the mutual information between a word and
its slot, H(a | t) - H(a): sharp reads earn nothing unless they also spread
over the slots, and one slot for everything costs as much as uniform reads.
Both terms change the loss only, never the reported ELBO or IWAE bound.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding_mi_fb05_long.py --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_long
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding_mi_fb05_long --split=test --num_samples=500
"""

from configs import common
from configs import ptb_exact_window_wd0_input_feeding_sharp_long as sharp


def mutual_information(arg=None, weight=2.0, free_bits=0.5):
  """The input-feeding window config with -weight * I(a; t) in the loss."""
  config = sharp.sharp_input_feeding(arg, free_bits=free_bits,
                                     entropy_weight=weight)
  config.objective.slot_balance_weight = weight
  return config


def get_config(arg=None):
  return common.long_variant(mutual_information, arg)
