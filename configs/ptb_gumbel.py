"""Inverse DRAW on PTB with hard Gumbel-softmax reads (issue 9, option 3).

Each word reads one slot: a straight-through Gumbel-softmax sample of the
read weights in training, at a temperature annealed geometrically from 1.0
to 0.1 over 2,500 steps, and the argmax slot at evaluation (so the reported
bound is that of the argmax-read decoder). Output-only wiring, like the
other issue 9 configs; compare with `configs/ptb.py` run with
`--config.model.decoder_wiring=output_only`.

  bin/train --config=configs/ptb_gumbel.py --workdir=runs/ptb_gumbel
  bin/evaluate --workdir=runs/ptb_gumbel --split=test --num_samples=50

Append `:runlocal` to the config path for a seconds-long smoke test.
"""

from configs import common


def get_config(arg=None):
  config = common.results_config()
  config.model.update(decoder_wiring="output_only", decoder_alignment="gumbel")
  config.objective.update(gumbel_temperature_start=1.0,
                          gumbel_temperature_end=0.1,
                          gumbel_anneal_steps=2500)
  if arg == "runlocal":
    common.shrink_for_local_run(config)
  return config
