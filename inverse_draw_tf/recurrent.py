"""LSTM building blocks shared by the model's recurrences.

The slot writers and the input-feeding decoder run their own step inside
`tf.scan` (each step reads the memory before the next), so they cannot use
`keras.layers.LSTM`; `lstm_update` keeps their gate maths in one place.

The encoder's BiLSTM and the output-only decoder's LSTM are
`keras.layers.LSTM` layers (their weights, checkpoints and cuDNN path on a
GPU), but on a CPU their own loop is slow: Keras multiplies every step's input
by the input kernel inside the loop, and runs the two directions of a
`Bidirectional` one after the other. `run_lstm` runs the same weights the
fast way, with the same maths (tests/recurrent_test.py: outputs and gradients
equal Keras' in float32):

  * the input part of the gates, `x_t W + b` for every step and direction,
    is one matmul over the whole sequence before the loop;
  * both directions advance in one loop: their recurrent products are one
    batched matmul `(2, B, H) x (2, H, 4H)` and their gate maths one set of
    elementwise ops over `(2, B, 4H)`;
  * the backward direction reads each sequence reversed within its own
    length (`tf.reverse_sequence`), so with right padding the padding comes
    after the real elements in both directions and no step needs a mask.

On a 2-core CPU the encoder's forward and backward pass at the reference
VAE's sizes (batch 32, 24 steps, embedding 300, 256 units a direction,
masked) took 75 ms this way against Keras' 124 (RESULTS.md, Performance).
With a GPU visible, Keras' layer (cuDNN) is used.

Every recurrence here (the fused LSTM, the input-feeding decoder, the slot
writers, the exact-choice prior) takes its recurrent kernel's gradient
after the loop, as one product over all steps (`DeferredKernel`), instead
of one small product and one accumulation per step.
"""

import keras
import tensorflow as tf


def lstm_update(gates, cell):
  """One LSTM update from pre-activations `(..., 4H)` (gate order i, f, g, o)."""
  i, f, g, o = tf.split(gates, 4, axis=-1)
  cell = tf.sigmoid(f) * cell + tf.sigmoid(i) * tf.tanh(g)
  return tf.sigmoid(o) * tf.tanh(cell), cell


def lstm_bias_initializer(units):
  """Zero bias but forget gate 1 (Jozefowicz et al. 2015, http://proceedings.mlr.press/v37/jozefowicz15.pdf)."""

  def initializer(shape, dtype=None):
    return tf.concat([tf.zeros([units]), tf.ones([units]),
                      tf.zeros([2 * units])], 0)

  return initializer


def _swap_last_axes(tensor):
  rank = len(tensor.shape)
  return tf.transpose(tensor, list(range(rank - 2)) + [rank - 1, rank - 2])


def matmul(inputs, kernel, kernel_transposed=None, kernel_gradient=True):
  """`inputs @ kernel` whose gradients multiply untransposed operands.

  TensorFlow's CPU gradient of `matmul` multiplies with `transpose_b` (for
  the inputs) and `transpose_a` (for the kernel), which took 2.3x and 1.2x
  the forward product's time at an LSTM step's shapes (`(32, 1024) x
  (1024, 256)`; 2.8x batched over two directions) and 1.25x at the output
  layer's. Here the backward pass transposes the small operand explicitly
  and multiplies plainly; inside a loop, pass `kernel_transposed` (computed
  once, outside) so no step transposes the kernel.

  Args:
    inputs: `(..., N, I)`; `(D, N, I)` with a batched kernel.
    kernel: `(I, O)`, or `(D, I, O)` for D independent products.
    kernel_transposed: optional `kernel` with its last two axes swapped.
    kernel_gradient: False gives `kernel` no gradient (None), for a kernel
      whose gradient `DeferredKernel` computes after the loop.

  Returns:
    `(..., N, O)`, the same values as `tf.matmul(inputs, kernel)`.
  """
  batched = len(kernel.shape) == 3
  leading = None if batched else tf.shape(inputs)[:-1]
  flat = inputs if batched else tf.reshape(inputs, [-1, inputs.shape[-1]])

  @tf.custom_gradient
  def product(flat, kernel):
    def gradient(upstream):
      transposed = (_swap_last_axes(kernel) if kernel_transposed is None
                    else kernel_transposed)
      inputs_gradient = tf.matmul(upstream, transposed)
      if not kernel_gradient:
        return inputs_gradient, None
      return inputs_gradient, tf.matmul(_swap_last_axes(flat), upstream)
    return tf.matmul(flat, kernel), gradient

  outputs = product(flat, kernel)
  if batched:
    return outputs
  return tf.reshape(outputs, tf.concat([leading, tf.shape(kernel)[-1:]], 0))


class DeferredKernel:
  """A recurrence's kernel whose gradient is one product after the loop.

  Inside `tf.scan`, the gradient of a tensor captured from outside the loop
  is computed and added to an accumulator at every step: for an LSTM's
  recurrent kernel `(S, 4H)`, one `(S, B) x (B, 4H)` product whose inner
  dimension is only the batch, and one kernel-sized addition, per step.
  That sum, `dW = sum_t s_t^T dg_t` over the states `s_t` each step
  multiplies and the gradients `dg_t` of its gates, is one product over
  all steps at once, `S^T dG` with `T * B` as the inner dimension.

  `dg_t` is available outside the loop: each step adds its product to a
  per-step part of the gates that comes from outside the loop (the hoisted
  input projection, or the bias), so that part's gradient is exactly
  `dg_t`. `tap` marks it; its gradient hands `dg` on unchanged and adds
  the kernel's gradient, computed from the states `record_states` was
  given after the loop (shifted and concatenated only when a gradient is
  taken, so evaluation pays nothing for them). Inside the loop `product`
  multiplies by the kernel without a gradient for it. Same maths as
  differentiating the loop (tests/recurrent_test.py); the kernel's
  gradient is summed in a different order.

  Usage:

    kernel = recurrent.DeferredKernel(kernel)    # (S, 4H), or (D, S, 4H)
    step_gates = kernel.tap(step_gates)          # (T, ..., 4H), time major
    def step(carry, gates_t):                    # inside tf.scan
      gates = gates_t + kernel.product(states_t)
    ...
    kernel.record_states(states, first)          # (T, ..., S) and (..., S)

  Args:
    kernel: `(S, O)`, or `(D, S, O)` for D independent recurrences (the
      directions of a BiLSTM), whose step inputs are then `(D, B, S)`.
  """

  def __init__(self, kernel):
    self.kernel = kernel
    self.batched = len(kernel.shape) == 3
    self._loop_kernel = tf.stop_gradient(kernel)
    self._transposed = _swap_last_axes(self._loop_kernel)
    self._states = None

  def tap(self, step_gates):
    """`step_gates` `(T, ..., O)` unchanged, with the kernel's gradient
    attached to it."""

    @tf.custom_gradient
    def tapped(step_gates, kernel):
      def gradient(upstream):
        if self._states is None:
          raise ValueError("DeferredKernel: call `record_states` with the "
                           "states every step multiplied before taking "
                           "gradients.")
        return upstream, self._kernel_gradient(self._states, upstream)
      return tf.identity(step_gates), gradient

    return tapped(step_gates, self.kernel)

  def product(self, states_t):
    """`states_t @ kernel` inside the loop, `(..., S)` -> `(..., O)`; the
    kernel gets its gradient through `tap`."""
    return matmul(states_t, self._loop_kernel, self._transposed,
                  kernel_gradient=False)

  def record_states(self, states, first):
    """The states the steps produced `(T, ..., S)` and the one before the
    first step `(..., S)`: step t multiplied `first` if t = 0, else
    `states[t - 1]`. Either may be a list of parts of the last axis."""
    self._states = (states, first)

  def _kernel_gradient(self, recorded, upstream):
    states, first = [tf.concat(parts, -1) if isinstance(parts, (list, tuple))
                     else parts for parts in recorded]
    states = tf.concat([first[None], states[:-1]], 0)
    size, out = self.kernel.shape[-2], self.kernel.shape[-1]
    if self.batched:
      # (T, D, B, S) -> (D, S, T * B): the directions stay apart.
      states = tf.reshape(tf.transpose(states, [1, 3, 0, 2]),
                          [self.kernel.shape[0], size, -1])
      upstream = tf.reshape(tf.transpose(upstream, [1, 0, 2, 3]),
                            [self.kernel.shape[0], -1, out])
    else:
      states = tf.transpose(tf.reshape(states, [-1, size]))
      upstream = tf.reshape(upstream, [-1, out])
    return tf.matmul(states, upstream)


def fused_path_enabled():
  """True without a GPU: there `run_lstm` beats Keras' loop; with one, cuDNN
  (Keras' own path) is faster still."""
  return not tf.config.list_logical_devices("GPU")


def _directions(layer):
  """`(cells, reversed flags)` of a `keras.layers.LSTM` or a Bidirectional."""
  if isinstance(layer, keras.layers.Bidirectional):
    if layer.merge_mode != "concat":
      raise ValueError("the fused BiLSTM concatenates its directions; "
                       f"received merge_mode={layer.merge_mode!r}.")
    return [layer.forward_layer.cell, layer.backward_layer.cell], [False, True]
  if layer.go_backwards or not layer.return_sequences:
    raise ValueError(f"{layer.name}: the fused LSTM returns sequences in "
                     "time order; use the Keras layer for go_backwards or "
                     "return_sequences=False.")
  return [layer.cell], [False]


def _check_cell(cell):
  if (cell.activation is not keras.activations.tanh or
      cell.recurrent_activation is not keras.activations.sigmoid or
      not cell.use_bias or cell.dropout or cell.recurrent_dropout):
    raise ValueError(
        f"{cell.name}: the fused LSTM implements tanh/sigmoid activations "
        "with a bias and no dropout; use the Keras layer for other cells.")


def fused_lstm(layer, inputs, mask=None):
  """`layer(inputs, mask=mask)` for a built LSTM or BiLSTM, computed fused.

  Args:
    layer: a built `keras.layers.LSTM(return_sequences=True)`, or a
      `keras.layers.Bidirectional` of one (merge mode "concat").
    inputs: `(B, T, E)`.
    mask: optional bool `(B, T)`, each row a prefix of True (right padding),
      as `tokens != PAD` is; other masks are rejected.

  Returns:
    `(B, T, units * directions)`: each direction's outputs, zero where the
    mask is False (as Keras' Bidirectional returns them).
  """
  cells, reverse = _directions(layer)
  if (mask is not None and not isinstance(layer, keras.layers.Bidirectional)
      and not layer.zero_output_for_mask):
    raise ValueError(f"{layer.name}: with a mask, Keras repeats the last "
                     "output over padding; the fused LSTM zeroes it. Build "
                     "the layer with zero_output_for_mask=True.")
  for cell in cells:
    _check_cell(cell)
  dtype = inputs.dtype
  units = cells[0].units
  batch_size, length = tf.shape(inputs)[0], tf.shape(inputs)[1]
  if mask is None:
    lengths = tf.fill([batch_size], length)
  else:
    mask = tf.convert_to_tensor(mask, tf.bool)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    tf.debugging.assert_equal(
        mask, tf.sequence_mask(lengths, length),
        message="the fused LSTM needs right-padded masks (each row a prefix "
        "of True); pad sequences at the end.")
  cast = lambda w: tf.cast(w, dtype)
  # (E, D * 4H): every direction's input kernel in one matmul.
  input_kernel = tf.concat([cast(c.kernel) for c in cells], axis=1)
  bias = tf.concat([cast(c.bias) for c in cells], axis=0)
  input_gates = matmul(inputs, input_kernel) + bias
  per_direction = tf.split(input_gates, len(cells), axis=-1)
  per_direction = [
      tf.reverse_sequence(g, lengths, seq_axis=1, batch_axis=0) if back else g
      for g, back in zip(per_direction, reverse)]
  # Time major, directions stacked: (T, D, B, 4H).
  steps = tf.transpose(tf.stack(per_direction, 0), [2, 0, 1, 3])
  recurrent_kernel = DeferredKernel(
      tf.stack([cast(c.recurrent_kernel) for c in cells], 0))
  steps = recurrent_kernel.tap(steps)
  zeros = tf.zeros([len(cells), batch_size, units], dtype)

  def step(carry, gates):
    hidden, cell = lstm_update(gates + recurrent_kernel.product(carry[0]),
                               carry[1])
    return hidden, cell

  hidden, _ = tf.scan(step, steps, initializer=(zeros, zeros))
  recurrent_kernel.record_states(hidden, zeros)
  hidden = tf.transpose(hidden, [1, 2, 0, 3])  # (D, B, T, H)
  outputs = [
      tf.reverse_sequence(h, lengths, seq_axis=1, batch_axis=0) if back else h
      for h, back in zip(tf.unstack(hidden, len(cells)), reverse)]
  outputs = tf.concat(outputs, -1) if len(outputs) > 1 else outputs[0]
  if mask is not None:
    outputs *= tf.cast(mask, dtype)[..., None]
  return outputs


def run_lstm(layer, inputs, mask=None):
  """The fused path on CPU (`fused_lstm`), Keras' layer (cuDNN) on a GPU."""
  if fused_path_enabled() and layer.built:
    return fused_lstm(layer, inputs, mask)
  return layer(inputs, mask=mask)
