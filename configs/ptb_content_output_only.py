"""Results run: the soft baseline of the issue 9 options (content attention, output-only wiring).

`ptb_content.py` with the decoder's read going to the output layer only,
as in `ptb_exact_alignment.py`, `ptb_variational_alignment.py`,
`ptb_gumbel.py`, `ptb_sparsemax.py` and `ptb_entmax.py`: those differ from
this run in how a word reads the slots and in nothing else.

  bin/train --config=configs/ptb_content_output_only.py --workdir=runs/ptb_content_output_only
  bin/evaluate --workdir=runs/ptb_content_output_only --split=test --num_samples=500
"""

from configs import common


def get_config(arg=None):
  return common.model_variant(arg, decoder_attention="content",
                              decoder_wiring="output_only")
