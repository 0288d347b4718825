"""The observation encoders: what the posterior's read head sees.

The posterior's slot writer attends over an observation memory, one vector
per element. Two encoders build it:

  * `bidirectional_lstm` (`encoder_context=0`, the default): a BiLSTM, so
    every position's vector can summarise the whole observation;
  * `LocalEncoder` (`encoder_context=c > 0`): a masked convolution over the
    `2c + 1` elements around each position and nothing beyond.

Why the second exists (RESULTS.md, row 3): under monotone posterior windows
a slot is meant to describe its own span of the sentence, but a BiLSTM hands
every window a summary of the whole sentence; the trained posterior read the
last word's state with every slot, so all slots carried the same sentence
summary and the decoder had no reason to prefer one. A local encoder takes
that escape away: what a slot can know is what its window covers.
"""

import keras
import tensorflow as tf

from inverse_draw_tf import recurrent

_PACKAGE = "inverse_draw_tf"


def bidirectional_lstm(units, name="encoder"):
  """The BiLSTM encoder: `(B, T, E)` -> `(B, T, 2 * units)`."""
  return keras.layers.Bidirectional(
      keras.layers.LSTM(units, return_sequences=True), name=name)


def check_context(context):
  """Raises a one-line error unless `context` is a valid `encoder_context`."""
  if int(context) != context or context < 0:
    raise ValueError("`encoder_context` must be 0 (a BiLSTM over the whole "
                     "observation) or a positive number of elements, "
                     f"received {context!r}.")


def get(units, context, name="encoder"):
  """The encoder of `units` a direction (`2 * units` outputs) that sees
  `context` elements on each side of a position (0: all of them)."""
  check_context(context)
  if not context:
    return bidirectional_lstm(units, name=name)
  return LocalEncoder(2 * units, int(context), name=name)


def encode(encoder, embedded, mask):
  """The observation memory `(B, T, D)` of `embedded` `(B, T, E)` under the
  bool `mask` `(B, T)` (right padding), zero where the mask is False."""
  if isinstance(encoder, LocalEncoder):
    memory = encoder(embedded, mask=mask)
  else:
    memory = recurrent.run_lstm(encoder, embedded, mask)
  # tf.identity drops the Keras mask attribute: masks travel explicitly here.
  return tf.identity(memory)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LocalEncoder(keras.layers.Layer):
  """An encoder whose every output sees only `2 * context + 1` elements.

  ```none
  h_t = tanh(sum_{j=-c..c} W_j m_{t+j} x_{t+j} + b) m_t
  ```
  with `m` the mask (padding and positions off the ends count as zero
  inputs), so a change to element s moves h_t only if |s - t| <= c, and
  padding never leaks into a real position.

  Args:
    output_dim: D, the size of each position's vector.
    context: c >= 1, the elements seen on each side.
    name: the layer's name.

  Call arguments:
    inputs: `(batch_size, length, input_dim)` embedded elements.
    mask: optional bool `(batch_size, length)`, False at padding.

  Returns:
    `(batch_size, length, output_dim)`, zero where the mask is False.

  Example:

  >>> encoder = LocalEncoder(output_dim=6, context=1)
  >>> encoder(tf.ones([2, 5, 3]), mask=tf.sequence_mask([5, 2], 5)).shape
  TensorShape([2, 5, 6])
  """

  def __init__(self, output_dim, context, **kwargs):
    super().__init__(**kwargs)
    if int(output_dim) != output_dim or output_dim < 1:
      raise ValueError("`output_dim` must be a positive integer, received "
                       f"{output_dim!r}.")
    if int(context) != context or context < 1:
      raise ValueError("`context` must be a positive integer (elements on "
                       f"each side), received {context!r}.")
    self.output_dim = int(output_dim)
    self.context = int(context)
    self.supports_masking = True  # The output keeps the input's mask.
    self.convolution = keras.layers.Conv1D(
        self.output_dim, 2 * self.context + 1, padding="same",
        activation="tanh", dtype=self.dtype_policy, name="convolution")

  def build(self, input_shape):
    self.convolution.build(input_shape)

  def call(self, inputs, mask=None):
    if mask is None:
      return self.convolution(inputs)
    keep = tf.cast(mask, inputs.dtype)[..., None]
    return self.convolution(inputs * keep) * tf.cast(keep, self.compute_dtype)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.output_dim,)

  def get_config(self):
    config = super().get_config()
    config.update(output_dim=self.output_dim, context=self.context)
    return config
