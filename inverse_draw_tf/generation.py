"""Decoding from latents: the observation one element at a time.

`generate` runs the decoder's recurrence step by step inside one
`tf.while_loop`, so it compiles into exported serving signatures; the model
exposes it as `InverseDraw.generate`.
"""

import tensorflow as tf

from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import data


def generate(model, latents, max_length, temperature=1.0, seed=None,
             slot_mask=None, greedy=False, batch_size=None):
  """Decodes elements from `model`'s bottom-level latents `(B, K, D)`.

  Text stops per sequence after `<eos>` (later positions are `<pad>`);
  images emit `max_length` groups. `temperature` divides the logits;
  `greedy` (or a temperature <= 0, which may be a tensor) takes the most
  likely element instead of sampling. A model without latents takes
  `latents=None` and `batch_size`.

  Returns:
    dict with `elements` (`(B, L)` int ids or `(B, L, G)` pixels),
    `read_weights` `(B, L, K)` (K = 0 without latents) and `element_mask`
    `(B, L)` (False after `<eos>`). With a decoder alignment other than
    soft, each element first draws its slot a_t ~ p(a_t | h_t) (the argmax
    when greedy; `temperature` applies to the elements only) and is then
    drawn from that slot's distribution; `alignment` `(B, L)` holds the
    slots.
  """
  if seed is None:
    seed = tf.constant([0, 0], tf.int32)
  if latents is not None:
    batch_size = tf.shape(latents)[0]
    num_slots = tf.shape(latents)[1]
  elif batch_size is None:
    raise ValueError("`batch_size` is required when `latents` is None.")
  else:
    num_slots = 0
  text = model.observation == "text"
  dtype = model.compute_dtype
  temperature = tf.cast(temperature, dtype)
  greedy = tf.logical_or(tf.constant(bool(greedy)), temperature <= 0)
  temperature = tf.maximum(temperature, 1e-6)
  if text:
    first = tf.fill([batch_size], data.BOS_ID)
  else:
    first = tf.zeros([batch_size, model.pixels_per_step], dtype)

  hard = latents is not None and model.decoder_alignment != "soft"

  def body(t, previous, carry, finished, elements, weights_ta, alive_ta,
           slots_ta):
    read_noise = None
    if hard:
      read_noise = alignment_lib.gumbel_noise(
          tf.shape(latents)[:2], tf.random.experimental.stateless_fold_in(
              seed, t + (1 << 21)), dtype)
      read_noise = tf.where(greedy, tf.zeros_like(read_noise), read_noise)
    logits, weights, carry = model.decoder.step(previous, carry, latents,
                                               slot_mask, read_noise)
    logits = logits / temperature
    if text:
      # <pad> and <bos> are never targets in training, but the softmax
      # still covers them: never emit them.
      banned = tf.reduce_sum(tf.one_hot([data.PAD_ID, data.BOS_ID],
                                        model.element_dim), 0) > 0
      logits = tf.where(banned, logits.dtype.min, logits)
    step_seed = tf.random.experimental.stateless_fold_in(seed, t)
    alive = tf.logical_not(finished)
    if text:
      element = tf.where(
          greedy, tf.argmax(logits, -1, output_type=tf.int32),
          tf.random.stateless_categorical(logits, 1, step_seed,
                                          dtype=tf.int32)[:, 0])
      element = tf.where(finished, data.PAD_ID, element)
      finished = tf.logical_or(finished, tf.equal(element, data.EOS_ID))
    else:
      sampled = tf.random.stateless_uniform(
          tf.shape(logits), step_seed, dtype=dtype) < tf.sigmoid(logits)
      element = tf.cast(tf.where(greedy, logits > 0, sampled), dtype)
    if weights is None:
      weights = tf.zeros([batch_size, num_slots], dtype)
    slot = carry["slot"] if hard else tf.zeros([batch_size], tf.int32)
    return (t + 1, element, carry, finished, elements.write(t, element),
            weights_ta.write(t, weights), alive_ta.write(t, alive),
            slots_ta.write(t, slot))

  loop_vars = (
      tf.constant(0), first,
      model.decoder.initial_carry(latents, slot_mask, batch_size, dtype),
      tf.zeros([batch_size], tf.bool),
      tf.TensorArray(first.dtype, size=max_length),
      tf.TensorArray(dtype, size=max_length),
      tf.TensorArray(tf.bool, size=max_length),
      tf.TensorArray(tf.int32, size=max_length))
  _, _, _, _, elements, weights, alive, slots = tf.while_loop(
      lambda t, *_: t < max_length, body, loop_vars)
  elements = elements.stack()
  result = dict(
      elements=tf.transpose(elements, [1, 0] if text else [1, 0, 2]),
      read_weights=tf.transpose(weights.stack(), [1, 0, 2]),
      element_mask=tf.transpose(alive.stack(), [1, 0]))
  if hard:
    result["alignment"] = tf.transpose(slots.stack(), [1, 0])
  return result
