"""`ptb_exact_window_wd0.py` with the input-feeding wiring.

With output-only wiring a slot reaches the words it is aligned to only
through the output layer: logits_tk = W_h h_t + W_z z_k + b, a per-slot
vocabulary bias, and the LSTM state never sees the latents. Input feeding
also gives the LSTM the expected read sum_k p(a_t = k | h_t) z_k of the
previous step, a deterministic function of the latents and the words so
far, so the alignment a_t stays a per-word choice marginalised exactly
(model.Decoder) while the latents can steer the recurrence.

  bin/train --config=configs/ptb_exact_window_wd0_input_feeding.py --workdir=runs/ptb_exact_window_wd0_input_feeding
  bin/evaluate --workdir=runs/ptb_exact_window_wd0_input_feeding --split=test --num_samples=100
"""

from configs import ptb_exact_window_wd0


def get_config(arg=None):
  config = ptb_exact_window_wd0.get_config(arg)
  config.model.decoder_wiring = "input_feeding"
  return config
