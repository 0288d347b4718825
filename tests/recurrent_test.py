"""The fused LSTM (inverse_draw_tf/recurrent.py) against Keras' own loop:
same outputs and gradients in float32, for the BiLSTM encoder with masks and
for the plain LSTM decoder, inside and outside a `tf.function`."""

import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import model as model_lib
from inverse_draw_tf import recurrent


def _loss(outputs):
  # Weights that differ per unit and step, so every output's gradient differs.
  shape = tf.shape(outputs)
  weights = tf.sin(tf.cast(tf.range(shape[1] * shape[2]), outputs.dtype))
  return tf.reduce_sum(outputs * tf.reshape(weights, [1, shape[1], shape[2]]))


class MatmulTest(tf.test.TestCase):

  def _check(self, inputs, kernel, kernel_transposed=None):
    def value_and_gradients(product):
      with tf.GradientTape() as tape:
        tape.watch([inputs, kernel])
        outputs = product()
        loss = tf.reduce_sum(outputs * tf.sin(outputs))  # Uneven upstream.
      return [outputs] + tape.gradient(loss, [inputs, kernel])

    expected = value_and_gradients(lambda: tf.matmul(inputs, kernel))
    got = value_and_gradients(
        lambda: recurrent.matmul(inputs, kernel, kernel_transposed))
    for want, have in zip(expected, got):
      self.assertAllClose(want, have, rtol=1e-5, atol=1e-5)

  def test_values_and_gradients_equal_tf_matmul(self):
    kernel = tf.random.stateless_normal([6, 5], [1, 2])
    self._check(tf.random.stateless_normal([4, 6], [3, 4]), kernel)
    self._check(tf.random.stateless_normal([4, 6], [3, 4]), kernel,
                tf.transpose(kernel))
    # (B, T, I) inputs against a 2-D kernel, as the output layer has them.
    self._check(tf.random.stateless_normal([2, 3, 6], [5, 6]), kernel)

  def test_batched_kernels(self):
    kernel = tf.random.stateless_normal([2, 6, 5], [7, 8])
    self._check(tf.random.stateless_normal([2, 4, 6], [9, 1]), kernel,
                tf.transpose(kernel, [0, 2, 1]))


class InLoopKernel:
  """`DeferredKernel`'s interface, differentiated the plain way: no tap, the
  kernel's gradient taken and summed inside the loop by TensorFlow."""

  def __init__(self, kernel):
    self.kernel = kernel

  def tap(self, step_gates):
    return step_gates

  def product(self, states_t):
    return tf.matmul(states_t, self.kernel)

  def record_states(self, states, first):
    del states, first


def _recurrence(kernel_class, step_gates, kernel, first):
  """A tanh RNN `s_t = tanh(g_t + s_{t-1} W)`, W square, run by `tf.scan`."""
  kernel = kernel_class(kernel)
  step_gates = kernel.tap(step_gates)
  states = tf.scan(lambda state, gates: tf.tanh(gates + kernel.product(state)),
                   step_gates, initializer=first)
  kernel.record_states(states, first)
  return states


class DeferredKernelTest(tf.test.TestCase):

  def _compare(self, shape, kernel_shape, compiled=False):
    step_gates = tf.random.stateless_normal(shape, [1, 2])
    kernel = tf.random.stateless_normal(kernel_shape, [3, 4]) * 0.5
    first = tf.random.stateless_normal(shape[1:], [5, 6])
    upstream = tf.random.stateless_normal(shape, [7, 8])

    def value_and_gradients(kernel_class):
      with tf.GradientTape() as tape:
        tape.watch([step_gates, kernel, first])
        states = _recurrence(kernel_class, step_gates, kernel, first)
        loss = tf.reduce_sum(states * upstream)
      return [states] + tape.gradient(loss, [step_gates, kernel, first])

    run = tf.function(value_and_gradients) if compiled else value_and_gradients
    expected, got = run(InLoopKernel), run(recurrent.DeferredKernel)
    for want, have in zip(expected, got):
      self.assertAllClose(want, have, rtol=1e-5, atol=1e-5)
    # The kernel's gradient is not zero: the test can tell a lost gradient.
    self.assertGreater(float(tf.reduce_max(tf.abs(got[2]))), 0.1)

  def test_values_and_gradients_equal_the_loop_differentiated(self):
    self._compare([5, 3, 4], [4, 4])  # (T, B, S)
    self._compare([5, 3, 4], [4, 4], compiled=True)

  def test_batched_kernels(self):
    self._compare([5, 2, 3, 4], [2, 4, 4])  # (T, D, B, S): two directions.
    self._compare([5, 2, 3, 4], [2, 4, 4], compiled=True)

  def test_gradient_without_recorded_states_is_an_error(self):
    kernel = tf.eye(2)
    with tf.GradientTape() as tape:
      tape.watch(kernel)
      deferred = recurrent.DeferredKernel(kernel)
      gates = deferred.tap(tf.ones([3, 1, 2]))
    with self.assertRaisesRegex(ValueError, "record_states"):
      tape.gradient(gates, kernel)

  def test_the_models_recurrences_give_the_loops_gradients(self):
    # The input-feeding decoder, the slot writer with BN-VAE's per-slot
    # normalisation, and the exact-choice prior of a lower level: every
    # weight's gradient as differentiating the loops gives it.
    keras.utils.set_random_seed(7)
    model = model_lib.InverseDraw(
        vocab_size=30, embedding_dim=8, encoder_units=8, decoder_units=16,
        posterior_units=8, prior_units=8, num_slots=[4, 2], latent_dim=[3, 5],
        prior_alignment="exact", decoder_wiring="input_feeding",
        posterior_mean_batchnorm_gamma=0.5)
    batch = {"tokens": tf.constant([[4, 5, 6, 3, 0, 0], [7, 8, 9, 10, 11, 3]])}
    seed = tf.constant([1, 2])
    model(batch, seed=seed)

    def gradients():
      with tf.GradientTape() as tape:
        out = model(batch, seed=seed, training=True)
        loss = (tf.reduce_sum(out["log_likelihood"]) -
                sum(tf.reduce_sum(kl) for kl in out["kl"]))
      return tape.gradient(loss, model.trainable_variables)

    deferred = gradients()
    original = recurrent.DeferredKernel
    recurrent.DeferredKernel = InLoopKernel
    try:
      in_loop = gradients()
    finally:
      recurrent.DeferredKernel = original
    names = [v.path for v in model.trainable_variables]
    checked = 0
    for name, want, have in zip(names, in_loop, deferred):
      if want is None:
        self.assertIsNone(have, name)
        continue
      self.assertAllClose(tf.convert_to_tensor(want),
                          tf.convert_to_tensor(have), rtol=1e-4, atol=1e-5,
                          msg=name)
      checked += 1
    recurrent_kernels = [n for n in names if n.endswith("/kernel")]
    self.assertGreaterEqual(len(recurrent_kernels), 3, names)
    self.assertGreater(checked, 10)


class FusedLstmTest(tf.test.TestCase):

  def _compare(self, layer, inputs, mask=None, compiled=False):
    def outputs_and_gradients(fn):
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = fn()
        loss = _loss(outputs)
      return [outputs] + tape.gradient(loss,
                                       [inputs] + layer.trainable_variables)

    keras_fn = lambda: outputs_and_gradients(lambda: layer(inputs, mask=mask))
    fused_fn = lambda: outputs_and_gradients(
        lambda: recurrent.fused_lstm(layer, inputs, mask))
    if compiled:
      keras_fn, fused_fn = tf.function(keras_fn), tf.function(fused_fn)
    expected, fused = keras_fn(), fused_fn()
    for want, got in zip(expected, fused):
      self.assertAllClose(want, got, rtol=1e-5, atol=1e-5)
    return fused[0]

  def test_bidirectional_with_ragged_lengths_matches_keras(self):
    keras.utils.set_random_seed(3)
    inputs = tf.random.normal([5, 9, 7])
    # Lengths 1..9, one full row: every padding pattern the data makes.
    mask = tf.sequence_mask([9, 4, 1, 6, 8], 9)
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(6, return_sequences=True))
    layer(inputs, mask=mask)
    outputs = self._compare(layer, inputs, mask)
    self.assertEqual(outputs.shape, (5, 9, 12))
    # Padding outputs are zero, as Keras' Bidirectional returns them.
    self.assertAllEqual(tf.boolean_mask(outputs, ~mask),
                        tf.zeros([45 - 28, 12]))
    self._compare(layer, inputs, mask, compiled=True)

  def test_bidirectional_without_mask_matches_keras(self):
    keras.utils.set_random_seed(4)
    inputs = tf.random.normal([3, 6, 5])
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=True))
    layer(inputs)
    self._compare(layer, inputs)

  def test_plain_lstm_matches_keras(self):
    keras.utils.set_random_seed(5)
    inputs = tf.random.normal([4, 8, 3])
    layer = keras.layers.LSTM(5, return_sequences=True)
    layer(inputs)
    self._compare(layer, inputs, compiled=True)

  def test_a_mask_with_holes_is_rejected(self):
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(2, return_sequences=True))
    inputs = tf.ones([1, 3, 2])
    layer(inputs)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                "right-padded masks"):
      recurrent.fused_lstm(layer, inputs, tf.constant([[True, False, True]]))

  def test_unsupported_layers_are_rejected(self):
    inputs = tf.ones([1, 3, 2])
    for layer, message in [
        (keras.layers.LSTM(2, return_sequences=True, go_backwards=True),
         "go_backwards"),
        (keras.layers.LSTM(2, return_sequences=True, dropout=0.5),
         "no dropout"),
        (keras.layers.Bidirectional(keras.layers.LSTM(
            2, return_sequences=True), merge_mode="sum"), "merge_mode")]:
      layer(inputs)
      with self.assertRaisesRegex(ValueError, message):
        recurrent.fused_lstm(layer, inputs)
    masked = keras.layers.LSTM(2, return_sequences=True)
    masked(inputs)
    with self.assertRaisesRegex(ValueError, "zero_output_for_mask"):
      recurrent.fused_lstm(masked, inputs, tf.ones([1, 3], tf.bool))

  def test_the_model_encodes_with_the_fused_path_on_cpu(self):
    self.assertTrue(recurrent.fused_path_enabled())  # The suite has no GPU.
    keras.utils.set_random_seed(6)
    model = model_lib.InverseDraw(vocab_size=30, embedding_dim=8,
                                  encoder_units=5, decoder_units=8,
                                  posterior_units=6, num_slots=2,
                                  latent_dim=3)
    model(model_lib.example_batch(model))
    batch = {"tokens": tf.constant([[4, 5, 6, 2, 0], [7, 2, 0, 0, 0]])}
    memory, mask = model.encode_observation(batch)
    embedded = model.encoder_embedding(batch["tokens"])
    self.assertAllClose(memory, model.encoder(embedded, mask=mask),
                        rtol=1e-5, atol=1e-6)


if __name__ == "__main__":
  tf.test.main()
