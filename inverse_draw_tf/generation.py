"""Decoding from latents: the observation one element at a time.

`generate` (sampling or greedy) and `beam_search` (text) run the decoder's
recurrence step by step inside one `tf.while_loop`, so they compile into
exported serving signatures with tensor arguments; the model exposes them as
`InverseDraw.generate` and `InverseDraw.beam_search`.

Text ends in `<eos>`: the last allowed step (t = max_length - 1) can only
emit `<eos>` for a sequence still going, and the loop stops once every
sequence has ended, so text outputs have L <= max_length steps.
"""

import math

import tensorflow as tf

from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import data


def generate(model, latents, max_length, temperature=1.0, seed=None,
             slot_mask=None, greedy=False, batch_size=None):
  """Decodes elements from `model`'s bottom-level latents `(B, K, D)`.

  Text stops per sequence after `<eos>` (later positions are `<pad>`), and
  a sequence still going at t = max_length - 1 emits `<eos>` there; the
  loop ends once every sequence has ended, so L <= max_length is the
  longest sequence's length. Images emit exactly L = max_length groups.
  `temperature` divides the logits; `greedy` (or a temperature <= 0, which
  may be a tensor) takes the most likely element instead of sampling. A
  model without latents takes `latents=None` and `batch_size`.

  Returns:
    dict with `elements` (`(B, L)` int ids or `(B, L, G)` pixels),
    `read_weights` `(B, L, K)` (K = 0 without latents) and `element_mask`
    `(B, L)` (True up to and including `<eos>`). With a decoder alignment
    other than soft, each element first draws its slot a_t ~ p(a_t | h_t)
    (the argmax when greedy; `temperature` applies to the elements only)
    and is then drawn from that slot's distribution; `alignment` `(B, L)`
    holds the slots.
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
  if latents is not None:
    # The decoder computes in the model's dtype (bfloat16 under mixed
    # precision); posterior means and prior samples arrive in float32.
    latents = tf.cast(latents, dtype)
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
    if text:
      logits = tf.where(_banned(model), logits.dtype.min, logits / temperature)
    step_seed = tf.random.experimental.stateless_fold_in(seed, t)
    alive = tf.logical_not(finished)
    if text:
      element = tf.where(
          greedy, tf.argmax(logits, -1, output_type=tf.int32),
          tf.random.stateless_categorical(logits, 1, step_seed,
                                          dtype=tf.int32)[:, 0])
      # The length limit ends every sequence in <eos>.
      element = tf.where(tf.equal(t, max_length - 1), data.EOS_ID, element)
      element = tf.where(finished, data.PAD_ID, element)
      finished = tf.logical_or(finished, tf.equal(element, data.EOS_ID))
    else:
      element = model.decoder.sample_elements(logits, carry["h"], temperature,
                                              step_seed, greedy)
    if weights is None:
      weights = tf.zeros([batch_size, num_slots], dtype)
    slot = carry["slot"] if hard else tf.zeros([batch_size], tf.int32)
    return (t + 1, element, carry, finished, elements.write(t, element),
            weights_ta.write(t, weights), alive_ta.write(t, alive),
            slots_ta.write(t, slot))

  def more(t, previous, carry, finished, *_):
    del previous, carry  # Unused.
    if not text:
      return t < max_length
    # At least one step, so that an empty batch stacks one (empty) element.
    return tf.logical_and(t < max_length, tf.logical_or(
        tf.equal(t, 0), tf.logical_not(tf.reduce_all(finished))))

  # Text stops early: its arrays grow by the steps actually run.
  arrays = (dict(size=0, dynamic_size=True) if text else
            dict(size=max_length))
  loop_vars = (
      tf.constant(0), first,
      model.decoder.initial_carry(latents, slot_mask, batch_size, dtype),
      tf.zeros([batch_size], tf.bool),
      tf.TensorArray(first.dtype, **arrays),
      tf.TensorArray(dtype, **arrays),
      tf.TensorArray(tf.bool, **arrays),
      tf.TensorArray(tf.int32, **arrays))
  _, _, _, _, elements, weights, alive, slots = tf.while_loop(
      more, body, loop_vars)
  elements = elements.stack()
  result = dict(
      elements=tf.transpose(elements, [1, 0] if text else [1, 0, 2]),
      read_weights=tf.transpose(weights.stack(), [1, 0, 2]),
      element_mask=tf.transpose(alive.stack(), [1, 0]))
  if hard:
    result["alignment"] = tf.transpose(slots.stack(), [1, 0])
  return result


def _banned(model):
  """`(V,)` bool, True at <pad> and <bos>: never targets in training, but the
  softmax still covers them, so decoding never emits them."""
  return tf.reduce_sum(tf.one_hot([data.PAD_ID, data.BOS_ID],
                                  model.element_dim), 0) > 0


def beam_search(model, latents, max_length, beam_size, slot_mask=None,
                length_normalize=True, batch_size=None):
  """The most probable text under `model` given latents `(B, K, D)`, by beam
  search.

  Each row keeps the `beam_size` hypotheses of highest total log-probability
  sum_t log p(x_t | x_<t, Z), where p is `Decoder.step_log_probs`: the
  step's softmax (soft alignment); the exact mixture over slots
  sum_k w_tk p(x_t | h_t, z_k) (exact and variational, whose carry does not
  depend on the slot); for gumbel, whose carry feeds back the chosen slot,
  the distribution of the most probable slot argmax_k w_tk (the mode, as
  greedy `generate` takes). `<pad>` and `<bos>` are never emitted; a
  finished hypothesis (it emitted `<eos>`) extends only with `<pad>`, at no
  cost; at t = max_length - 1 a hypothesis still going can only emit `<eos>`.
  The loop ends once every hypothesis of every row has finished. The result
  is the row's hypothesis of highest total / length (tokens with `<eos>`)
  with `length_normalize`, else of highest total.

  Runs inside a `tf.function` with `max_length` and `beam_size` scalar int32
  tensors (and `length_normalize` a bool tensor). A model without latents
  takes `latents=None` and `batch_size`.

  Returns:
    dict with `elements` `(B, L)` int32 ids (`<pad>` after `<eos>`; L <=
    max_length is the longest returned sequence), `element_mask` `(B, L)`
    bool (True up to and including `<eos>`), `read_weights` `(B, L, K)`
    (the decoder's read weights at each step of the returned hypothesis;
    K = 0 without latents) and `log_prob` `(B,)` float32, its total
    log-probability.

  Raises:
    ValueError: for an image model, or a static `beam_size` < 1 (a tensor
      `beam_size` < 1 fails an assertion when run).
  """
  if model.observation != "text":
    raise ValueError("`beam_search` decodes text; this model's observation "
                     f"is {model.observation!r}.")
  static_beam = tf.get_static_value(beam_size)
  if static_beam is not None and static_beam < 1:
    raise ValueError(f"`beam_size` must be >= 1, received {static_beam}.")
  if static_beam is not None:
    # A Python int keeps the loop's shapes static where the batch's are.
    beam_size = int(static_beam)
  else:
    beam_size = tf.convert_to_tensor(beam_size, tf.int32)
    with tf.control_dependencies([tf.debugging.assert_positive(
        beam_size, message="`beam_size` must be >= 1")]):
      beam_size = tf.identity(beam_size)
  if latents is not None:
    # Static when known (a tensor captured by the loop body loses its
    # value, and the loop's shapes must not change): the batch size, and
    # the read weights' number of slots.
    batch_size = latents.shape[0]
    if batch_size is None:
      batch_size = tf.shape(latents)[0]
    num_slots = latents.shape[1]
    if num_slots is None:
      num_slots = tf.shape(latents)[1]
  elif batch_size is None:
    raise ValueError("`batch_size` is required when `latents` is None.")
  else:
    num_slots = 0
  decoder = model.decoder
  dtype = model.compute_dtype
  if latents is not None:
    latents = tf.cast(latents, dtype)  # As in `generate`.
  vocab_size = model.element_dim
  # Hypothesis j of row b is decoder row b * beam_size + j.
  repeat = lambda x: None if x is None else tf.repeat(x, beam_size, axis=0)
  tiled = repeat(latents)
  tiled_mask = repeat(slot_mask)
  carry = decoder.initial_carry(tiled, tiled_mask, batch_size * beam_size,
                                dtype)
  slot_logits = None
  if (latents is not None and
      decoder.alignment in alignment_lib.PER_SLOT_ALIGNMENTS):
    slot_logits = repeat(decoder.slot_logits(latents))  # Once, not per step.
  vocabulary = tf.range(vocab_size)
  banned = _banned(model)
  not_eos = tf.not_equal(vocabulary, data.EOS_ID)
  # A finished hypothesis's one continuation.
  pad_only = tf.where(tf.equal(vocabulary, data.PAD_ID), 0.0, -math.inf)
  # Only hypothesis 0 starts alive, so the first step's top-k does not pick
  # the same sequence once per hypothesis.
  first_scores = tf.where(tf.equal(tf.range(beam_size), 0), 0.0, -math.inf)
  row_offsets = tf.range(batch_size)[:, None] * beam_size

  def body(t, previous, carry, scores, finished, lengths, tokens_ta,
           parents_ta, weights_ta):
    log_probs, weights, carry = decoder.step_log_probs(
        previous, carry, tiled, tiled_mask, slot_logits)
    last = tf.equal(t, max_length - 1)
    log_probs = tf.where(
        tf.logical_or(banned, tf.logical_and(last, not_eos)), -math.inf,
        log_probs)
    log_probs = tf.reshape(log_probs, [batch_size, beam_size, vocab_size])
    log_probs = tf.where(finished[..., None], pad_only, log_probs)
    candidates = tf.reshape(scores[..., None] + log_probs, [batch_size, -1])
    scores, index = tf.math.top_k(candidates, beam_size)
    parent = index // vocab_size
    token = index % vocab_size
    finished = tf.gather(finished, parent, batch_dims=1)
    lengths = tf.gather(lengths, parent, batch_dims=1) + tf.cast(
        tf.logical_not(finished), tf.int32)
    # An impossible hypothesis (score -inf: fewer possible continuations
    # than beams) is never chosen; it must not keep the loop going.
    finished = tf.logical_or(finished, tf.logical_or(
        tf.equal(token, data.EOS_ID), tf.equal(scores, -math.inf)))
    rows = tf.reshape(parent + row_offsets, [-1])
    carry = tf.nest.map_structure(lambda x: tf.gather(x, rows), carry)
    if weights is None:
      weights = tf.zeros([batch_size * beam_size, num_slots], dtype)
    # The weights that produced each hypothesis's token: its parent's.
    weights = tf.reshape(tf.gather(weights, rows),
                         [batch_size, beam_size, num_slots])
    return (t + 1, tf.reshape(token, [-1]), carry, scores, finished, lengths,
            tokens_ta.write(t, token), parents_ta.write(t, parent),
            weights_ta.write(t, weights))

  def more(t, previous, carry, scores, finished, *_):
    del previous, carry, scores  # Unused.
    return tf.logical_and(t < max_length, tf.logical_or(
        tf.equal(t, 0), tf.logical_not(tf.reduce_all(finished))))

  grow = dict(size=0, dynamic_size=True)
  loop_vars = (
      tf.constant(0), tf.fill([batch_size * beam_size], data.BOS_ID), carry,
      tf.tile(first_scores[None], [batch_size, 1]),
      tf.zeros([batch_size, beam_size], tf.bool),
      tf.zeros([batch_size, beam_size], tf.int32),
      tf.TensorArray(tf.int32, **grow), tf.TensorArray(tf.int32, **grow),
      tf.TensorArray(dtype, **grow))
  (_, _, _, scores, _, lengths, tokens, parents,
   weights) = tf.while_loop(more, body, loop_vars)
  normalized = tf.where(length_normalize,
                        scores / tf.cast(lengths, tf.float32), scores)
  best = tf.argmax(normalized, -1, output_type=tf.int32)

  def back(state, step):
    # From the last step to the first: each hypothesis's token and weights,
    # then the hypothesis it extended.
    beam = state[0]
    tokens_t, parents_t, weights_t = step
    pick = lambda x: tf.gather(x, beam, batch_dims=1)
    return pick(parents_t), pick(tokens_t), pick(weights_t)

  _, elements, read_weights = tf.scan(
      back, (tokens.stack(), parents.stack(), weights.stack()),
      initializer=(best, tf.zeros([batch_size], tf.int32),
                   tf.zeros([batch_size, num_slots], dtype)),
      reverse=True)
  elements = tf.transpose(elements)
  element_mask = tf.not_equal(elements, data.PAD_ID)
  # Other hypotheses may have kept the loop going after the returned ones
  # ended: L is the longest returned sequence, as in `generate`.
  length = tf.reduce_max(tf.reduce_sum(tf.cast(element_mask, tf.int32), 1))
  return dict(elements=elements[:, :length],
              element_mask=element_mask[:, :length],
              read_weights=tf.transpose(read_weights, [1, 0, 2])[:, :length],
              log_prob=tf.gather(scores, best, batch_dims=1))
