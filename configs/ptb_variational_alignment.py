"""Inverse DRAW on PTB with variational alignment (issue 9, option 2).

Deng et al. 2018 (https://arxiv.org/abs/1807.03756): an inference network
q(a_t | x) (from the BiLSTM encoder state at t and the slots) picks the slot
of each word during training, a straight-through Gumbel-softmax sample whose
temperature anneals from 1.0 to 0.1; the loss has the exact categorical
KL(q(a_t | x) || p(a_t | h_t)). Evaluation uses the exact marginal, so its
numbers compare directly with `configs/ptb_exact_alignment.py`.

  bin/train --config=configs/ptb_variational_alignment.py --workdir=runs/ptb_variational_alignment
  bin/evaluate --workdir=runs/ptb_variational_alignment --split=test --num_samples=50

Append `:runlocal` to the config path for a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  config = common.results_config()
  config.model.update(decoder_wiring="output_only",
                      decoder_alignment="variational")
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
