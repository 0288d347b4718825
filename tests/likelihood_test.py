"""The fused text likelihood (likelihood.categorical_log_prob) against
TFP's Categorical and a hand computation, in value and gradient."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inverse_draw_tf import likelihood

tfd = tfp.distributions


class CategoricalLogProbTest(tf.test.TestCase):

  def test_matches_a_hand_computation(self):
    logits = tf.constant([[[0.0, 1.0, 2.0], [3.0, 3.0, 3.0]]])
    targets = tf.constant([[2, 0]])
    got = likelihood.categorical_log_prob(logits, targets)
    want = [[2.0 - np.log(1 + np.e + np.e ** 2), -np.log(3.0)]]
    self.assertAllClose(want, got, atol=1e-6)

  def test_value_and_gradient_equal_tfp_in_float32(self):
    logits = tf.random.stateless_normal([3, 5, 11], [1, 2]) * 4.0
    targets = tf.random.stateless_uniform([3, 5], [3, 4], maxval=11,
                                          dtype=tf.int32)
    upstream = tf.random.stateless_normal([3, 5], [5, 6])

    def value_and_gradient(fn):
      with tf.GradientTape() as tape:
        tape.watch(logits)
        value = fn(logits)
        loss = tf.reduce_sum(value * upstream)
      return value, tape.gradient(loss, logits)

    want = value_and_gradient(
        lambda l: tfd.Categorical(logits=l).log_prob(targets))
    got = value_and_gradient(
        lambda l: likelihood.categorical_log_prob(l, targets))
    self.assertAllClose(want[0], got[0], atol=1e-5)
    self.assertAllClose(want[1], got[1], atol=1e-6)
    # The gradient of each row sums to zero (softmax minus a one-hot).
    self.assertAllClose(tf.zeros([3, 5]), tf.reduce_sum(got[1], -1),
                        atol=1e-6)

  def test_bfloat16_logits_give_float32_values_and_bfloat16_gradients(self):
    logits = tf.cast(tf.random.stateless_normal([2, 4, 7], [7, 8]),
                     tf.bfloat16)
    targets = tf.constant([[1, 2, 3, 4], [6, 5, 0, 0]])
    with tf.GradientTape() as tape:
      tape.watch(logits)
      value = likelihood.categorical_log_prob(logits, targets)
    gradient = tape.gradient(value, logits)
    self.assertEqual(value.dtype, tf.float32)
    self.assertEqual(gradient.dtype, tf.bfloat16)
    want = tfd.Categorical(logits=tf.cast(logits, tf.float32)).log_prob(
        targets)
    self.assertAllClose(want, value, atol=1e-5)

  def test_works_under_tf_function_with_unknown_shapes(self):
    fn = tf.function(
        lambda l, t: likelihood.categorical_log_prob(l, t),
        input_signature=[tf.TensorSpec([None, None, 6], tf.float32),
                         tf.TensorSpec([None, None], tf.int32)])
    logits = tf.random.stateless_normal([2, 3, 6], [9, 9])
    targets = tf.constant([[0, 1, 5], [2, 2, 2]])
    self.assertAllClose(tfd.Categorical(logits=logits).log_prob(targets),
                        fn(logits, targets), atol=1e-5)

  def test_uncompiled_gives_the_same_values_and_gradients(self):
    logits = tf.random.stateless_normal([2, 3, 9], [4, 4]) * 3.0
    targets = tf.constant([[0, 8, 4], [1, 1, 7]])

    def value_and_gradient():
      with tf.GradientTape() as tape:
        tape.watch(logits)
        value = likelihood.categorical_log_prob(logits, targets)
        loss = tf.reduce_sum(value * tf.sin(value))
      return value, tape.gradient(loss, logits)

    compiled = value_and_gradient()
    with likelihood.uncompiled():
      plain = value_and_gradient()
    self.assertAllClose(compiled[0], plain[0], atol=1e-6)
    self.assertAllClose(compiled[1], plain[1], atol=1e-6)


if __name__ == "__main__":
  tf.test.main()


class InSequenceBlocksTest(tf.test.TestCase):

  def test_blocks_cover_every_row_once_and_drop_the_padding(self):
    # 7 sequences of length 3 in blocks of 6 elements: 2 rows a block, the
    # last block half padding.
    sequences = tf.reshape(tf.range(7 * 3, dtype=tf.float32), [7, 3])
    row_ids = tf.range(7)
    calls = []

    def function(values, ids):
      calls.append(values.shape)
      return values * 2.0, tf.cast(ids, tf.float32)

    doubled, ids = likelihood.in_sequence_blocks(
        function, (sequences, row_ids), (tf.float32, tf.float32),
        block_elements=6)
    self.assertAllEqual(sequences * 2.0, doubled)
    self.assertAllEqual(np.arange(7), ids)
    self.assertEqual({(2, 3)}, {tuple(shape) for shape in calls})

  def test_a_sequence_longer_than_a_block_is_a_block_of_its_own(self):
    sequences = tf.random.stateless_normal([3, 10], [1, 2])
    got = likelihood.in_sequence_blocks(
        lambda x: tf.cumsum(x, axis=1), (sequences,), block_elements=4)
    self.assertAllClose(tf.cumsum(sequences, axis=1), got)


class OutputLogProbTest(tf.test.TestCase):

  def _inputs(self, batch_size=5, length=4, features=6, vocabulary=13):
    features_ = tf.random.stateless_normal([batch_size, length, features],
                                           [1, 2])
    kernel = tf.random.stateless_normal([features, vocabulary], [3, 4]) * 2.0
    bias = tf.random.stateless_normal([vocabulary], [5, 6])
    targets = tf.random.stateless_uniform([batch_size, length], [7, 8],
                                          maxval=vocabulary, dtype=tf.int32)
    return features_, kernel, bias, targets

  def test_equals_the_log_softmax_of_the_whole_product(self):
    features, kernel, bias, targets = self._inputs()
    want = tfd.Categorical(
        logits=tf.matmul(features, kernel) + bias).log_prob(targets)
    for block_elements in (1, 4, 8, 512):
      got = likelihood.output_log_prob(features, kernel, bias, targets,
                                       block_elements=block_elements)
      self.assertEqual(tf.float32, got.dtype)
      self.assertAllClose(want, got, atol=1e-5)

  def test_same_values_under_xla_with_shapes_unknown_at_trace_time(self):
    features, kernel, bias, targets = self._inputs(batch_size=9, length=3)
    want = likelihood.output_log_prob(features, kernel, bias, targets)
    compiled = tf.function(
        lambda f, t: likelihood.output_log_prob(f, kernel, bias, t,
                                                block_elements=7),
        jit_compile=True)
    self.assertAllClose(want, compiled(features, targets), atol=1e-5)
    plain = tf.function(
        lambda f, t: likelihood.output_log_prob(f, kernel, bias, t,
                                                block_elements=7),
        input_signature=[tf.TensorSpec([None, None, 6]),
                         tf.TensorSpec([None, None], tf.int32)])
    self.assertAllClose(want, plain(features, targets), atol=1e-5)

  def test_its_gradient_is_the_fused_likelihood_s(self):
    features, kernel, bias, targets = self._inputs()

    def gradient(fn):
      with tf.GradientTape() as tape:
        tape.watch(features)
        total = tf.reduce_sum(fn(features))
      return tape.gradient(total, features)

    want = gradient(lambda f: likelihood.categorical_log_prob(
        tf.matmul(f, kernel) + bias, targets))
    got = gradient(lambda f: likelihood.output_log_prob(
        f, kernel, bias, targets, block_elements=8))
    self.assertAllClose(want, got, atol=1e-5)
