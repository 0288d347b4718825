"""Read heads over a memory of slots: how Inverse DRAW chooses what to read.

The decoder reads the latent memory `Z` of shape `(batch_size, memory_slots,
latent_dim)`; the posterior reads the encoded observation of shape
`(batch_size, time_steps, encoder_dim)`. Both use the layers in this module,
which share one interface (`MemoryAttention`):

* `call(query, memory, memory_mask=None, state=None)` reads once and returns
  `(read, read_weights, new_state)`; it is the step of an input-feeding loop.
* `call_sequence(queries, memory, memory_mask=None)` reads for every step of a
  `(batch_size, time_steps, query_dim)` query sequence at once; it is what the
  output-only decoder wiring uses. Stateless heads and the window head are
  fully vectorised over time; the location head scans only its `(batch, slots)`
  weight recurrence.

Every head returns read weights that are non-negative, sum to 1 over unmasked
slots and are exactly 0 on masked slots (a memory with no unmasked slot reads
zeros). The state is always a tensor (width 0 for stateless heads) so the
recurrent loops that carry it need no special cases.
"""

import inspect
import math

import keras
import tensorflow as tf

from inverse_draw_tf import normalizers

_PACKAGE = "inverse_draw_tf"


# Up to this many values a row, a one-query read is a broadcast product and
# a sum: oneDNN's einsum and batched matmul cost ~0.1-0.2 ms a call at a
# latent memory's size (8 x 16) whatever the work, and a recurrence reads
# once a step. A sequence's encoding (T x 512) reads as fast either way.
_SMALL_MEMORY = 4096


def read_memory(read_weights, memory):
  """Weighted sum of memory slots: `(B, ..., K)` x `(B, K, D)` -> `(B, ..., D)`."""
  size = memory.shape[1:].num_elements()
  if read_weights.shape.rank == 2 and size is not None and (
      size <= _SMALL_MEMORY):
    return tf.reduce_sum(read_weights[:, :, None] * memory, axis=1)
  return tf.einsum("b...k,bkd->b...d", read_weights, memory)


def entropy(read_weights, axis=-1):
  """Shannon entropy (nats) of attention weights; zero weights contribute 0."""
  safe = tf.where(read_weights > 0, read_weights, tf.ones_like(read_weights))
  return -tf.reduce_sum(read_weights * tf.math.log(safe), axis=axis)


def shift_weights(read_weights, shift_distribution, memory_mask=None):
  """NTM rotational shift, done within each example's unmasked slots.

  ```none
  w~_i = sum_{o=-R..R} s_o w_{(i - o) mod n}
  ```
  where `n` is the number of unmasked slots (they must come first, as padding
  does). Rotating inside `n` instead of the padded width keeps weight from
  wrapping onto padding.

  Args:
    read_weights: `(batch_size, K)` weights with zeros on masked slots.
    shift_distribution: `(batch_size, 2R + 1)` distribution over the offsets
      `-R..R` (index `R` is "no shift").
    memory_mask: optional `(batch_size, K)` bool mask.

  Returns:
    `(batch_size, K)` shifted weights.
  """
  num_slots = tf.shape(read_weights)[-1]
  if memory_mask is None:
    num_valid = tf.fill(tf.shape(read_weights)[:1], num_slots)
  else:
    num_valid = tf.reduce_sum(tf.cast(memory_mask, tf.int32), axis=-1)
  num_valid = tf.maximum(num_valid, 1)[:, None]  # (B, 1)
  source = tf.range(num_slots)[None, :]  # (1, K)
  max_offset = shift_distribution.shape[-1] // 2
  shifted = tf.zeros_like(read_weights)
  for index in range(shift_distribution.shape[-1]):
    offset = index - max_offset
    target = tf.math.floormod(source + offset, num_valid)  # (B, K)
    moved = tf.one_hot(target, num_slots, dtype=read_weights.dtype)  # (B,K,K)
    shifted += shift_distribution[:, index:index + 1] * tf.einsum(
        "bi,bij->bj", read_weights, moved)
  if memory_mask is not None:
    shifted *= tf.cast(memory_mask, shifted.dtype)
  return shifted


def sharpen(read_weights, gamma):
  """NTM sharpening `w_i^gamma / sum_j w_j^gamma`; `gamma=1` is the identity.

  Args:
    read_weights: `(..., K)` non-negative weights.
    gamma: `(..., 1)` exponents, at least 1.
  """
  positive = read_weights > 0
  # Normalised in log space: w^gamma underflows to 0 in float32 for large
  # gamma, and dividing zeros would leave no distribution. The guarded log
  # also keeps d/d(gamma) finite where w = 0 (w^gamma log w would be 0 * -inf).
  safe = tf.where(positive, read_weights, tf.ones_like(read_weights))
  return normalizers.masked_softmax(gamma * tf.math.log(safe), positive)


def window_log_kernel(position, slot_index, width, log_mixture, kernel):
  """Unnormalised log filter of a window mixture at each slot.

  ```none
  gaussian: log phi(u) = logsumexp_m [log alpha_m - beta_m (kappa_m - u)^2]
  cauchy:   log phi(u) = logsumexp_m [log alpha_m - log(1 + ((u - kappa_m) / g_m)^2)]
  ```
  (Graves 2013, eq. 46, https://arxiv.org/abs/1308.0850; the Cauchy filter
  is the heavy-tailed one of GLAS, https://arxiv.org/abs/1805.03744.)

  Args:
    position: `(..., M)` window centres kappa.
    slot_index: `(K,)` slot positions u.
    width: `(..., M)` beta (gaussian precision) or g (cauchy scale).
    log_mixture: `(..., M)` log alpha.
    kernel: "gaussian" or "cauchy".

  Returns:
    `(..., K)` log phi.
  """
  distance = slot_index - position[..., None]  # (..., M, K)
  if kernel == "gaussian":
    log_filter = -width[..., None] * tf.square(distance)
  else:
    log_filter = -tf.math.log1p(tf.square(distance / width[..., None]))
  return tf.reduce_logsumexp(log_mixture[..., None] + log_filter, axis=-2)


def _inverse_softplus(value):
  # log(exp(v) - 1), rearranged so that large v (> 709) does not overflow.
  return value + math.log(-math.expm1(-value))


def _mask_for(memory_mask, logits):
  """Broadcasts a `(B, K)` mask against `(B, ..., K)` logits."""
  if memory_mask is None:
    return None
  mask = tf.cast(memory_mask, tf.bool)
  for _ in range(len(logits.shape) - 2):
    mask = mask[:, None]
  return mask


class MemoryAttention(keras.layers.Layer):
  """Base class of the read heads; see the module docstring for the contract.

  Subclasses implement `_project(query)` (the head's parameters from the
  controller), `_step_weights(params, memory, memory_mask, state)` and, when
  stateless or otherwise vectorisable, `_sequence_weights`.
  """

  state_size = 0

  def __init__(self, normalizer="softmax", **kwargs):
    super().__init__(**kwargs)
    if normalizer not in normalizers.NORMALIZERS:
      raise ValueError(
          f"`normalizer` must be one of {tuple(normalizers.NORMALIZERS)}, "
                       f"received {normalizer!r}.")
    # Maps the head's scores to weights: softmax (dense, the default), or
    # sparsemax / 1.5-entmax, which can put exactly 0 on slots and so let a
    # word read one slot instead of an average.
    self.normalizer = normalizer

  def _normalize(self, logits, memory_mask):
    return normalizers.normalize(logits, _mask_for(memory_mask, logits),
                                 self.normalizer)

  def get_config(self):
    config = super().get_config()
    config.update(normalizer=self.normalizer)
    return config

  def build(self, query_shape, memory_shape):
    if query_shape[-1] is None or memory_shape[-1] is None:
      raise ValueError(
          f"{self.name}: the last dimensions of `query` {query_shape} and "
          f"`memory` {memory_shape} must be known at build time.")
    self.query_dim = int(query_shape[-1])
    self.memory_dim = int(memory_shape[-1])
    self._build_projections()

  def _add_projection(self, name, units, bias_value=0.0):
    kernel = self.add_weight(
        name=f"{name}_kernel", shape=(self.query_dim, units),
        initializer="glorot_uniform")
    bias = self.add_weight(
        name=f"{name}_bias", shape=(units,),
        initializer=keras.initializers.Constant(bias_value))
    return kernel, bias

  def _apply(self, projection, query):
    kernel, bias = projection
    # tensordot, not einsum("...h,hu->...u"): the gradient of that einsum
    # with respect to the kernel broadcasts to (B, T, h, u) before reducing,
    # which made a content head's backward pass 60x its forward pass
    # (134 ms against 2 ms on (64, 32, 512) queries, bin/benchmark).
    return tf.tensordot(query, kernel, axes=1) + bias

  def get_initial_state(self, memory, memory_mask=None):
    """State before the first read: `(batch_size, state_size)`."""
    del memory_mask
    return tf.zeros([tf.shape(memory)[0], self.state_size], memory.dtype)

  def call(self, query, memory, memory_mask=None, state=None):
    if state is None:
      state = self.get_initial_state(memory, memory_mask)
    read_weights, new_state = self._step_weights(
        self._project(query), memory, memory_mask, state)
    return read_memory(read_weights, memory), read_weights, new_state

  def call_sequence(self, queries, memory, memory_mask=None,
                    initial_state=None):
    """Reads for all steps of `queries` `(B, T, H)`.

    Returns:
      reads `(B, T, memory_dim)`, read_weights `(B, T, K)` and the state after
      each step `(B, T, state_size)`.
    """
    if not self.built:
      self.build(queries.shape, memory.shape)
    if initial_state is None:
      initial_state = self.get_initial_state(memory, memory_mask)
    read_weights, states = self._sequence_weights(
        self._project(queries), memory, memory_mask, initial_state)
    return read_memory(read_weights, memory), read_weights, states

  def _sequence_weights(self, params, memory, memory_mask, initial_state):
    """Default: scan the step over time (heads with a weight recurrence)."""
    time_major = tf.nest.map_structure(
        lambda p: tf.transpose(p, [1, 0, 2]), params)

    def step(carry, step_params):
      _, state = carry
      return self._step_weights(step_params, memory, memory_mask, state)

    num_slots = tf.shape(memory)[1]
    first = (tf.zeros([tf.shape(memory)[0], num_slots], memory.dtype),
             initial_state)
    weights, states = tf.scan(step, time_major, initializer=first)
    return (tf.transpose(weights, [1, 0, 2]), tf.transpose(states, [1, 0, 2]))

  def compute_output_shape(self, query_shape, memory_shape):
    batch = query_shape[0]
    return ((batch, memory_shape[-1]), (batch, memory_shape[1]),
            (batch, self.state_size))


class _StatelessAttention(MemoryAttention):
  """A head whose weights depend only on the current query: `_weights`."""

  def _step_weights(self, params, memory, memory_mask, state):
    return self._weights(params, memory, memory_mask), state

  def _sequence_weights(self, params, memory, memory_mask, initial_state):
    weights = self._weights(params, memory, memory_mask)
    states = tf.zeros(tf.concat([tf.shape(weights)[:2], [0]], 0),
                      weights.dtype)
    return weights, states


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ContentAttention(_StatelessAttention):
  """NTM content addressing (Graves et al. 2014, https://arxiv.org/abs/1410.5401).

  ```none
  k = W_k h + b_k                         key, (B, memory_dim)
  beta = softplus(w_b h + b_b)            key strength, (B, 1)
  w_i = softmax_i(beta * cos(k, M_i))     over unmasked slots i
  r = sum_i w_i M_i
  ```

  Args:
    initial_strength: key strength beta at initialisation (the bias of the
      softplus is set so that it starts there). Cosine similarities lie in
      [-1, 1], so beta bounds how peaked the weights can be: beta=1 can never
      put more than e^2 / (e^2 + K - 1) on one slot, which is why the default
      starts sharper.
    epsilon: added to the norms in the cosine.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    query: controller state, `(batch_size, query_dim)`.
    memory: `(batch_size, memory_slots, memory_dim)`.
    memory_mask: optional bool `(batch_size, memory_slots)`.
    state: ignored (width-0 tensor).

  Returns:
    `(read, read_weights, new_state)` of shapes `(batch_size, memory_dim)`,
    `(batch_size, memory_slots)`, `(batch_size, 0)`.

  Example:

  >>> attention = ContentAttention()
  >>> read, weights, _ = attention(tf.ones([2, 16]), tf.ones([2, 8, 4]))
  >>> weights.shape
  TensorShape([2, 8])
  """

  def __init__(self, initial_strength=5.0, epsilon=1e-6, **kwargs):
    super().__init__(**kwargs)
    if initial_strength <= 0:
      raise ValueError(
          f"`initial_strength` must be positive, received {initial_strength}.")
    self.initial_strength = float(initial_strength)
    self.epsilon = float(epsilon)

  def _build_projections(self):
    self.key = self._add_projection("key", self.memory_dim)
    self.strength = self._add_projection(
        "strength", 1, _inverse_softplus(self.initial_strength))

  def _project(self, query):
    return dict(key=self._apply(self.key, query),
                strength=tf.nn.softplus(self._apply(self.strength, query)))

  def _weights(self, params, memory, memory_mask):
    key = tf.math.l2_normalize(params["key"], axis=-1, epsilon=self.epsilon)
    slots = tf.math.l2_normalize(memory, axis=-1, epsilon=self.epsilon)
    cosine = tf.einsum("b...d,bkd->b...k", key, slots)
    logits = params["strength"] * cosine
    return self._normalize(logits, memory_mask)

  def get_config(self):
    config = super().get_config()
    config.update(initial_strength=self.initial_strength,
                  epsilon=self.epsilon)
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DotProductAttention(_StatelessAttention):
  """Scaled Luong "general" attention (https://arxiv.org/abs/1508.04025).

  ```none
  q = W_q h + b_q                         (B, memory_dim)
  w_i = softmax_i(q . M_i / (sqrt(memory_dim) * temperature))
  r = sum_i w_i M_i
  ```

  Args:
    temperature: divides the logits; below 1 sharpens the weights.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments and returns: as `ContentAttention`.

  Example:

  >>> attention = DotProductAttention()
  >>> read, weights, _ = attention(tf.ones([2, 16]), tf.ones([2, 8, 4]))
  >>> read.shape
  TensorShape([2, 4])
  """

  def __init__(self, temperature=1.0, **kwargs):
    super().__init__(**kwargs)
    if temperature <= 0:
      raise ValueError(
          f"`temperature` must be positive, received {temperature}.")
    self.temperature = float(temperature)

  def _build_projections(self):
    self.query_projection = self._add_projection("query", self.memory_dim)

  def _project(self, query):
    return dict(query=self._apply(self.query_projection, query))

  def _weights(self, params, memory, memory_mask):
    scale = math.sqrt(self.memory_dim) * self.temperature
    logits = tf.einsum("b...d,bkd->b...k", params["query"], memory) / scale
    return self._normalize(logits, memory_mask)

  def get_config(self):
    config = super().get_config()
    config.update(temperature=self.temperature)
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LocationAttention(ContentAttention):
  """Full NTM addressing: content, interpolation, shift, sharpening.

  ```none
  w^c = content weights (see ContentAttention)
  g = sigmoid(w_g h + b_g)                      interpolation gate
  w^g = g w^c + (1 - g) w_{t-1}
  s = softmax(W_s h + b_s)                      over shifts -R..R
  w~_i = sum_o s_o w^g_{(i - o) mod n}          n = unmasked slots
  gamma = 1 + softplus(w_y h + b_y)
  w_i = (w~_i)^gamma / sum_j (w~_j)^gamma
  ```
  The state is the previous weights `w_{t-1}`, which start one-hot on slot 0:
  with the gate closed and a +1 shift the head walks the slots in order, a
  prior that breaks the symmetry between exchangeable slots.

  Args:
    max_shift: R, the largest shift in slots (shifts -R..R).
    initial_strength, epsilon: as `ContentAttention`.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    query: `(batch_size, query_dim)`.
    memory: `(batch_size, memory_slots, memory_dim)`; unmasked slots first.
    memory_mask: optional bool `(batch_size, memory_slots)`.
    state: previous weights `(batch_size, memory_slots)`.

  Returns:
    `(read, read_weights, new_state)`; `new_state` is `read_weights`.

  Example:

  >>> attention = LocationAttention(max_shift=1)
  >>> memory = tf.ones([2, 8, 4])
  >>> state = attention.get_initial_state(memory)
  >>> read, weights, state = attention(tf.ones([2, 16]), memory, state=state)
  >>> state.shape
  TensorShape([2, 8])
  """

  def __init__(self, max_shift=1, initial_strength=5.0, epsilon=1e-6,
               **kwargs):
    super().__init__(initial_strength=initial_strength, epsilon=epsilon,
                     **kwargs)
    if int(max_shift) != max_shift or max_shift < 1:
      raise ValueError(
          f"`max_shift` must be a positive integer, received {max_shift}.")
    self.max_shift = int(max_shift)

  def _build_projections(self):
    super()._build_projections()
    self.gate = self._add_projection("gate", 1)
    self.shift = self._add_projection("shift", 2 * self.max_shift + 1)
    self.sharpening = self._add_projection("sharpening", 1)

  def _project(self, query):
    params = super()._project(query)
    params.update(
        gate=tf.sigmoid(self._apply(self.gate, query)),
        shift=tf.nn.softmax(self._apply(self.shift, query)),
        gamma=1.0 + tf.nn.softplus(self._apply(self.sharpening, query)))
    return params

  def get_initial_state(self, memory, memory_mask=None):
    del memory_mask
    return tf.one_hot(tf.zeros([tf.shape(memory)[0]], tf.int32),
                      tf.shape(memory)[1], dtype=memory.dtype)

  def _step_weights(self, params, memory, memory_mask, state):
    content = self._weights(params, memory, memory_mask)
    gated = params["gate"] * content + (1.0 - params["gate"]) * state
    shifted = shift_weights(gated, params["shift"], memory_mask)
    weights = sharpen(shifted, params["gamma"])
    return weights, weights

  def _sequence_weights(self, params, memory, memory_mask, initial_state):
    # Content weights need no recurrence: compute them for all steps in one
    # batched op, then scan only the cheap (B, K) location recurrence.
    content = self._weights(params, memory, memory_mask)
    location = dict(content=content, gate=params["gate"],
                    shift=params["shift"], gamma=params["gamma"])
    time_major = {k: tf.transpose(v, [1, 0, 2]) for k, v in location.items()}

    def step(previous, p):
      gated = p["gate"] * p["content"] + (1.0 - p["gate"]) * previous
      return sharpen(shift_weights(gated, p["shift"], memory_mask), p["gamma"])

    weights = tf.scan(step, time_major, initializer=initial_state)
    weights = tf.transpose(weights, [1, 0, 2])
    return weights, weights

  @property
  def state_size(self):
    return None  # The number of memory slots, known only from the memory.

  def compute_output_shape(self, query_shape, memory_shape):
    batch = query_shape[0]
    return ((batch, memory_shape[-1]), (batch, memory_shape[1]),
            (batch, memory_shape[1]))

  def get_config(self):
    config = super().get_config()
    config.update(max_shift=self.max_shift)
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WindowAttention(MemoryAttention):
  """Monotonic window over slot positions (Graves 2013, section 5.1).

  ```none
  (a, b, d) = W h + bias                        each (B, M)
  alpha = softmax(a)                            mixture weights
  width = min_width + softplus(b)               beta (gaussian) or g (cauchy)
  kappa_t = kappa_{t-1} + step(d)               step = softplus or exp
  w_u = softmax_u(log phi(u))                   see window_log_kernel
  ```
  The window only moves forward (kappa is non-decreasing), so the number of
  emitted elements spent on each slot, the latent's rate, is learned through
  the step size. The state is kappa `(batch_size, M)`, starting at 0.
  Because kappa is a cumulative sum of per-step quantities, the whole sequence
  is computed without a recurrence (`call_sequence`).

  The window's parameters, positions and filter are float32 in every
  precision (the read weights are cast back to the memory's dtype): in
  bfloat16 a position near 24 is rounded to 1/8 of a slot, and a posterior
  head over a long sentence with sharp windows gave gradient norms of 1e14
  where float32 gave 500 (RESULTS.md, row 3).

  `min_width` floors the gaussian precision (or, for the cauchy kernel, the
  scale): without it, one large SGD step can drive `b` to -10, where
  softplus' gradient is 5e-5 and the window stays flat (it read all slots
  uniformly for the rest of a run; RESULTS.md, row 3). A precision of at
  least 0.5 keeps a gaussian window over 8 slots at <= 1.3 nats of entropy.

  Args:
    kernel: "gaussian" or "cauchy".
    num_components: M, the number of mixture components.
    step_activation: "softplus" or "exp", maps d to a positive step.
    initial_step: step size at initialisation, in slots per read (the bias is
      set so that the activation starts there).
    initial_width: beta (gaussian) or g (cauchy) at initialisation.
    min_width: the floor of beta (gaussian) or g (cauchy); 0 (the default)
      for none. Must be below `initial_width`.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    query: `(batch_size, query_dim)`.
    memory: `(batch_size, memory_slots, memory_dim)`; unmasked slots first.
    memory_mask: optional bool `(batch_size, memory_slots)`.
    state: kappa `(batch_size, num_components)`.

  Returns:
    `(read, read_weights, new_state)`, `new_state` the new kappa.

  Example:

  >>> attention = WindowAttention(kernel="cauchy", num_components=2)
  >>> read, weights, kappa = attention(tf.ones([2, 16]), tf.ones([2, 8, 4]))
  >>> kappa.shape
  TensorShape([2, 2])
  """

  KERNELS = ("gaussian", "cauchy")
  STEP_ACTIVATIONS = ("softplus", "exp")

  def __init__(self, kernel="gaussian", num_components=1,
               step_activation="softplus", initial_step=0.5,
               initial_width=1.0, min_width=0.0, **kwargs):
    super().__init__(**kwargs)
    if kernel not in self.KERNELS:
      raise ValueError(
          f"`kernel` must be one of {self.KERNELS}, received {kernel!r}.")
    if step_activation not in self.STEP_ACTIVATIONS:
      raise ValueError(
          f"`step_activation` must be one of {self.STEP_ACTIVATIONS}, "
          f"received {step_activation!r}.")
    if int(num_components) != num_components or num_components < 1:
      raise ValueError(
          "`num_components` must be a positive integer, received "
          f"{num_components}.")
    if initial_step <= 0 or initial_width <= 0:
      raise ValueError(
          "`initial_step` and `initial_width` must be positive, received "
          f"{initial_step} and {initial_width}.")
    if not 0 <= min_width < initial_width:
      raise ValueError(
          "`min_width` must be >= 0 and below `initial_width` (the window's "
          f"width at initialisation), received {min_width} and "
          f"{initial_width}.")
    self.kernel = kernel
    self.num_components = int(num_components)
    self.step_activation = step_activation
    self.initial_step = float(initial_step)
    self.initial_width = float(initial_width)
    self.min_width = float(min_width)

  @property
  def state_size(self):
    return self.num_components

  def _build_projections(self):
    m = self.num_components
    step_bias = (math.log(self.initial_step) if self.step_activation == "exp"
                 else _inverse_softplus(self.initial_step))
    self.mixture = self._add_projection("mixture", m)
    self.width = self._add_projection(
        "width", m, _inverse_softplus(self.initial_width - self.min_width))
    self.step = self._add_projection("step", m, step_bias)

  def get_initial_state(self, memory, memory_mask=None):
    del memory_mask
    return tf.zeros([tf.shape(memory)[0], self.state_size], tf.float32)

  def _apply(self, projection, query):
    kernel, bias = (tf.cast(w, tf.float32) for w in projection)
    return tf.tensordot(tf.cast(query, tf.float32), kernel, axes=1) + bias

  def _project(self, query):
    raw_step = self._apply(self.step, query)
    step = (tf.exp(raw_step) if self.step_activation == "exp"
            else tf.nn.softplus(raw_step))
    return dict(log_mixture=tf.nn.log_softmax(self._apply(self.mixture, query)),
                width=self.min_width + tf.nn.softplus(
                    self._apply(self.width, query)),
                step=step)

  def _window(self, params, kappa, memory, memory_mask):
    slot_index = tf.cast(tf.range(tf.shape(memory)[1]), tf.float32)
    log_filter = window_log_kernel(kappa, slot_index, params["width"],
                                   params["log_mixture"], self.kernel)
    return tf.cast(self._normalize(log_filter, memory_mask), memory.dtype)

  def _step_weights(self, params, memory, memory_mask, state):
    kappa = tf.cast(state, tf.float32) + params["step"]
    return self._window(params, kappa, memory, memory_mask), kappa

  def _sequence_weights(self, params, memory, memory_mask, initial_state):
    kappa = (tf.cast(initial_state, tf.float32)[:, None, :] +
             tf.cumsum(params["step"], axis=1))
    return self._window(params, kappa, memory, memory_mask), kappa

  def get_config(self):
    config = super().get_config()
    config.update(kernel=self.kernel, num_components=self.num_components,
                  step_activation=self.step_activation,
                  initial_step=self.initial_step,
                  initial_width=self.initial_width,
                  min_width=self.min_width)
    return config


ATTENTION_TYPES = {
    "content": ContentAttention,
    "location": LocationAttention,
    "window": WindowAttention,
    "dot_product": DotProductAttention,
}


def get(spec, name=None):
  """Builds a read head from a config: a type name or `{"type": ..., **kwargs}`.

  Example: `get({"type": "window", "kernel": "cauchy"})`.
  """
  if isinstance(spec, str):
    spec = {"type": spec}
  spec = dict(spec)
  kind = spec.pop("type", None)
  if kind not in ATTENTION_TYPES:
    raise ValueError(
        f"attention `type` must be one of {sorted(ATTENTION_TYPES)}, received "
        f"{kind!r}.")
  layer_cls = ATTENTION_TYPES[kind]
  # The head's own arguments and those of the heads it extends (e.g.
  # `normalizer` of MemoryAttention, `initial_strength` of the location head).
  allowed = set()
  for cls in layer_cls.__mro__:
    if issubclass(cls, MemoryAttention):
      allowed |= set(inspect.signature(cls.__init__).parameters)
  allowed -= {"self", "kwargs"}
  unknown = sorted(set(spec) - allowed)
  if unknown:
    raise ValueError(
        f"bad arguments for {kind!r} attention: {unknown}; it takes "
        f"{sorted(allowed)}.")
  return layer_cls(name=name, **spec)
