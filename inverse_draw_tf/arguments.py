"""The value checks of the model's constructor arguments.

`model.check_arguments` runs `check_constructor_arguments`, and so
`check_values`, on every `InverseDraw` argument: the constructor calls it,
and `config_lib.validate` calls it on a config before any run starts, so a
bad config fails in one line, before training.
"""

import inspect

from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import data
from inverse_draw_tf import decoder as decoder_lib
from inverse_draw_tf import encoders
from inverse_draw_tf import normalizers

_PACKAGE = "inverse_draw_tf"
OBSERVATIONS = ("text", "binary_image")
WIRINGS = decoder_lib.WIRINGS
POSTERIORS = ("recurrent", "mean_pooled")
ALIGNMENTS = alignment_lib.ALIGNMENTS
# How a lower level's slot reads the level above under the prior
# (`mixture_prior.py`): the soft read's blend, or one upper slot.
PRIOR_ALIGNMENTS = ("soft", "exact")
NORMALIZERS = tuple(normalizers.NORMALIZERS)
# Heads that assume the unmasked slots come first (location shifts within
# them, the window walks over them): slot dropout would leave holes.
_ORDERED_HEADS = ("location", "window")


def per_level(value, num_levels, name):
  """Broadcasts an int (or a list of one) to one value per level."""
  values = list(value) if isinstance(value, (list, tuple)) else [value]
  if len(values) == 1:
    values = values * num_levels
  if len(values) != num_levels:
    raise ValueError(
        f"`{name}` must be one value or one per level ({num_levels}), "
        f"received {value!r}.")
  return values


def check_constructor_arguments(init, given):
  """Raises a one-line error naming the first invalid argument of `init`.

  `given` is a dict of constructor arguments (missing ones take `init`'s
  defaults); an out-of-range or contradictory value raises a `ValueError`
  (`check_values`), an argument the constructor does not take a `TypeError`.
  """
  parameters = inspect.signature(init).parameters
  known = [p for p in parameters if p not in ("self", "kwargs")]
  unknown = sorted(set(given) - set(known) - {"name", "dtype"})
  if unknown:
    owner = init.__qualname__.split(".")[0]
    raise TypeError(f"unknown argument(s) {unknown}; `{owner}` takes "
                    f"{', '.join(known)}.")
  values = {p: parameters[p].default for p in known}
  values.update({k: v for k, v in given.items() if k in known})
  check_values(**values)


def check_values(*, observation, vocab_size, image_shape, pixels_per_step,
                 num_slots, latent_dim, slots_per_token, decoder_attention,
                 posterior_attention, prior_attention, decoder_wiring,
                 posterior_type, word_dropout, decoder_alignment,
                 decoder_normalizer, slot_dropout, decoder_dropout,
                 posterior_mean_batchnorm_gamma,
                 posterior_mean_batchnorm_levels=0, prior_alignment="soft",
                 group_autoregressive_units=0, encoder_context=0, **unused):
  """Raises a one-line `ValueError` for the first invalid value (every
  constructor argument, by name); the layer sizes in `unused` are checked by
  the layers they size."""
  del unused
  for name, value, choices in (
      ("observation", observation, OBSERVATIONS),
      ("posterior_type", posterior_type, POSTERIORS),
      ("decoder_wiring", decoder_wiring, WIRINGS),
      ("decoder_alignment", decoder_alignment, ALIGNMENTS),
      ("decoder_normalizer", decoder_normalizer, NORMALIZERS),
      ("prior_alignment", prior_alignment, PRIOR_ALIGNMENTS)):
    if value not in choices:
      raise ValueError(f"`{name}` must be one of {choices}, received "
                       f"{value!r}.")
  for name, value in (("word_dropout", word_dropout),
                      ("slot_dropout", slot_dropout),
                      ("decoder_dropout", decoder_dropout)):
    if not 0.0 <= value < 1.0:
      raise ValueError(f"`{name}` must be in [0, 1), received {value}.")
  encoders.check_context(encoder_context)
  if slots_per_token < 0:
    raise ValueError(
        f"`slots_per_token` must be >= 0, received {slots_per_token}.")
  if not posterior_mean_batchnorm_gamma >= 0:
    raise ValueError(
        "`posterior_mean_batchnorm_gamma` must be >= 0 (0 = off), received "
        f"{posterior_mean_batchnorm_gamma}.")
  for argument, spec in (("decoder_attention", decoder_attention),
                         ("posterior_attention", posterior_attention),
                         ("prior_attention", prior_attention)):
    try:
      attention_lib.get(spec)
    except ValueError as error:
      raise ValueError(f"`{argument}`: {error}") from None
  decoder_kind = (decoder_attention if isinstance(decoder_attention, str)
                  else dict(decoder_attention).get("type"))
  if slot_dropout and decoder_kind in _ORDERED_HEADS:
    raise ValueError(
        "`slot_dropout` needs a content or dot_product `decoder_attention`, "
        f"received {decoder_kind!r} (it assumes unmasked slots come first).")
  spec_normalizer = (None if isinstance(decoder_attention, str) else
                     dict(decoder_attention).get("normalizer"))
  if spec_normalizer not in (None, decoder_normalizer) and (
      decoder_normalizer != "softmax"):
    raise ValueError(
        f"`decoder_normalizer`={decoder_normalizer!r} contradicts the "
        f"`decoder_attention` normalizer {spec_normalizer!r}; set one.")
  normalizer = (spec_normalizer if decoder_normalizer == "softmax" and
                spec_normalizer else decoder_normalizer)
  if decoder_alignment == "variational" and normalizer != "softmax":
    raise ValueError(
        "`decoder_alignment`='variational' needs a softmax decoder head "
        "(the KL to a sparse p(a_t | h_t) is infinite), received "
        f"normalizer {normalizer!r}.")
  if group_autoregressive_units and observation != "binary_image" or (
      group_autoregressive_units < 0):
    raise ValueError(
        "`group_autoregressive_units` must be 0 (off) or, for images, a "
        f"positive number of units; received {group_autoregressive_units} "
        f"for observation={observation!r}.")
  if word_dropout and observation != "text":
    raise ValueError("`word_dropout` applies to text only; set it to 0 for "
                     f"observation={observation!r}.")
  slot_counts = list(num_slots) if isinstance(num_slots,
                                              (list, tuple)) else [num_slots]
  if any(int(k) != k or k < 0 for k in slot_counts) or (
      len(slot_counts) > 1 and min(slot_counts) < 1):
    raise ValueError(
        "`num_slots` must be a non-negative integer (0 = no latents) or a "
        f"list of positive integers, one per level; received {num_slots!r}.")
  num_levels = len([k for k in slot_counts if k])
  if prior_alignment != "soft" and num_levels < 2:
    raise ValueError(
        f"`prior_alignment`={prior_alignment!r} needs two or more levels "
        f"(`num_slots` a list), received num_slots={num_slots!r}.")
  if decoder_alignment != "soft" and not any(slot_counts):
    raise ValueError(
        f"`decoder_alignment`={decoder_alignment!r} needs latents "
        "(`num_slots` > 0); use 'soft' for a model without them.")
  if posterior_mean_batchnorm_gamma and not any(slot_counts):
    raise ValueError(
        "`posterior_mean_batchnorm_gamma` needs latents (`num_slots` > 0); "
        "use 0 for a model without them.")
  if (int(posterior_mean_batchnorm_levels) != posterior_mean_batchnorm_levels
      or not 0 <= posterior_mean_batchnorm_levels <= num_levels):
    raise ValueError(
        "`posterior_mean_batchnorm_levels` must be an integer from 0 (every "
        f"level) to the number of levels ({num_levels}), received "
        f"{posterior_mean_batchnorm_levels!r}.")
  if posterior_mean_batchnorm_levels and not posterior_mean_batchnorm_gamma:
    raise ValueError(
        "`posterior_mean_batchnorm_levels` needs BN-VAE on "
        "(`posterior_mean_batchnorm_gamma` > 0); leave it 0 without it.")
  height, width = image_shape
  if observation == "binary_image" and (
      int(pixels_per_step) != pixels_per_step or pixels_per_step < 1 or
      (height * width) % pixels_per_step):
    raise ValueError(
        f"`pixels_per_step` must divide height * width = {height * width} "
        f"(a positive integer), received {pixels_per_step}.")
  if observation == "text" and vocab_size <= len(data.SPECIAL_TOKENS):
    raise ValueError(
        f"`vocab_size` must exceed the {len(data.SPECIAL_TOKENS)} special "
        f"tokens, received {vocab_size}.")
  per_level(latent_dim, max(num_levels, 1), "latent_dim")
