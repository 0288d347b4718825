"""`ptb_exact_window.py` without word dropout: the decoder sees every word.

Word dropout (Bowman et al. 2016) weakens the decoder so that it leans on
the latents; at the results budget it cost the soft models about 2.5 nats
of test NLL against the LSTM language model, whose decoder sees every word
(`ptb_content_output_only` 113.85 against `ptb_lm` 111.39, both with KL
under 1). This run keeps the exact alignment, the windows and the free bits
of `ptb_exact_window.py` and drops only the word dropout.

  bin/train --config=configs/ptb_exact_window_wd0.py --workdir=runs/ptb_exact_window_wd0
  bin/evaluate --workdir=runs/ptb_exact_window_wd0 --split=test --num_samples=100
"""

from configs import ptb_exact_window


def get_config(arg=None):
  config = ptb_exact_window.get_config(arg)
  config.model.word_dropout = 0.0
  return config
