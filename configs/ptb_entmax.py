"""Inverse DRAW on PTB with an entmax15 decoder read head (issue 9, option 4).

The decoder's content head normalises its scores with
1.5-entmax (Peters et al. 2019, https://arxiv.org/abs/1905.05702)
instead of softmax, so a word can give slots exactly zero weight and read
one slot rather than the average. Output-only wiring, like the other issue 9
configs; compare with `configs/ptb.py` run with
`--config.model.decoder_wiring=output_only`. Add
`--config.objective.attention_entropy_weight=0.1` to also penalise the
attention's entropy.

  bin/train --config=configs/ptb_entmax.py --workdir=runs/ptb_entmax
  bin/evaluate --workdir=runs/ptb_entmax --split=test --num_samples=50

Append `:runlocal` to the config path for a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  config = common.results_config()
  config.model.update(decoder_wiring="output_only",
                      decoder_normalizer="entmax15")
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
