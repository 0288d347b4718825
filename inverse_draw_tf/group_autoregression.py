"""The elements of one decoder step made autoregressive among themselves.

An image decoder emits a group of G pixels per step (one 28-pixel row on
MNIST). Without this layer the G pixels are independent given the step's
state, `p(x_t | h_t) = prod_j Bernoulli(x_tj; sigmoid(l_tj))`: the decoder
cannot say "this pixel is on because its left neighbour is". With it, each
pixel's logit also sees the pixels before it in the same group, through a
masked one-hidden-layer network conditioned on the decoder's state (MADE,
Germain et al. 2015, https://arxiv.org/abs/1502.03509):

```none
u_t           = tanh((A * M_in) x_t + U h_t + b)                (H hidden)
offset_t      = (C * M_out) u_t + (W * M_direct) x_t           (G)
p(x_t | h_t)  = prod_j Bernoulli(x_tj; sigmoid(l_tj + offset_tj))
```
Hidden unit k has degree m_k = k mod (G - 1) + 1; it sees the pixels i
with i <= m_k (1-based), output j sees the hidden units with m_k < j and
the pixels i < j directly. So `offset_tj` depends on x_t1 .. x_t(j-1) only,
the product is a normalised distribution over the group's 2^G values, and
the likelihood stays exact (tests/group_autoregression_test.py sums it over
every image of a small model). Training and evaluation score the observed
pixels in one pass (teacher forcing); generation draws the G pixels one by
one (`sample`).
"""

import keras
import numpy as np
import tensorflow as tf

_PACKAGE = "inverse_draw_tf"


def made_masks(group_size, units):
  """The MADE masks `(M_in (G, H), M_out (H, G), M_direct (G, G))` as
  float32 numpy arrays (module docstring)."""
  if group_size < 2:
    raise ValueError("group autoregression needs at least 2 elements per "
                     f"step, received {group_size}; turn it off (0 units) "
                     "or emit more pixels per step.")
  position = np.arange(1, group_size + 1)
  degree = np.arange(units) % (group_size - 1) + 1
  mask_in = position[:, None] <= degree[None, :]
  mask_out = degree[:, None] < position[None, :]
  mask_direct = position[:, None] < position[None, :]
  return tuple(m.astype(np.float32) for m in (mask_in, mask_out,
                                              mask_direct))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GroupAutoregression(keras.layers.Layer):
  """Logit offsets that make a step's G elements autoregressive (module
  docstring).

  Args:
    units: hidden units H of the masked network (>= 1).
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    elements: the step's observed elements `(..., G)` (0/1 floats).
    hidden: the decoder's state `(..., units_of_decoder)` that produced the
      step's logits.

  Returns:
    offsets `(..., G)`: offset j is a function of `elements[..., :j]` and
    `hidden` only; add them to the step's logits.

  Example:

  >>> layer = GroupAutoregression(units=8)
  >>> layer(tf.ones([2, 5, 4]), tf.ones([2, 5, 16])).shape
  TensorShape([2, 5, 4])
  """

  def __init__(self, units, **kwargs):
    super().__init__(**kwargs)
    if int(units) < 1:
      raise ValueError(f"`units` must be >= 1, received {units}.")
    self.units = int(units)

  def build(self, elements_shape, hidden_shape):
    group_size = int(elements_shape[-1])
    self.group_size = group_size
    # NumPy, made into constants where used: `build` may run inside a
    # tf.function whose graph a tensor made here would not outlive.
    self.mask_in, self.mask_out, self.mask_direct = made_masks(group_size,
                                                               self.units)
    self.input_kernel = self.add_weight(
        name="input_kernel", shape=(group_size, self.units),
        initializer="glorot_uniform")
    self.hidden_kernel = self.add_weight(
        name="hidden_kernel", shape=(int(hidden_shape[-1]), self.units),
        initializer="glorot_uniform")
    self.bias = self.add_weight(name="bias", shape=(self.units,),
                                initializer="zeros")
    # Zero output weights: training starts from the independent-pixel model.
    self.output_kernel = self.add_weight(
        name="output_kernel", shape=(self.units, group_size),
        initializer="zeros")
    self.direct_kernel = self.add_weight(
        name="direct_kernel", shape=(group_size, group_size),
        initializer="zeros")

  def _masked(self, dtype):
    cast = lambda w, m: tf.cast(w, dtype) * tf.constant(m, dtype)
    return (cast(self.input_kernel, self.mask_in),
            cast(self.output_kernel, self.mask_out),
            cast(self.direct_kernel, self.mask_direct))

  def _conditioning(self, hidden):
    """`U h + b`, the part of the hidden pre-activation fixed for a step."""
    return (tf.matmul(hidden, tf.cast(self.hidden_kernel, hidden.dtype)) +
            tf.cast(self.bias, hidden.dtype))

  def _offsets(self, elements, conditioning):
    input_kernel, output_kernel, direct_kernel = self._masked(elements.dtype)
    units = tf.tanh(tf.matmul(elements, input_kernel) + conditioning)
    return (tf.matmul(units, output_kernel) +
            tf.matmul(elements, direct_kernel))

  def call(self, elements, hidden):
    elements = tf.cast(elements, hidden.dtype)
    return self._offsets(elements, self._conditioning(hidden))

  def sample(self, logits, hidden, draw):
    """Draws one step's G elements in order.

    Args:
      logits: the step's logits without offsets `(B, G)`.
      hidden: the decoder's state `(B, units_of_decoder)`.
      draw: maps full logits `(B, G)` to elements `(B, G)` (0/1, the dtype
        of `logits`), the same function for every position: element j is
        taken from its j-th column, once the elements before it are drawn.

    Returns:
      The elements `(B, G)`.
    """
    if not self.built:
      self.build(logits.shape, hidden.shape)
    hidden = tf.cast(hidden, logits.dtype)
    conditioning = self._conditioning(hidden)
    elements = tf.zeros_like(logits)
    for j in range(self.group_size):
      # Elements at j and after are still 0 here; offset j cannot see them.
      drawn = draw(logits + self._offsets(elements, conditioning))
      elements += drawn * tf.one_hot(j, self.group_size, dtype=logits.dtype)
    return elements

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units)
    return config
