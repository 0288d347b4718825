"""Model FLOPs counted analytically, for utilisation figures (`benchmark`).

Counts the matrix work of the model's parts from its sizes alone: useful
work, so utilisation is "model FLOPs per second over the hardware's fp32
matmul ceiling" (the usual MFU), whatever the implementation does on top.
"""


def _lstm_flops(inputs, units):
  """One LSTM step: the gate matmul, plus about 10 elementwise ops a unit."""
  return 2.0 * (inputs + units) * 4 * units + 10.0 * units


def _attention_flops(query_dim, memory_slots, memory_dim, spec):
  """Multiply-adds (x2) of one read: projections, weights and the read."""
  kind = spec if isinstance(spec, str) else spec.get("type")
  read = 2.0 * memory_slots * memory_dim
  if kind == "window":
    components = 1 if isinstance(spec, str) else spec.get("num_components", 1)
    return 2.0 * query_dim * 3 * components + 8.0 * memory_slots * (
        components) + read
  projection = 2.0 * query_dim * memory_dim
  weights = 2.0 * memory_slots * memory_dim
  if kind == "location":
    weights += 10.0 * memory_slots * memory_slots  # Shift as a (K, K) map.
  return projection + weights + read


def forward_flops(model, batch_size, length):
  """Analytic forward FLOPs of one batch, by part of the model.

  Counts the matrix work for `batch_size` sequences of `length` elements:
  the decoder LSTM, its output layer (with the group autoregression's masked
  network, counted dense), its attention over the latents, the
  BiLSTM encoder, and the slot writers (posterior and prior) with their
  attention. Elementwise work (gate nonlinearities) is counted roughly;
  embedding lookups are free.

  Returns:
    dict of FLOPs: `decoder_lstm`, `output_layer`, `decoder_attention`,
    `encoder`, `slot_writers` (zero for parts the model lacks).
  """
  decoder = model.decoder
  tokens = float(batch_size * length)
  read_dim = model.latent_dim[0] if model.num_levels else 0
  input_dim = model.embedding_dim + (
      read_dim if model.decoder_wiring == "input_feeding" else 0)
  parts = dict(
      decoder_lstm=tokens * _lstm_flops(input_dim, decoder.units),
      output_layer=tokens * 2.0 * (decoder.units + read_dim) *
      model.element_dim,
      decoder_attention=0.0, encoder=0.0, slot_writers=0.0)
  if decoder.group_units:
    group, hidden = model.element_dim, decoder.group_units
    parts["output_layer"] += tokens * 2.0 * (
        (2 * group + decoder.units) * hidden + group * group)
  if not model.num_levels:
    return parts
  parts["decoder_attention"] = tokens * _attention_flops(
      decoder.units, model.num_slots[0], read_dim, model.decoder_attention)
  encoder_dim = 2 * model.encoder_units
  if model.encoder_context:  # A convolution of 2c + 1 taps.
    parts["encoder"] = tokens * 2.0 * (2 * model.encoder_context + 1) * (
        model.embedding_dim * encoder_dim)
  else:
    parts["encoder"] = tokens * 2 * _lstm_flops(model.embedding_dim,
                                                model.encoder_units)
  for level, (slots, dims) in enumerate(zip(model.num_slots,
                                            model.latent_dim)):
    above = model.latent_dim[level + 1] if level + 1 < model.num_levels else 0
    reads = encoder_dim + above
    per_slot = _lstm_flops(dims + reads, model.posterior_units)
    per_slot += _attention_flops(model.posterior_units, length, encoder_dim,
                                 model.posterior_attention)
    per_slot += 2.0 * 2 * (model.posterior_units + reads) * dims
    parts["slot_writers"] += batch_size * slots * per_slot
  return parts


def training_flops(model, batch_size, length):
  """FLOPs of one training step: forward and backward (2x forward)."""
  return 3.0 * sum(forward_flops(model, batch_size, length).values())


def evaluation_flops(model, batch_size, length, num_samples):
  """FLOPs of the IWAE bound with `num_samples` samples (forward only).

  The observation is encoded once; everything else runs once per sample.
  """
  parts = forward_flops(model, batch_size, length)
  encoder = parts.pop("encoder")
  return encoder + num_samples * sum(parts.values())
