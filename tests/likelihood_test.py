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
