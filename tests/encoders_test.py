"""Tests of the observation encoders (inverse_draw_tf/encoders.py)."""

import keras
import numpy as np
import tensorflow as tf

from configs import common
from configs import ptb
from inverse_draw_tf import config_lib
from inverse_draw_tf import encoders
from inverse_draw_tf import flops
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import warm_start
from tests import test_case

BATCH, LENGTH, INPUT_DIM, OUTPUT_DIM = 3, 9, 4, 5


def inputs(seed=0):
  return tf.random.stateless_normal([BATCH, LENGTH, INPUT_DIM], [seed, 1])


def built(context, seed=0):
  keras.utils.set_random_seed(seed)
  encoder = encoders.LocalEncoder(OUTPUT_DIM, context)
  encoder(inputs())
  return encoder


class LocalEncoderTest(test_case.TestCase):

  def test_layer(self):
    lengths = tf.constant([LENGTH, 4, 1])
    self.run_layer_test(
        encoders.LocalEncoder, dict(output_dim=OUTPUT_DIM, context=2),
        (inputs(),), call_kwargs={"mask": tf.sequence_mask(lengths, LENGTH)},
        expected_output_shape=(BATCH, LENGTH, OUTPUT_DIM),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
        require_nonzero_gradients=True)

  def test_matches_a_hand_computed_convolution(self):
    context, lengths = 1, [LENGTH, 4, 1]
    encoder = built(context)
    x = inputs(3).numpy()
    mask = np.arange(LENGTH)[None, :] < np.array(lengths)[:, None]
    kernel, bias = (w.numpy() for w in encoder.convolution.weights)
    padded = np.pad(x * mask[..., None], [(0, 0), (context, context), (0, 0)])
    expected = np.zeros([BATCH, LENGTH, OUTPUT_DIM], np.float32)
    for t in range(LENGTH):
      window = padded[:, t:t + 2 * context + 1]  # Elements t - c .. t + c.
      expected[:, t] = np.tanh(np.einsum("bje,jeo->bo", window, kernel) + bias)
    expected *= mask[..., None]
    self.assertAllClose(encoder(x, mask=mask), expected, atol=1e-5)

  def test_an_element_reaches_exactly_context_positions_each_side(self):
    context, changed = 2, 4
    encoder = built(context)
    x = inputs().numpy()
    moved = x.copy()
    moved[:, changed] += 3.0
    difference = np.abs(encoder(moved).numpy() - encoder(x).numpy()).max(
        axis=(0, 2))
    reached = np.abs(np.arange(LENGTH) - changed) <= context
    self.assertTrue(np.all(difference[reached] > 1e-4), difference)
    self.assertAllEqual(difference[~reached], np.zeros((~reached).sum()))

  def test_padding_neither_leaks_nor_is_encoded(self):
    encoder = built(context=3)
    lengths = tf.constant([LENGTH, 5, 2])
    mask = tf.sequence_mask(lengths, LENGTH)
    x = inputs().numpy()
    other = x.copy()
    other[~mask.numpy()] = 100.0  # Whatever sits in the padding.
    memory = encoder(x, mask=mask).numpy()
    self.assertAllEqual(memory, encoder(other, mask=mask))
    self.assertAllEqual(memory[~mask.numpy()],
                        np.zeros([int((~mask).numpy().sum()), OUTPUT_DIM]))
    for row, length in enumerate(lengths.numpy()):  # As if unpadded.
      self.assertAllClose(memory[row, :length],
                          encoder(x[row:row + 1, :length])[0], atol=1e-6)

  def test_bad_arguments_are_one_line_errors(self):
    with self.assertRaisesRegex(
        ValueError, r"^`context` must be a positive integer \(elements on "
        r"each side\), received 0.$"):
      encoders.LocalEncoder(4, 0)
    with self.assertRaisesRegex(
        ValueError, r"^`output_dim` must be a positive integer, received "
        r"2.5.$"):
      encoders.LocalEncoder(2.5, 1)
    with self.assertRaisesRegex(
        ValueError, r"^`encoder_context` must be 0 \(a BiLSTM over the whole "
        r"observation\) or a positive number of elements, received -1.$"):
      encoders.get(8, -1)


def model_config(encoder_context):
  config = common.get_config()
  config.model.update(embedding_dim=12, encoder_units=10, decoder_units=16,
                      posterior_units=10, prior_units=10, num_slots=4,
                      latent_dim=6, word_dropout=0.0,
                      encoder_context=encoder_context)
  return config


def model(encoder_context, seed=0):
  keras.utils.set_random_seed(seed)
  built_model = model_lib.build_model(model_config(encoder_context).model, 30)
  built_model(model_lib.example_batch(built_model))
  return built_model


class ModelEncoderTest(test_case.TestCase):

  def test_encoder_context_picks_the_encoder(self):
    bidirectional, local = model(0), model(2)
    self.assertIsInstance(bidirectional.encoder, keras.layers.Bidirectional)
    self.assertIsInstance(local.encoder, encoders.LocalEncoder)
    self.assertEqual(local.encoder.context, 2)
    self.assertEqual(local.get_config()["encoder_context"], 2)
    self.assertEqual(model_lib.InverseDraw.from_config(
        local.get_config()).encoder_context, 2)
    tokens = tf.constant([[5, 6, 7, 8, 9, 10, 2], [5, 6, 2, 0, 0, 0, 0]])
    for each in (bidirectional, local):  # The same memory shape either way.
      memory, mask = each.encode_observation({"tokens": tokens})
      self.assertEqual(memory.shape, (2, 7, 20))
      self.assertAllEqual(tf.boolean_mask(memory, ~mask),
                          tf.zeros([4, 20]))

  def test_a_local_posterior_is_blind_beyond_its_context(self):
    # Under the local encoder the first word's memory vector does not move
    # when the sentence's end changes; under the BiLSTM it does.
    tokens = tf.constant([[5, 6, 7, 8, 9, 10, 11, 2]])
    changed = tf.constant([[5, 6, 7, 8, 9, 10, 12, 2]])
    for context, moves in ((0, True), (2, False)):
      encoder = model(context)
      first = [encoder.encode_observation({"tokens": t})[0][0, 0]
               for t in (tokens, changed)]
      self.assertEqual(bool(np.abs(first[0] - first[1]).max() > 0), moves)

  def test_inference_network_copies_between_local_encoders(self):
    source, target = model(2, seed=1), model(2, seed=2)
    warm_start.warm_start_inference(target, source)
    self.assertAllEqual(target.encoder.convolution.kernel,
                        source.encoder.convolution.kernel)

  def test_config_key_and_validation(self):
    config = ptb.get_config("encoder_context=3,runlocal")
    self.assertEqual(config.model.encoder_context, 3)
    self.assertEqual(ptb.get_config().model.encoder_context, 0)
    config.model.encoder_context = -2
    with self.assertRaisesRegex(
        config_lib.ConfigError, r"^`config.model.encoder_context` must be 0 "
        r"\(a BiLSTM .* received -2.$"):
      config_lib.validate(config)

  def test_flops_count_the_convolution(self):
    local = model(2)
    tokens = BATCH * LENGTH
    self.assertEqual(flops.forward_flops(local, BATCH, LENGTH)["encoder"],
                     tokens * 2.0 * 5 * 12 * 20)


if __name__ == "__main__":
  tf.test.main()
