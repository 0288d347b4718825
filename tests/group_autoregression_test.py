"""Tests of the within-step pixel autoregression (`group_autoregression.py`,
`model.group_autoregressive_units`): the MADE masks by hand, each offset
blind to its own and later pixels (through the Jacobian), the likelihood a
normalised distribution over every image of a small model (with and
without latents), generation drawing what the likelihood scores, configs
and errors."""

import itertools

import numpy as np
import tensorflow as tf

from configs import mnist
from inverse_draw_tf import alignment
from inverse_draw_tf import config_lib
from inverse_draw_tf import decoder as decoder_lib
from inverse_draw_tf import group_autoregression as group_lib
from inverse_draw_tf import model as model_lib
import test_case

# Every image of a 2 x 3 model (two steps of three pixels): 64 of them.
ALL_IMAGES = np.array(list(itertools.product([0.0, 1.0], repeat=6)),
                      np.float32).reshape(-1, 2, 3)


def randomize(layer, seed=0):
  """Random weights everywhere: the output kernels start at zero, which
  would make every offset 0 and every check below pass trivially."""
  rng = np.random.default_rng(seed)
  for weight in layer.weights:
    weight.assign(rng.normal(size=weight.shape).astype(np.float32))


def ordered_image_model(height, width, units, seed):
  """A built K=0 image model of `height` steps of `width` pixels whose
  group autoregression has random weights."""
  model = model_lib.InverseDraw(
      observation="binary_image", image_shape=(height, width),
      pixels_per_step=width, num_slots=0, embedding_dim=4, decoder_units=5,
      group_autoregressive_units=units)
  model.build()
  randomize(model.decoder.group_autoregression, seed)
  return model


class MadeMasksTest(test_case.TestCase):

  def test_masks_by_hand(self):
    # G = 3 pixels, H = 2 hidden units of degrees 1 and 2.
    mask_in, mask_out, mask_direct = group_lib.made_masks(3, 2)
    self.assertAllEqual(mask_in, [[1, 1], [0, 1], [0, 0]])
    self.assertAllEqual(mask_out, [[0, 1, 1], [0, 0, 1]])
    self.assertAllEqual(mask_direct, [[0, 1, 1], [0, 0, 1], [0, 0, 0]])

  def test_one_pixel_groups_are_refused(self):
    with self.assertRaisesRegex(
        ValueError, r"needs at least 2 elements per step, received 1; turn "
        r"it off \(0 units\) or emit more pixels per step"):
      group_lib.made_masks(1, 4)


class GroupAutoregressionLayerTest(test_case.TestCase):

  def test_layer(self):
    rng = np.random.RandomState(0)
    elements = tf.constant(rng.rand(2, 3, 5) > 0.5, tf.float32)
    hidden = tf.constant(rng.randn(2, 3, 7), tf.float32)
    self.run_layer_test(
        group_lib.GroupAutoregression, dict(units=6), (elements, hidden),
        expected_output_shape=(2, 3, 5), expected_num_trainable_weights=5,
        # Linear: at zero offsets (the initial output weights) a sum of
        # squares has zero gradient everywhere.
        output_to_loss=tf.reduce_sum)

  def test_offset_j_sees_only_the_pixels_before_j(self):
    layer = group_lib.GroupAutoregression(units=9)
    rng = np.random.RandomState(1)
    elements = tf.constant(rng.rand(4, 5) > 0.5, tf.float32)
    hidden = tf.constant(rng.randn(4, 3), tf.float32)
    layer(elements, hidden)
    randomize(layer)
    with tf.GradientTape() as tape:
      tape.watch(elements)
      offsets = layer(elements, hidden)
    jacobian = tape.batch_jacobian(offsets, elements).numpy()  # (B, j, i)
    later = np.triu(np.ones([5, 5], bool))  # i >= j
    self.assertAllEqual(jacobian[:, later], np.zeros_like(jacobian[:, later]))
    self.assertTrue(np.all(np.abs(jacobian[:, ~later]) > 0))

  def test_a_zero_initialised_layer_leaves_the_logits_alone(self):
    layer = group_lib.GroupAutoregression(units=4)
    offsets = layer(tf.ones([2, 3]), tf.ones([2, 5]))
    self.assertAllEqual(offsets, tf.zeros([2, 3]))

  def test_bad_units(self):
    with self.assertRaisesRegex(ValueError, r"`units` must be >= 1, "
                                r"received 0"):
      group_lib.GroupAutoregression(units=0)


class NormalisedLikelihoodTest(test_case.TestCase):
  """Summed over all 2^6 images, p(x | ...) is 1: the offsets never see the
  pixel they shift (a mask that let pixel j see itself breaks this)."""

  def test_without_latents(self):
    model = ordered_image_model(2, 3, units=4, seed=0)
    log_likelihood = model({"pixels": tf.constant(ALL_IMAGES)})[
        "log_likelihood"]
    self.assertAllClose(tf.reduce_logsumexp(log_likelihood), 0.0, atol=1e-5)
    # Not trivially: the images' probabilities differ.
    self.assertGreater(np.ptp(log_likelihood.numpy()), 1.0)

  def test_exact_alignment_given_latents(self):
    decoder = decoder_lib.Decoder(
        output_dim=3, input_kind="vectors", embedding_dim=4, units=5,
        attention="content", alignment="exact", group_units=4)
    targets = tf.constant(ALL_IMAGES)
    inputs = tf.pad(targets[:, :-1], [[0, 0], [1, 0], [0, 0]])
    latents = tf.tile(tf.constant(np.random.RandomState(2).randn(1, 3, 2),
                                  tf.float32), [len(ALL_IMAGES), 1, 1])
    decoder(inputs, latents, targets=targets)
    randomize(decoder.group_autoregression)
    decoded = decoder(inputs, latents, targets=targets)
    log_prob, _ = alignment.aligned_log_prob(
        decoded, targets, tf.ones([len(ALL_IMAGES), 2], tf.bool),
        "binary_image")
    log_likelihood = tf.reduce_sum(log_prob, 1)
    self.assertAllClose(tf.reduce_logsumexp(log_likelihood), 0.0, atol=1e-5)
    self.assertGreater(np.ptp(log_likelihood.numpy()), 1.0)

  def test_the_decoder_needs_the_targets(self):
    decoder = decoder_lib.Decoder(output_dim=3, input_kind="vectors",
                                  embedding_dim=4, units=5, group_units=4)
    with self.assertRaisesRegex(ValueError, r"`targets` \(the elements of "
                                r"each step\) are required with "
                                r"`group_units`"):
      decoder(tf.zeros([2, 2, 3]))


class GenerationTest(test_case.TestCase):

  def test_greedy_pixels_are_the_likelihoods_modes(self):
    """Greedy generation takes pixel j on iff its logit, given the pixels
    drawn before it, is positive: the logits teacher forcing computes on
    the generated image."""
    model = ordered_image_model(4, 6, units=8, seed=3)
    images = model.generate(None, 4, greedy=True, batch_size=1)["elements"]
    inputs = tf.pad(images[:, :-1], [[0, 0], [1, 0], [0, 0]])
    logits = model.decoder(inputs, targets=images)["logits"]
    self.assertAllEqual(images, tf.cast(logits > 0, tf.float32))
    # Both values occur, so the check could have failed either way.
    self.assertAllInSet(np.unique(images.numpy()), [0.0, 1.0])
    self.assertLen(np.unique(images.numpy()), 2)

  def test_sampled_images_follow_the_likelihood(self):
    """The empirical distribution of sampled 2 x 3 images matches
    exp(log_likelihood) (within sampling error)."""
    model = ordered_image_model(2, 3, units=4, seed=4)
    probs = tf.exp(model({"pixels": tf.constant(ALL_IMAGES)})[
        "log_likelihood"]).numpy()
    count = 20000
    images = model.generate(None, 2, seed=tf.constant([5, 6]),
                            batch_size=count)["elements"].numpy()
    codes = images.reshape(count, 6) @ (2 ** np.arange(5, -1, -1))
    frequency = np.bincount(codes.astype(int), minlength=64) / count
    # 4 standard errors of a frequency at p <= 0.25 is at most 0.0123.
    self.assertAllClose(frequency, probs, atol=0.0125)


class ConfigTest(test_case.TestCase):

  def test_mnist_key_sets_the_model_units(self):
    config = mnist.get_config("variant=exact_window,row_autoregression=64")
    self.assertEqual(config.model.group_autoregressive_units, 64)
    self.assertEqual(mnist.get_config().model.group_autoregressive_units, 0)
    config_lib.validate(config)

  def test_errors(self):
    with self.assertRaisesRegex(ValueError, r"`row_autoregression` must be "
                                r">= 0 \(0 = off\), received -1"):
      mnist.get_config("row_autoregression=-1")
    with self.assertRaisesRegex(
        ValueError, r"`group_autoregressive_units` must be 0 \(off\) or, for "
        r"images, a positive number of units; received 8 for "
        r"observation='text'"):
      model_lib.InverseDraw(vocab_size=20, group_autoregressive_units=8)
    with self.assertRaisesRegex(ValueError, r"`group_units`=8 needs vector "
                                r"inputs \(images\)"):
      decoder_lib.Decoder(output_dim=20, input_kind="tokens",
                          embedding_dim=4, units=5, group_units=8)

  def test_model_config_round_trip(self):
    model = model_lib.InverseDraw(observation="binary_image", num_slots=2,
                                  latent_dim=3, embedding_dim=4,
                                  encoder_units=4, decoder_units=5,
                                  posterior_units=4,
                                  group_autoregressive_units=6)
    clone = model_lib.InverseDraw.from_config(model.get_config())
    self.assertEqual(clone.decoder.group_units, 6)
    self.assertEqual(clone.get_config(), model.get_config())


if __name__ == "__main__":
  tf.test.main()
