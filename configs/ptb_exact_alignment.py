"""Inverse DRAW on PTB with exact latent alignment (issue 9, option 1).

Each word comes from one of the 8 slots, a_t ~ p(a_t | h_t) (the read
head's weights), and the likelihood marginalises a_t exactly:
log p(x_t | ...) = logsumexp_k [log p(a_t = k | h_t) + log p(x_t | h_t, z_k)].
Output-only wiring, so a_t is a per-word choice the LSTM never sees.
Compare with the soft baseline `configs/ptb.py` run with
`--config.model.decoder_wiring=output_only`.

  bin/train --config=configs/ptb_exact_alignment.py --workdir=runs/ptb_exact_alignment
  bin/evaluate --workdir=runs/ptb_exact_alignment --split=test --num_samples=50

Append `:runlocal` to the config path for a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  config = common.results_config()
  config.model.update(decoder_wiring="output_only", decoder_alignment="exact")
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
