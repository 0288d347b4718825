"""A `tf.test.TestCase` with the checks every layer gets (after keras-hub's
`run_layer_test`, https://github.com/keras-team/keras-hub, tests/test_case.py).

`run_layer_test` works for any Keras layer or model whose call takes (nested)
tensors positionally and/or by keyword: the attention heads, the model's
sub-layers and the `InverseDraw` model itself.
"""

import keras
import numpy as np
import tensorflow as tf


def _is_tensor(value):
  return tf.is_tensor(value) or isinstance(value, np.ndarray)


def _shapes(structure):
  return tf.nest.map_structure(lambda t: tuple(t.shape), structure)


def _pair_shapes(outputs, expected):
  """`[(tensor, expected shape)]`: walks `outputs` (whose leaves are tensors)
  and `expected` (whose leaves at those places are shape tuples) together."""
  if tf.is_tensor(outputs):
    return [(outputs, tuple(expected))]
  if isinstance(outputs, dict):
    if set(outputs) != set(expected):
      raise AssertionError(f"output keys {sorted(outputs)} differ from the "
                           f"expected {sorted(expected)}")
    pairs = []
    for key in sorted(outputs):
      pairs += _pair_shapes(outputs[key], expected[key])
    return pairs
  if len(outputs) != len(expected):
    raise AssertionError(f"{len(outputs)} outputs, expected {len(expected)}")
  return [pair for o, e in zip(outputs, expected)
          for pair in _pair_shapes(o, e)]


def _batchless_spec(value):
  """`TensorSpec` of `value` with an unknown leading (batch) dimension."""
  value = tf.convert_to_tensor(value)
  shape = value.shape.as_list()
  if shape:
    shape[0] = None
  return tf.TensorSpec(shape, value.dtype)


class TestCase(tf.test.TestCase):
  """Base test case with layer and attention-weight checks."""

  # tf.test.TestCase's deprecated `test_session` is not a test; without this
  # pytest collects and skips it in every class.
  test_session = None

  def assert_valid_weights(self, weights, mask=None, atol=1e-5):
    """Non-negative, sum to 1 over unmasked entries, exactly 0 where masked.

    Rows without any unmasked entry must be all 0.

    Args:
      weights: `(..., K)` attention weights.
      mask: optional bool `(..., K)` (broadcastable), False where masked.
      atol: tolerance of the sums.
    """
    weights = np.asarray(weights)
    self.assertTrue(np.all(np.isfinite(weights)), "non-finite weight")
    self.assertTrue(np.all(weights >= 0), f"negative weight: {weights.min()}")
    if mask is None:
      mask = np.ones(weights.shape, bool)
    mask = np.broadcast_to(np.asarray(mask, bool), weights.shape)
    self.assertTrue(np.all(weights[~mask] == 0.0),
                    "masked entries must get exactly 0, got max "
                    f"{weights[~mask].max() if (~mask).any() else 0}")
    totals = weights.sum(-1)
    has_valid = mask.any(-1)
    self.assertAllClose(totals[has_valid], np.ones_like(totals[has_valid]),
                        atol=atol, rtol=0.0,
                        msg="weights must sum to 1 over unmasked entries")
    self.assertTrue(np.all(totals[~has_valid] == 0.0),
                    "rows with no unmasked entry must be all 0")

  def run_layer_test(self, layer_cls, init_kwargs, call_args,
                     expected_output_shape, call_kwargs=None,
                     expected_num_trainable_weights=None,
                     output_to_loss=None, input_signature=None,
                     kwargs_signature=None,
                     expected_num_non_trainable_weights=None,
                     expected_output_dtype=None,
                     require_nonzero_gradients=False,
                     zero_gradient_weights=(), run_training_check=True,
                     graph_atol=1e-5):
    """The standard checks of a layer (or model).

    1. Eager call: output shapes (exactly `expected_output_shape`), dtypes and
       finiteness; the numbers of trainable and non-trainable weights.
    2. `get_config`/`from_config` round trip: equal configs, and identical
       outputs once the clone has the original's weights (`set_weights`);
       serialisation through the Keras registry (what `.keras` files use), so
       the class must be `keras.saving.register_keras_serializable`.
    3. Graph mode: a `tf.function` whose `input_signature` has an unknown
       batch dimension, both calling the eager-built layer and building a
       fresh clone inside the function; static output shapes must be
       compatible with the expected ones and outputs match eager mode.
    4. One training step: every trainable variable gets a non-None, finite
       gradient of a scalar loss of the outputs (with
       `require_nonzero_gradients`, also not all zero), and an SGD step moves
       each by exactly `-lr * gradient` (and at least one weight moves).

    Args:
      layer_cls: the layer class.
      init_kwargs: constructor arguments.
      call_args: tuple of positional call arguments (nested tensors, or
        Python values, which stay fixed in graph mode).
      expected_output_shape: nested structure of shape tuples, one per output
        tensor, in the output's structure (e.g. a dict of tuples).
      call_kwargs: keyword call arguments: (nested) tensors, which become
        graph-mode inputs, or Python values (`training=False`, None).
      expected_num_trainable_weights: checked if given.
      output_to_loss: maps the output to a scalar (default: sum of squares of
        every float output).
      input_signature: optional `tf.TensorSpec` structure for the tensors of
        `call_args` (default: their shapes with an unknown batch dimension).
      kwargs_signature: the same for the tensors of `call_kwargs` (a dict
        of specs, one per tensor); needed for tensors without a batch
        dimension, e.g. `{"seed": tf.TensorSpec([2], tf.int32)}`.
      expected_num_non_trainable_weights: checked if given.
      expected_output_dtype: a dtype for every floating output, or a nested
        structure of dtypes (one per output); default: every floating output
        has the layer's compute dtype.
      require_nonzero_gradients: also fail on an all-zero gradient (a weight
        that cannot learn from this loss).
      zero_gradient_weights: with `require_nonzero_gradients`, substrings of
        the paths of trainable variables that may get an all-zero (but never
        None) gradient, e.g. the mixture logits of a one-component mixture.
      run_training_check: set False for layers without trainable weights.
      graph_atol: tolerance of graph versus eager outputs.

    Returns:
      The (eagerly built and trained one step) layer.
    """
    call_kwargs = dict(call_kwargs or {})
    layer = layer_cls(**init_kwargs)
    outputs = layer(*call_args, **call_kwargs)

    # 1. Shapes, dtypes, weights.
    self.assertEqual(_shapes(outputs), expected_output_shape,
                     "eager output shapes")
    self._assert_dtypes(layer, outputs, expected_output_dtype)
    for tensor in tf.nest.flatten(outputs):
      if tensor.dtype.is_floating:
        self.assertTrue(np.all(np.isfinite(tensor.numpy())),
                        "non-finite output")
    if expected_num_trainable_weights is not None:
      self.assertLen(layer.trainable_weights, expected_num_trainable_weights)
    if expected_num_non_trainable_weights is not None:
      self.assertLen(layer.non_trainable_weights,
                     expected_num_non_trainable_weights)

    # 2. Config round trip: same config, identical outputs with same weights.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    self.assertEqual(clone.get_config(), config)
    clone(*call_args, **call_kwargs)
    self.assertEqual([tuple(w.shape) for w in clone.weights],
                     [tuple(w.shape) for w in layer.weights])
    clone.set_weights(layer.get_weights())
    tf.nest.map_structure(self.assertAllEqual, outputs,
                          clone(*call_args, **call_kwargs))
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    self.assertIsInstance(revived, layer_cls)
    self.assertEqual(revived.get_config(), config)

    # 3. Graph mode with an unknown batch dimension.
    graph_fn, inputs = self._graph_function(
        call_args, call_kwargs, input_signature, kwargs_signature)
    eager_layer_fn = graph_fn(layer)
    self._assert_static_shapes(
        eager_layer_fn.get_concrete_function().structured_outputs,
        expected_output_shape)
    graph_outputs = eager_layer_fn(*inputs)
    self.assertEqual(_shapes(graph_outputs), expected_output_shape,
                     "graph output shapes")
    self._assert_dtypes(layer, graph_outputs, expected_output_dtype)
    tf.nest.map_structure(
        lambda a, b: self.assertAllClose(a, b, atol=graph_atol, rtol=0.0),
        outputs, graph_outputs)
    # A fresh clone built (weights created) inside the function.
    graph_clone = layer_cls.from_config(config)
    clone_fn = graph_fn(graph_clone)
    clone_fn(*inputs)
    self.assertLen(graph_clone.weights, len(layer.weights))
    graph_clone.set_weights(layer.get_weights())
    tf.nest.map_structure(
        lambda a, b: self.assertAllClose(a, b, atol=graph_atol, rtol=0.0),
        outputs, clone_fn(*inputs))

    # 4. One training step.
    if run_training_check:
      self._check_training_step(
          layer, call_args, call_kwargs, output_to_loss,
          zero_gradient_weights if require_nonzero_gradients else None)
    return layer

  def _assert_dtypes(self, layer, outputs, expected_output_dtype):
    flat = tf.nest.flatten(outputs)
    if expected_output_dtype is None or isinstance(
        expected_output_dtype, (str, tf.dtypes.DType, np.dtype, type)):
      dtype = tf.as_dtype(expected_output_dtype or layer.compute_dtype)
      for tensor in flat:
        if tensor.dtype.is_floating:
          self.assertEqual(tensor.dtype, dtype, "output dtype")
    else:
      self.assertEqual([t.dtype for t in flat],
                       [tf.as_dtype(d) for d in tf.nest.flatten(
                           expected_output_dtype)], "output dtypes")

  def _assert_static_shapes(self, symbolic_outputs, expected_output_shape):
    for tensor, shape in _pair_shapes(symbolic_outputs, expected_output_shape):
      self.assertTrue(
          tensor.shape.is_compatible_with(shape),
          f"graph-mode static shape {tensor.shape} is incompatible with the "
          f"expected {shape}")
      self.assertIsNotNone(tensor.shape.rank, "unknown rank in graph mode")

  def _graph_function(self, call_args, call_kwargs, input_signature,
                      kwargs_signature):
    """Returns `(make_fn, inputs)`: `make_fn(layer)` is a `tf.function` of the
    tensors of `(call_args, call_kwargs)`, given as `inputs`."""
    structure = (tuple(call_args), call_kwargs)
    flat = tf.nest.flatten(structure)
    dynamic = [i for i, value in enumerate(flat) if _is_tensor(value)]
    inputs = [tf.convert_to_tensor(flat[i]) for i in dynamic]
    specs = [_batchless_spec(value) for value in inputs]
    num_arg_tensors = sum(
        _is_tensor(v) for v in tf.nest.flatten(tuple(call_args)))
    for given, start, end in ((input_signature, 0, num_arg_tensors),
                              (kwargs_signature, num_arg_tensors, len(specs))):
      if given is not None:
        given = tf.nest.flatten(given)
        self.assertLen(given, end - start,
                       "the signature must have one spec per input tensor")
        specs[start:end] = given

    def make_fn(layer):
      def call(*tensors):
        values = list(flat)
        for i, tensor in zip(dynamic, tensors):
          values[i] = tensor
        args, kwargs = tf.nest.pack_sequence_as(structure, values)
        return layer(*args, **kwargs)
      return tf.function(call, input_signature=specs)

    return make_fn, inputs

  def _check_training_step(self, layer, call_args, call_kwargs,
                           output_to_loss, zero_gradient_weights):
    """`zero_gradient_weights=None` allows every gradient to be all zero."""
    if output_to_loss is None:
      output_to_loss = lambda out: tf.add_n([  # pylint: disable=g-long-lambda
          tf.reduce_sum(tf.square(tf.cast(t, tf.float32)))
          for t in tf.nest.flatten(out) if t.dtype.is_floating])
    variables = layer.trainable_weights
    self.assertNotEmpty(variables, "no trainable weights to train")
    with tf.GradientTape() as tape:
      loss = output_to_loss(layer(*call_args, **call_kwargs))
    self.assertEqual(loss.shape.rank, 0, "output_to_loss must give a scalar")
    gradients = tape.gradient(loss, variables)
    dense = []
    for variable, gradient in zip(variables, gradients):
      self.assertIsNotNone(gradient, f"no gradient for {variable.path}")
      gradient = tf.convert_to_tensor(gradient).numpy()
      self.assertTrue(np.all(np.isfinite(gradient)),
                      f"non-finite gradient for {variable.path}")
      if zero_gradient_weights is not None and not any(
          name in variable.path for name in zero_gradient_weights):
        self.assertTrue(np.any(gradient != 0),
                        f"all-zero gradient for {variable.path}")
      dense.append(gradient)
    before = [np.array(v.numpy()) for v in variables]
    learning_rate = 0.1
    keras.optimizers.SGD(learning_rate).apply_gradients(
        zip(gradients, variables))
    for variable, old, gradient in zip(variables, before, dense):
      self.assertAllClose(variable.numpy(), old - learning_rate * gradient,
                          rtol=1e-5, atol=1e-6,
                          msg=f"SGD step of {variable.path}")
    self.assertTrue(any(not np.array_equal(old, v.numpy())
                        for old, v in zip(before, variables)),
                    "an SGD step changed no weight")
