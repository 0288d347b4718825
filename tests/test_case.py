"""A `tf.test.TestCase` with the checks every layer gets (after keras-hub's
`run_layer_test`)."""

import keras
import numpy as np
import tensorflow as tf


def _shapes(structure):
  return tf.nest.map_structure(lambda t: tuple(t.shape), structure)


class TestCase(tf.test.TestCase):
  """Base test case with layer and attention-weight checks."""

  def assert_valid_weights(self, weights, mask=None, atol=1e-5):
    """Non-negative, sum to 1 over unmasked entries, exactly 0 where masked.

    Args:
      weights: `(..., K)` attention weights.
      mask: optional bool `(..., K)` (broadcastable), False where masked.
    """
    weights = np.asarray(weights)
    self.assertTrue(np.all(weights >= 0), "negative attention weight")
    if mask is None:
      mask = np.ones_like(weights, bool)
    mask = np.broadcast_to(np.asarray(mask, bool), weights.shape)
    self.assertTrue(np.all(weights[~mask] == 0.0),
                    "masked entries must get exactly 0")
    totals = weights.sum(-1)
    has_valid = mask.any(-1)
    self.assertAllClose(totals[has_valid], np.ones_like(totals[has_valid]),
                        atol=atol)
    self.assertTrue(np.all(totals[~has_valid] == 0.0))

  def run_layer_test(self, layer_cls, init_kwargs, call_args,
                     expected_output_shape, call_kwargs=None,
                     expected_num_trainable_weights=None,
                     output_to_loss=None, input_signature=None):
    """Config round trip, weights, shapes and dtypes (eager and graph), and
    one training step with finite gradients for every weight.

    Args:
      layer_cls: the layer class.
      init_kwargs: constructor arguments.
      call_args: tuple of positional call arguments (nested tensors).
      expected_output_shape: nested structure of shape tuples.
      call_kwargs: keyword call arguments (tensors or Python values).
      expected_num_trainable_weights: checked if given.
      output_to_loss: maps the output to a scalar (default: sum of squares of
        every float output).
      input_signature: optional `tf.TensorSpec` structure for `call_args`
        (defaults to their shapes with an unknown batch dimension).

    Returns:
      The built layer.
    """
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    outputs = layer(*call_args, **call_kwargs)
    self.assertEqual(_shapes(outputs), expected_output_shape)
    for tensor in tf.nest.flatten(outputs):
      if tensor.dtype.is_floating:
        self.assertEqual(tensor.dtype, tf.float32)
        self.assertAllEqual(np.isfinite(tensor.numpy()),
                            np.ones(tensor.shape, bool))
    if expected_num_trainable_weights is not None:
      self.assertLen(layer.trainable_weights, expected_num_trainable_weights)

    # get_config / from_config round trip: same config, same outputs.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    self.assertEqual(clone.get_config(), config)
    clone(*call_args, **call_kwargs)
    clone.set_weights(layer.get_weights())
    tf.nest.map_structure(self.assertAllClose, outputs,
                          clone(*call_args, **call_kwargs))
    # Serialisation through keras' registry (what .keras files rely on).
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    self.assertIsInstance(revived, layer_cls)

    # Graph mode with an unknown batch dimension.
    if input_signature is None:
      input_signature = tf.nest.map_structure(
          lambda t: tf.TensorSpec([None] + list(t.shape[1:]), t.dtype),
          call_args)
    graph_call = tf.function(lambda *args: layer(*args, **call_kwargs),
                             input_signature=list(input_signature))
    graph_outputs = graph_call(*call_args)
    tf.nest.map_structure(self.assertAllClose, outputs, graph_outputs)

    # One training step: every weight gets a finite gradient and moves.
    if output_to_loss is None:
      output_to_loss = lambda out: tf.add_n([  # pylint: disable=g-long-lambda
          tf.reduce_sum(tf.square(t)) for t in tf.nest.flatten(out)
          if t.dtype.is_floating])
    with tf.GradientTape() as tape:
      loss = output_to_loss(layer(*call_args, **call_kwargs))
    gradients = tape.gradient(loss, layer.trainable_weights)
    for variable, gradient in zip(layer.trainable_weights, gradients):
      self.assertIsNotNone(gradient, f"no gradient for {variable.path}")
      self.assertTrue(np.all(np.isfinite(tf.convert_to_tensor(gradient))),
                      f"non-finite gradient for {variable.path}")
    before = [w.numpy().copy() for w in layer.trainable_weights]
    keras.optimizers.SGD(0.1).apply_gradients(
        zip(gradients, layer.trainable_weights))
    moved = [not np.array_equal(b, w.numpy())
             for b, w in zip(before, layer.trainable_weights)]
    self.assertTrue(any(moved), "an SGD step changed no weight")
    return layer
