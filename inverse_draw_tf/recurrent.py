"""LSTM building blocks shared by the model's hand-written recurrences.

The slot writers and the input-feeding decoder run their own step inside
`tf.scan` (each step reads the memory before the next), so they cannot use
`keras.layers.LSTM`; these helpers keep their gate maths in one place.
"""

import tensorflow as tf


def lstm_update(gates, cell):
  """One LSTM update from pre-activations `(B, 4H)` (gate order i, f, g, o)."""
  i, f, g, o = tf.split(gates, 4, axis=-1)
  cell = tf.sigmoid(f) * cell + tf.sigmoid(i) * tf.tanh(g)
  return tf.sigmoid(o) * tf.tanh(cell), cell


def lstm_bias_initializer(units):
  """Zero bias but forget gate 1 (Jozefowicz et al. 2015, http://proceedings.mlr.press/v37/jozefowicz15.pdf)."""

  def initializer(shape, dtype=None):
    return tf.concat([tf.zeros([units]), tf.ones([units]),
                      tf.zeros([2 * units])], 0)

  return initializer
