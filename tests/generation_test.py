"""Tests of inverse_draw_tf/generation.py: beam search against next-token
log-probabilities computed by hand (teacher-forced through `Decoder.step`)
and against brute force over a tiny vocabulary; the length limit that ends
every text output in <eos>; early stopping; tensor arguments inside a
`tf.function`; errors."""

import itertools

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import data
from inverse_draw_tf import generation
from inverse_draw_tf import model as model_lib
import test_case

TINY = dict(embedding_dim=8, encoder_units=8, decoder_units=8,
            posterior_units=8, prior_units=8, latent_dim=4)
SEED = tf.constant([3, 4])
NUM_SPECIAL = len(data.SPECIAL_TOKENS)


def tiny_model(vocab_size=12, num_slots=3, eos_bias=0.0, sharpness=2.0,
               **kwargs):
  """A tiny text model whose next-token distributions are far from uniform:
  the output kernel times `sharpness`, random biases, <pad> and <bos>
  unlikely (as training makes them), `eos_bias` on <eos>."""
  keras.utils.set_random_seed(0)
  model = model_lib.InverseDraw(vocab_size=vocab_size, num_slots=num_slots,
                                **dict(TINY, **kwargs))
  model(model_lib.example_batch(model))
  output = model.decoder.output_layer
  output.kernel.assign(output.kernel * sharpness)
  bias = np.random.RandomState(1).normal(size=vocab_size)
  bias[[data.PAD_ID, data.BOS_ID]] = -6.0
  bias[data.EOS_ID] += eos_bias
  output.bias.assign(bias)
  return model


def log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def logsumexp(x, axis):
  peak = x.max(axis, keepdims=True)
  return (peak + np.log(np.exp(x - peak).sum(axis, keepdims=True))).squeeze(
      axis)


def next_log_probs(model, previous, carry, latents, slot_mask):
  """By hand: `(log_probs (N, V), read_weights (N, K), new carry)` after
  `previous` (N,), from `Decoder.step`'s logits (soft), or from its state
  h_t, its weights w_t and the output layer's weights as
  `log sum_k w_k softmax(W_o [h_t; z_k] + b_o)` (exact)."""
  decoder = model.decoder
  logits, weights, carry = decoder.step(previous, carry, latents, slot_mask)
  if decoder.alignment == "soft":
    return log_softmax(logits.numpy()), weights.numpy(), carry
  kernel = decoder.output_layer.kernel.numpy()
  bias = decoder.output_layer.bias.numpy()
  h = carry["h"].numpy()
  per_slot = (h @ kernel[:decoder.units])[:, None, :] + np.einsum(
      "nkd,dv->nkv", latents.numpy(), kernel[decoder.units:]) + bias
  with np.errstate(divide="ignore"):
    prior = np.log(weights.numpy())[..., None]
  return (logsumexp(prior + log_softmax(per_slot), 1), weights.numpy(),
          carry)


def teacher_forced(model, latents, slot_mask, tokens):
  """Per-step log-probs `(N, T)` of `tokens` `(N, T)` and read weights
  `(N, T, K)`, teacher-forced one step at a time."""
  tokens = np.asarray(tokens)
  n = len(tokens)
  carry = model.decoder.initial_carry(latents, slot_mask, n, tf.float32)
  previous = tf.fill([n], data.BOS_ID)
  log_probs, weights = [], []
  for t in range(tokens.shape[1]):
    step, w, carry = next_log_probs(model, previous, carry, latents,
                                    slot_mask)
    log_probs.append(step[np.arange(n), tokens[:, t]])
    weights.append(w)
    previous = tf.constant(tokens[:, t], tf.int32)
  return np.stack(log_probs, 1), np.stack(weights, 1)


def greedy_by_hand(model, latents, slot_mask, max_length):
  """Step-by-step argmax of the hand-computed log-probs, never <pad> or
  <bos>, <eos> at the last step: `(tokens (N, max_length), total (N,))`."""
  n = latents.shape[0]
  carry = model.decoder.initial_carry(latents, slot_mask, n, tf.float32)
  previous = np.full([n], data.BOS_ID, np.int32)
  finished = np.zeros([n], bool)
  tokens, total = [], np.zeros([n])
  for t in range(max_length):
    log_probs, _, carry = next_log_probs(
        model, tf.constant(previous), carry, latents, slot_mask)
    log_probs[:, [data.PAD_ID, data.BOS_ID]] = -np.inf
    if t == max_length - 1:
      log_probs[:, np.arange(log_probs.shape[1]) != data.EOS_ID] = -np.inf
    token = np.where(finished, data.PAD_ID, log_probs.argmax(-1))
    total += np.where(finished, 0.0, log_probs.max(-1))
    finished |= token == data.EOS_ID
    tokens.append(token)
    previous = token.astype(np.int32)
  return np.stack(tokens, 1), total


class BeamSearchTest(test_case.TestCase, parameterized.TestCase):

  def setUp(self):
    super().setUp()
    self.slot_mask = tf.sequence_mask([3, 2], 3)

  def latents(self, model, batch_size=2):
    return model.sample_prior(batch_size, SEED)[0]

  @parameterized.parameters("soft", "exact")
  def test_beam_of_one_is_the_step_by_step_argmax(self, alignment):
    model = tiny_model(decoder_alignment=alignment)
    latents = self.latents(model)
    out = model.beam_search(latents, 6, 1, slot_mask=self.slot_mask)
    tokens, total = greedy_by_hand(model, latents, self.slot_mask, 6)
    length = out["elements"].shape[1]
    self.assertAllEqual(out["elements"], tokens[:, :length])
    self.assertTrue(np.all(tokens[:, length:] == data.PAD_ID))
    self.assertAllClose(out["log_prob"], total, atol=1e-4)

  @parameterized.parameters("soft", "gumbel")
  def test_beam_of_one_is_greedy_generation(self, alignment):
    # Both take the mode slot (gumbel) and the argmax token.
    model = tiny_model(decoder_alignment=alignment)
    latents = self.latents(model)
    beam = model.beam_search(latents, 6, 1, slot_mask=self.slot_mask)
    greedy = model.generate(latents, 6, greedy=True, slot_mask=self.slot_mask)
    self.assertAllEqual(beam["elements"], greedy["elements"])
    self.assertAllClose(beam["read_weights"], greedy["read_weights"])

  @parameterized.parameters("soft", "exact")
  def test_log_prob_and_weights_are_those_of_the_returned_sequence(
      self, alignment):
    model = tiny_model(decoder_alignment=alignment, eos_bias=1.0)
    latents = self.latents(model)
    greedy = model.beam_search(latents, 6, 1, slot_mask=self.slot_mask)
    for length_normalize in (True, False):
      out = model.beam_search(latents, 6, 3, slot_mask=self.slot_mask,
                              length_normalize=length_normalize)
      # Hypotheses that left the greedy path: backtracking is exercised.
      self.assertNotAllEqual(out["elements"][1],
                             greedy["elements"][1, :out["elements"].shape[1]])
      mask = out["element_mask"].numpy()
      log_probs, weights = teacher_forced(model, latents, self.slot_mask,
                                          out["elements"])
      self.assertAllClose(out["log_prob"], (log_probs * mask).sum(1),
                          atol=1e-4)
      self.assertAllClose(out["read_weights"].numpy()[mask], weights[mask],
                          atol=1e-5)
      self.assert_valid_weights(out["read_weights"],
                                self.slot_mask[:, None, :])

  @parameterized.parameters("soft", "exact")
  def test_a_wide_enough_beam_finds_the_best_sequence(self, alignment):
    # 3 real words (+ <unk>) and max_length 3: every sequence is <eos>, x
    # <eos> or x y <eos> with x, y among 4 tokens, 21 in all; 25 beams keep
    # every prefix, so the beam search is exhaustive.
    model = tiny_model(vocab_size=NUM_SPECIAL + 3,
                       decoder_alignment=alignment)
    latents = self.latents(model)
    words = [data.UNK_ID] + list(range(NUM_SPECIAL, NUM_SPECIAL + 3))
    eos, pad = data.EOS_ID, data.PAD_ID
    sequences = np.array(
        [[eos, pad, pad]] + [[x, eos, pad] for x in words] +
        [[x, y, eos] for x, y in itertools.product(words, words)], np.int32)
    lengths = (sequences != pad).sum(1)
    found = {normalize: model.beam_search(latents, 3, 25,
                                          slot_mask=self.slot_mask,
                                          length_normalize=normalize)
             for normalize in (False, True)}
    narrow = [model.beam_search(latents, 3, beam_size,
                                slot_mask=self.slot_mask,
                                length_normalize=False)["log_prob"].numpy()
              for beam_size in (1, 2, 4)]
    improved = 0
    for row in range(2):
      log_probs, _ = teacher_forced(
          model, tf.repeat(latents[row:row + 1], len(sequences), 0),
          tf.repeat(self.slot_mask[row:row + 1], len(sequences), 0),
          sequences)
      totals = (log_probs * (sequences != pad)).sum(1)
      for normalize, scores in ((False, totals), (True, totals / lengths)):
        best = np.argmax(scores)
        tokens = found[normalize]["elements"].numpy()[row]
        self.assertAllEqual(tokens, sequences[best][:len(tokens)])
        self.assertTrue(np.all(sequences[best][len(tokens):] == pad))
        self.assertAllClose(found[normalize]["log_prob"][row], totals[best],
                            atol=1e-4)
      # No narrower beam beats the exhaustive one.
      for log_prob in narrow:
        self.assertLessEqual(log_prob[row], totals.max() + 1e-4)
      improved += narrow[0][row] < totals.max() - 1e-3
    self.assertGreater(improved, 0, "the exhaustive beam found the greedy "
                       "sequences: the check is vacuous")

  def test_no_pad_or_bos_and_nothing_after_eos(self):
    model = tiny_model()
    bias = model.decoder.output_layer.bias
    bias.assign(bias + 60.0 * tf.one_hot([data.PAD_ID, data.BOS_ID],
                                         12).numpy().sum(0))
    out = model.beam_search(self.latents(model), 5, 3)
    tokens, mask = out["elements"].numpy(), out["element_mask"].numpy()
    self.assertNotIn(data.PAD_ID, tokens[mask])
    self.assertNotIn(data.BOS_ID, tokens[mask])
    self.assertTrue(np.all(tokens[~mask] == data.PAD_ID))


class LengthLimitTest(test_case.TestCase, parameterized.TestCase):
  """Every text output ends in <eos> at t <= max_length - 1; the loop stops
  once every sequence has ended."""

  def assert_ends_in_eos(self, out, max_length):
    tokens, mask = out["elements"].numpy(), out["element_mask"].numpy()
    self.assertLessEqual(tokens.shape[1], max_length)
    lengths = mask.sum(1)
    self.assertAllEqual(mask, np.arange(tokens.shape[1]) < lengths[:, None])
    self.assertAllEqual(tokens[np.arange(len(tokens)), lengths - 1],
                        [data.EOS_ID] * len(tokens))
    self.assertEqual(lengths.max(), tokens.shape[1])  # No step wasted.
    return lengths

  def decoders(self, model, latents, max_length):
    yield model.generate(latents, max_length, seed=SEED)
    yield model.generate(latents, max_length, greedy=True)
    yield model.beam_search(latents, max_length, 3)
    yield model.beam_search(latents, max_length, 2, length_normalize=False)

  @parameterized.parameters("soft", "exact", "gumbel")
  def test_a_sequence_that_would_not_end_ends_at_the_limit(self, alignment):
    model = tiny_model(decoder_alignment=alignment, eos_bias=-30.0)
    latents = model.sample_prior(3, SEED)[0]
    for out in self.decoders(model, latents, 5):
      self.assertAllEqual(self.assert_ends_in_eos(out, 5), [5, 5, 5])

  def test_the_loop_stops_when_every_sequence_has_ended(self):
    model = tiny_model(eos_bias=30.0)
    latents = model.sample_prior(3, SEED)[0]
    for out in self.decoders(model, latents, 20):
      self.assertAllEqual(self.assert_ends_in_eos(out, 20), [1, 1, 1])
      self.assertEqual(out["read_weights"].shape, (3, 1, 3))

  def test_without_latents(self):
    model = tiny_model(num_slots=0)
    out = model.beam_search(None, 4, 2, batch_size=3)
    self.assert_ends_in_eos(out, 4)
    self.assertEqual(out["read_weights"].shape[::2], (3, 0))
    out = model.generate(None, 4, batch_size=3, seed=SEED)
    self.assert_ends_in_eos(out, 4)
    with self.assertRaisesRegex(ValueError, r"`batch_size` is required"):
      model.beam_search(None, 4, 2)

  def test_images_keep_every_step(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(observation="binary_image", num_slots=2,
                                  **TINY)
    latents = model.sample_prior(2, SEED)[0]
    out = model.generate(latents, 28, seed=SEED)
    self.assertEqual(out["elements"].shape, (2, 28, 28))
    self.assertAllEqual(out["element_mask"], np.ones([2, 28], bool))


class GraphTest(test_case.TestCase):

  def test_tensor_arguments_in_a_tf_function(self):
    model = tiny_model(decoder_alignment="exact")
    latents = model.sample_prior(2, SEED)[0]
    slot_mask = tf.sequence_mask([3, 2], 3)
    beam = tf.function(
        lambda z, m, n, w: model.beam_search(z, n, w, slot_mask=m),
        input_signature=[tf.TensorSpec([None, 3, 4], tf.float32),
                         tf.TensorSpec([None, 3], tf.bool),
                         tf.TensorSpec([], tf.int32),
                         tf.TensorSpec([], tf.int32)])
    generate = tf.function(
        lambda z, n: model.generate(z, n, greedy=True),
        input_signature=[tf.TensorSpec([None, 3, 4], tf.float32),
                         tf.TensorSpec([], tf.int32)])
    for max_length, beam_size in ((5, 1), (3, 4)):
      graph = beam(latents, slot_mask, tf.constant(max_length),
                   tf.constant(beam_size))
      eager = model.beam_search(latents, max_length, beam_size,
                                slot_mask=slot_mask)
      tf.nest.map_structure(
          lambda a, b: self.assertAllClose(a, b, atol=1e-5), graph, eager)
      tf.nest.map_structure(
          self.assertAllEqual, generate(latents, tf.constant(max_length)),
          model.generate(latents, max_length, greedy=True))
    # An empty batch (a serving request's empty chunk) decodes to nothing.
    empty = beam(latents[:0], slot_mask[:0], tf.constant(4), tf.constant(2))
    self.assertEqual(empty["elements"].shape[0], 0)
    self.assertEqual(generate(latents[:0], tf.constant(4))["elements"].shape[0],
                     0)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                r"`beam_size` must be >= 1"):
      beam(latents, slot_mask, tf.constant(4), tf.constant(0))


class ErrorTest(test_case.TestCase):

  def test_bad_beam_size(self):
    model = tiny_model()
    latents = model.sample_prior(2, SEED)[0]
    for beam_size in (0, -2, tf.constant(0)):
      with self.assertRaisesRegex(ValueError,
                                  r"^`beam_size` must be >= 1, received"):
        generation.beam_search(model, latents, 4, beam_size)

  def test_image_model(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(observation="binary_image", num_slots=2,
                                  **TINY)
    with self.assertRaisesRegex(ValueError, r"`beam_search` decodes text"):
      model.beam_search(model.sample_prior(2, SEED)[0], 4, 2)


if __name__ == "__main__":
  tf.test.main()
