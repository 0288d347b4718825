"""The Inverse DRAW model: an LSTM that emits an observation while reading a
memory of stochastic latent vectors, and its mirror-image posterior.

```none
Generative model (one level):
  Z = (z_1, ..., z_K),  z_k ~ N(0, I_D)                     latent memory
  h_t = LSTM(h_{t-1}, [x_{t-1}; r_{t-1}])                    controller
  (r_t, w_t) = attend(h_t, Z)                                read, read_weights
  x_t ~ p(x_t | h_t, r_t)                Categorical (text) / Bernoulli (images)

Approximate posterior:
  M = BiLSTM(x)                                              observation memory
  g_k = LSTM(g_{k-1}, [z_{k-1}; m_{k-1}])
  (m_k, v_k) = attend(g_k, M)
  q(z_k | z_<k, x) = N(mu(g_k, m_k), sigma(g_k, m_k))        reparameterised

Hierarchy (levels 0 = bottom .. L-1 = top):
  p(Z_{L-1}) = N(0, I);  p(Z_l | Z_{l+1}) = slot writer attending over Z_{l+1}
  q(Z_l | x, Z_{l+1}) = slot writer attending over M and Z_{l+1} (top-down)
```
The decoder has two wirings: `input_feeding` (as written above; the read of
step t-1 enters the LSTM at step t, as in the NTM) and `output_only` (the LSTM
sees only x_{<t}; the read joins the output layer, so the LSTM runs as one
fused op and attention is computed for all steps at once).

`num_slots=0` is a plain LSTM language model (or autoregressive image model)
and `num_slots=1` a Bowman-style sentence VAE, on the same decoder.

`decoder_alignment` turns the read into a choice of one slot per element
(exact marginalisation, Gumbel-softmax or variational; `alignment.py`), and
`decoder_normalizer` makes the read weights sparse (`attention.normalize`).
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import data

tfd = tfp.distributions

_PACKAGE = "inverse_draw_tf"
OBSERVATIONS = ("text", "binary_image")
WIRINGS = ("input_feeding", "output_only")
POSTERIORS = ("recurrent", "mean_pooled")
ALIGNMENTS = alignment_lib.ALIGNMENTS
NORMALIZERS = tuple(attention_lib.NORMALIZERS)
# Heads that assume the unmasked slots come first (location shifts within
# them, the window walks over them): slot dropout would leave holes.
_ORDERED_HEADS = ("location", "window")


def _lstm_update(gates, cell):
  """One LSTM update from pre-activations `(B, 4H)` (gate order i, f, g, o)."""
  i, f, g, o = tf.split(gates, 4, axis=-1)
  cell = tf.sigmoid(f) * cell + tf.sigmoid(i) * tf.tanh(g)
  return tf.sigmoid(o) * tf.tanh(cell), cell


def _lstm_bias_initializer(units):
  """Zero bias but forget gate 1 (Jozefowicz et al. 2015, http://proceedings.mlr.press/v37/jozefowicz15.pdf)."""

  def initializer(shape, dtype=None):
    return tf.concat([tf.zeros([units]), tf.ones([units]),
                      tf.zeros([2 * units])], 0)

  return initializer


def gaussian_slots(loc, scale):
  """`tfd.Distribution` over a latent memory: batch `(B, K)`, event `(D,)`."""
  return tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1)


def standard_normal_slots(batch_size, num_slots, latent_dim, dtype=tf.float32):
  """The top-level prior N(0, I) over `(B, K, D)`."""
  shape = [batch_size, num_slots, latent_dim]
  return gaussian_slots(tf.zeros(shape, dtype), tf.ones(shape, dtype))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SlotWriter(keras.layers.Layer):
  """An LSTM that emits K Gaussian latent slots one at a time while reading.

  The posterior of every level and the prior of every level below the top are
  slot writers: at step k the LSTM takes the previous slot's sample and reads,
  reads each of its memories with its own head, and emits
  `N(loc_k, scale_k)` for slot k; the sample (or, with `given_slots`, the
  given slot) is fed back.

  ```none
  g_k = LSTM(g_{k-1}, [z_{k-1}; r^1_{k-1}; ...; r^n_{k-1}])
  (r^j_k, v^j_k) = attend_j(g_k, memory_j)
  loc_k = W_mu [g_k; r_k] + b_mu,  scale_k = softplus(W_s [g_k; r_k] + b_s) + min_scale
  z_k = loc_k + scale_k * noise_k
  ```

  Args:
    num_slots: K, the number of slots emitted.
    latent_dim: D, the size of each slot.
    units: LSTM units.
    attention: list of attention specs (see `attention.get`), one per memory.
    min_scale: floor on the standard deviations, for numerical safety.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    memories: list of `(memory, memory_mask)` pairs, memory
      `(batch_size, memory_slots_j, memory_dim_j)`, mask bool
      `(batch_size, memory_slots_j)` or None; one per attention spec.
    noise: `(batch_size, K, D)` standard normal noise (ignored with
      `given_slots`).
    given_slots: optional `(batch_size, K, D)`: evaluate the conditionals
      along these slots instead of sampling (teacher forcing).

  Returns:
    dict with `loc`, `scale`, `sample` `(batch_size, K, D)` and
    `read_weights`: list of `(batch_size, K, memory_slots_j)`.

  Example:

  >>> writer = SlotWriter(num_slots=4, latent_dim=8, units=16,
  ...                     attention=["content"])
  >>> out = writer([(tf.ones([2, 5, 6]), None)], tf.zeros([2, 4, 8]))
  >>> out["sample"].shape
  TensorShape([2, 4, 8])
  """

  def __init__(self, num_slots, latent_dim, units, attention,
               min_scale=1e-4, **kwargs):
    super().__init__(**kwargs)
    for arg, value in (("num_slots", num_slots), ("latent_dim", latent_dim),
                       ("units", units)):
      if int(value) != value or value < 1:
        raise ValueError(
            f"`{arg}` must be a positive integer, received {value!r}.")
    if not attention:
      raise ValueError("`attention` must list one spec per memory, received "
                       f"{attention!r}.")
    self.num_slots = int(num_slots)
    self.latent_dim = int(latent_dim)
    self.units = int(units)
    self.attention_specs = [
        spec if isinstance(spec, str) else dict(spec) for spec in attention]
    self.min_scale = float(min_scale)
    self.heads = [attention_lib.get(spec, name=f"head_{j}")
                  for j, spec in enumerate(self.attention_specs)]
    # Named attributes too: tf.train.Checkpoint does not see into lists
    # of Keras layers, and a head missing from checkpoints would be
    # silently re-initialised on restore.
    for j, head in enumerate(self.heads):
      setattr(self, f"head_{j}", head)

  def build(self, memories_shape, noise_shape=None, given_slots_shape=None):
    if len(memories_shape) != len(self.heads):
      raise ValueError(
          f"{self.name}: got {len(memories_shape)} memories for "
          f"{len(self.heads)} attention specs; pass one `(memory, mask)` pair "
          "per spec.")
    read_dim = 0
    for head, (memory_shape, _) in zip(self.heads, memories_shape):
      head.build((None, self.units), memory_shape)
      read_dim += int(memory_shape[-1])
    self.read_dim = read_dim
    input_dim = self.latent_dim + read_dim
    self.kernel = self.add_weight(name="kernel",
                                  shape=(input_dim + self.units, 4 * self.units))
    self.bias = self.add_weight(name="bias", shape=(4 * self.units,),
                                initializer=_lstm_bias_initializer(self.units))
    self.loc_kernel = self.add_weight(
        name="loc_kernel", shape=(self.units + read_dim, self.latent_dim))
    self.loc_bias = self.add_weight(name="loc_bias", shape=(self.latent_dim,),
                                    initializer="zeros")
    self.scale_kernel = self.add_weight(
        name="scale_kernel", shape=(self.units + read_dim, self.latent_dim))
    self.scale_bias = self.add_weight(name="scale_bias",
                                      shape=(self.latent_dim,),
                                      initializer="zeros")

  def call(self, memories, noise, given_slots=None):
    batch_size = tf.shape(noise)[0]
    dtype = noise.dtype
    initial_states = [head.get_initial_state(memory, mask)
                      for head, (memory, mask) in zip(self.heads, memories)]
    first = dict(
        h=tf.zeros([batch_size, self.units], dtype),
        c=tf.zeros([batch_size, self.units], dtype),
        z=tf.zeros([batch_size, self.latent_dim], dtype),
        reads=tf.zeros([batch_size, self.read_dim], dtype),
        states=initial_states,
        loc=tf.zeros([batch_size, self.latent_dim], dtype),
        scale=tf.zeros([batch_size, self.latent_dim], dtype),
        weights=[tf.zeros(tf.shape(memory)[:2], dtype)
                 for memory, _ in memories])
    given = noise if given_slots is None else given_slots
    steps = (tf.transpose(noise, [1, 0, 2]), tf.transpose(given, [1, 0, 2]))

    def step(carry, inputs):
      step_noise, step_given = inputs
      gates = tf.concat([carry["z"], carry["reads"], carry["h"]], -1)
      h, c = _lstm_update(tf.matmul(gates, self.kernel) + self.bias,
                          carry["c"])
      reads, weights, states = [], [], []
      for head, (memory, mask), state in zip(self.heads, memories,
                                             carry["states"]):
        read, read_weights, new_state = head(h, memory, memory_mask=mask,
                                             state=state)
        reads.append(read)
        weights.append(read_weights)
        states.append(new_state)
      reads = tf.concat(reads, -1)
      features = tf.concat([h, reads], -1)
      loc = tf.matmul(features, self.loc_kernel) + self.loc_bias
      scale = tf.nn.softplus(tf.matmul(features, self.scale_kernel) +
                             self.scale_bias) + self.min_scale
      z = loc + scale * step_noise if given_slots is None else step_given
      return dict(h=h, c=c, z=z, reads=reads, states=states, loc=loc,
                  scale=scale, weights=weights)

    outputs = tf.scan(step, steps, initializer=first)
    batch_major = lambda t: tf.transpose(t, [1, 0, 2])
    return dict(loc=batch_major(outputs["loc"]),
                scale=batch_major(outputs["scale"]),
                sample=batch_major(outputs["z"]),
                read_weights=[batch_major(w) for w in outputs["weights"]])

  def get_config(self):
    config = super().get_config()
    config.update(num_slots=self.num_slots, latent_dim=self.latent_dim,
                  units=self.units, attention=self.attention_specs,
                  min_scale=self.min_scale)
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MeanPooledPosterior(keras.layers.Layer):
  """Ablation posterior: all K slots at once from the mean-pooled memory.

  ```none
  m = sum_t mask_t M_t / sum_t mask_t
  [loc; pre_scale] = W_2 tanh(W_1 m + b_1) + b_2      reshaped to (K, D) each
  ```

  Args:
    num_slots: K.
    latent_dim: D.
    units: hidden units.
    min_scale: floor on the standard deviations.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    memories: list whose first entry is `(memory, memory_mask)` with memory
      `(batch_size, time_steps, memory_dim)`; further entries are pooled and
      concatenated too (upper latents in a hierarchy).
    noise: `(batch_size, K, D)`.
    given_slots: unused (slots are conditionally independent here).

  Returns:
    dict like `SlotWriter` with uniform `read_weights` over unmasked steps
    (the pooling weights).

  Example:

  >>> posterior = MeanPooledPosterior(num_slots=4, latent_dim=8, units=16)
  >>> out = posterior([(tf.ones([2, 5, 6]), None)], tf.zeros([2, 4, 8]))
  >>> out["loc"].shape
  TensorShape([2, 4, 8])
  """

  def __init__(self, num_slots, latent_dim, units, min_scale=1e-4, **kwargs):
    super().__init__(**kwargs)
    self.num_slots = int(num_slots)
    self.latent_dim = int(latent_dim)
    self.units = int(units)
    self.min_scale = float(min_scale)
    self.hidden = keras.layers.Dense(units, activation="tanh", name="hidden")
    self.head = keras.layers.Dense(2 * num_slots * latent_dim, name="head")

  def build(self, memories_shape, noise_shape=None, given_slots_shape=None):
    pooled_dim = sum(int(shape[-1]) for shape, _ in memories_shape)
    self.hidden.build((None, pooled_dim))
    self.head.build((None, self.units))

  def call(self, memories, noise, given_slots=None):
    del given_slots
    pooled, weights = [], []
    for memory, mask in memories:
      if mask is None:
        mask = tf.ones(tf.shape(memory)[:2], tf.bool)
      pool = attention_lib.masked_softmax(
          tf.zeros(tf.shape(memory)[:2], memory.dtype), mask)
      pooled.append(attention_lib.read_memory(pool, memory))
      weights.append(tf.tile(pool[:, None, :], [1, self.num_slots, 1]))
    params = self.head(self.hidden(tf.concat(pooled, -1)))
    params = tf.reshape(params, [-1, self.num_slots, 2 * self.latent_dim])
    loc, pre_scale = tf.split(params, 2, axis=-1)
    scale = tf.nn.softplus(pre_scale) + self.min_scale
    return dict(loc=loc, scale=scale, sample=loc + scale * noise,
                read_weights=weights)

  def get_config(self):
    config = super().get_config()
    config.update(num_slots=self.num_slots, latent_dim=self.latent_dim,
                  units=self.units, min_scale=self.min_scale)
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Decoder(keras.layers.Layer):
  """The generative LSTM: emits one element per step, reading the latents.

  ```none
  input_feeding: h_t = LSTM(h_{t-1}, [e(x_{t-1}); r_{t-1}]),  (r_t, w_t) = attend(h_t, Z)
  output_only:   h_t = LSTM(h_{t-1}, e(x_{t-1})),             (r_t, w_t) = attend(h_t, Z)
  logits_t = W_o [h_t; r_t] + b_o
  ```
  With no latents (`attention=None`) the read is absent: an LSTM language
  model or autoregressive image model.

  `alignment` says how the read weights w_t = p(a_t | h_t) are used (see
  `alignment.py`):

  ```none
  soft:         r_t = sum_k w_tk z_k                    (the expected read)
  gumbel:       r_t = z_{a_t}, a_t a straight-through Gumbel-softmax sample of
                w_t (given `read_noise`), else argmax_k w_tk
  exact, variational: no single read; returns the split output layer
                shared_t = W_h h_t + b_o (B, T, V) and slot_k = W_z z_k (B, K, V),
                so that logits_tk = W_o [h_t; z_k] + b_o = shared_t + slot_k
  ```
  With input feeding, gumbel feeds its hard read back into the LSTM; exact
  and variational feed the expected read `sum_k w_tk z_k`, a deterministic
  function of h_t and Z, so the alignment a_t stays a per-step choice that
  the likelihood can marginalise exactly.

  Args:
    output_dim: vocabulary size (text) or elements per step (images).
    input_kind: "tokens" (ids, embedded) or "vectors" (floats, projected).
    embedding_dim: size of the embedded input.
    units: LSTM units.
    attention: attention spec over the latent memory, or None for no latents.
    wiring: "input_feeding" or "output_only".
    alignment: "soft", "gumbel", "exact" or "variational" (see above).
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    inputs: the previous elements, `(batch_size, T)` int ids or
      `(batch_size, T, output_dim)` floats.
    latents: `(batch_size, K, D)` or None.
    latent_mask: optional bool `(batch_size, K)`.
    read_noise: optional `(batch_size, T, K)` standard Gumbel noise (gumbel
      alignment: sample the read; without it the read is the argmax slot).
    read_temperature: tau of the Gumbel-softmax relaxation.
    dropout_masks: optional dict of `inputs` `(batch_size, T, embedding_dim)`
      and `outputs` `(batch_size, T, units)`, dropout masks already scaled
      by 1 / keep (`InverseDraw` draws them in training): they multiply the
      embedded inputs and the LSTM outputs on their way to the output layer
      (Zaremba et al. 2014, https://arxiv.org/abs/1409.2329: the recurrence
      and the read head see undropped states, so only non-recurrent
      connections are dropped).

  Returns:
    dict with `logits` `(batch_size, T, output_dim)` (soft and gumbel), or
    `shared_logits` `(batch_size, T, output_dim)` and `slot_logits`
    `(batch_size, K, output_dim)` (exact and variational); `read_weights`
    `(batch_size, T, K)` and `attention_state` `(batch_size, T, S)` (absent
    without latents); gumbel adds the chosen one-hot `alignment`
    `(batch_size, T, K)`.

  Example:

  >>> decoder = Decoder(output_dim=10, input_kind="tokens", embedding_dim=8,
  ...                   units=16, attention="content")
  >>> out = decoder(tf.ones([2, 7], tf.int32), tf.ones([2, 4, 5]))
  >>> out["read_weights"].shape
  TensorShape([2, 7, 4])
  """

  def __init__(self, output_dim, input_kind, embedding_dim, units,
               attention=None, wiring="input_feeding", alignment="soft",
               **kwargs):
    super().__init__(**kwargs)
    if wiring not in WIRINGS:
      raise ValueError(
          f"`wiring` must be one of {WIRINGS}, received {wiring!r}.")
    if alignment not in ALIGNMENTS:
      raise ValueError(
          f"`alignment` must be one of {ALIGNMENTS}, received {alignment!r}.")
    if alignment != "soft" and attention is None:
      raise ValueError(f"`alignment`={alignment!r} needs latents to align "
                       "to; set `attention` or use 'soft'.")
    self.alignment = alignment
    if input_kind not in ("tokens", "vectors"):
      raise ValueError("`input_kind` must be 'tokens' or 'vectors', received "
                       f"{input_kind!r}.")
    self.output_dim = int(output_dim)
    self.input_kind = input_kind
    self.embedding_dim = int(embedding_dim)
    self.units = int(units)
    self.attention_spec = (attention if attention is None or
                           isinstance(attention, str) else dict(attention))
    self.wiring = wiring
    if input_kind == "tokens":
      self.embed = keras.layers.Embedding(output_dim, embedding_dim,
                                          name="embedding")
    else:
      self.embed = keras.layers.Dense(embedding_dim, name="embedding")
    self.head = (None if attention is None else
                 attention_lib.get(attention, name="read_head"))
    self.output_layer = keras.layers.Dense(output_dim, name="output")
    # The fused path: keras.layers.LSTM dispatches to cuDNN on GPUs.
    self.lstm = (keras.layers.LSTM(units, return_sequences=True, name="lstm")
                 if wiring == "output_only" or attention is None else None)

  def build(self, inputs_shape, latents_shape=None, latent_mask_shape=None):
    self.embed.build(inputs_shape)
    read_dim = 0
    if self.head is not None:
      if latents_shape is None:
        raise ValueError(f"{self.name}: `latents` are required when "
                         "`attention` is set.")
      self.head.build((None, self.units), latents_shape)
      read_dim = int(latents_shape[-1])
    self.read_dim = read_dim
    if self.lstm is not None:
      self.lstm.build((None, None, self.embedding_dim))
    else:
      self.kernel = self.add_weight(
          name="kernel",
          shape=(self.embedding_dim + read_dim + self.units, 4 * self.units))
      self.bias = self.add_weight(
          name="bias", shape=(4 * self.units,),
          initializer=_lstm_bias_initializer(self.units))
    self.output_layer.build((None, None, self.units + read_dim))

  def call(self, inputs, latents=None, latent_mask=None, read_noise=None,
           read_temperature=1.0, dropout_masks=None):
    embedded = self.embed(inputs)
    dropped = lambda t, key: t if dropout_masks is None else (
        t * tf.cast(dropout_masks[key], t.dtype))
    embedded = dropped(embedded, "inputs")
    if self.head is None:
      return dict(logits=self.output_layer(
          dropped(self.lstm(embedded), "outputs")))
    chosen = None
    if self.wiring == "output_only":
      hidden = self.lstm(embedded)
      reads, read_weights, states = self.head.call_sequence(
          hidden, latents, latent_mask)
      if self.alignment == "gumbel":
        chosen = self._choose(read_weights, read_noise, read_temperature)
        reads = attention_lib.read_memory(chosen, latents)
    else:
      hidden, reads, read_weights, states, chosen = self._input_feeding(
          embedded, latents, latent_mask, read_noise, read_temperature)
    outputs = dict(read_weights=read_weights, attention_state=states)
    hidden = dropped(hidden, "outputs")
    if self.alignment in alignment_lib.PER_SLOT_ALIGNMENTS:
      # W_o [h; z_k] + b = (W_h h + b) + W_z z_k: the (B, T, V) product is
      # shared by all slots and the slot part is (B, K, V), once per sequence.
      kernel = self.output_layer.kernel
      outputs.update(
          shared_logits=tf.tensordot(hidden, kernel[:self.units], axes=1) +
          self.output_layer.bias,
          slot_logits=tf.tensordot(latents, kernel[self.units:], axes=1))
      return outputs
    outputs["logits"] = self.output_layer(tf.concat([hidden, reads], -1))
    if chosen is not None:
      outputs["alignment"] = chosen
    return outputs

  def _choose(self, read_weights, read_noise, read_temperature):
    """The gumbel read's one-hot slot choice (straight-through when sampled)."""
    if read_noise is None:
      return alignment_lib.hard_alignment(read_weights)
    return alignment_lib.gumbel_softmax_straight_through(
        read_weights, read_noise, read_temperature)

  def _input_feeding(self, embedded, latents, latent_mask, read_noise=None,
                     read_temperature=1.0):
    batch_size = tf.shape(embedded)[0]
    dtype = embedded.dtype
    # The input part of the gates does not depend on the recurrence: one
    # batched matmul for all steps instead of one per step.
    input_gates = tf.einsum("bte,eg->btg", embedded,
                            self.kernel[:self.embedding_dim]) + self.bias
    recurrent_kernel = self.kernel[self.embedding_dim:]
    first = dict(
        h=tf.zeros([batch_size, self.units], dtype),
        c=tf.zeros([batch_size, self.units], dtype),
        read=tf.zeros([batch_size, self.read_dim], dtype),
        weights=tf.zeros(tf.shape(latents)[:2], dtype),
        state=self.head.get_initial_state(latents, latent_mask))
    gumbel = self.alignment == "gumbel"
    if gumbel:
      first["chosen"] = first["weights"]
    sampled = gumbel and read_noise is not None
    elements = [tf.transpose(input_gates, [1, 0, 2])]
    if sampled:
      elements.append(tf.transpose(read_noise, [1, 0, 2]))

    def step(carry, inputs_t):
      gates = inputs_t[0] + tf.matmul(
          tf.concat([carry["read"], carry["h"]], -1), recurrent_kernel)
      h, c = _lstm_update(gates, carry["c"])
      read, weights, state = self.head(h, latents, memory_mask=latent_mask,
                                       state=carry["state"])
      new = dict(h=h, c=c, read=read, weights=weights, state=state)
      if gumbel:
        # The chosen slot's read is fed back, as it would be when generating.
        new["chosen"] = self._choose(weights, inputs_t[1] if sampled else None,
                                     read_temperature)
        new["read"] = attention_lib.read_memory(new["chosen"], latents)
      return new

    outputs = tf.scan(step, tuple(elements), initializer=first)
    batch_major = lambda t: tf.transpose(t, [1, 0, 2])
    return (batch_major(outputs["h"]), batch_major(outputs["read"]),
            batch_major(outputs["weights"]), batch_major(outputs["state"]),
            batch_major(outputs["chosen"]) if gumbel else None)

  def initial_carry(self, latents, latent_mask, batch_size, dtype):
    """Recurrent state before the first generated element."""
    if not self.built:
      inputs_shape = ((None, None) if self.input_kind == "tokens" else
                      (None, None, self.output_dim))
      self.build(inputs_shape,
                 None if latents is None else tuple(latents.shape))
    carry = dict(h=tf.zeros([batch_size, self.units], dtype),
                 c=tf.zeros([batch_size, self.units], dtype))
    if self.head is not None:
      carry.update(read=tf.zeros([batch_size, self.read_dim], dtype),
                   state=self.head.get_initial_state(latents, latent_mask))
    if self.alignment != "soft":
      carry["slot"] = tf.zeros([batch_size], tf.int32)
    return carry

  def step(self, previous, carry, latents=None, latent_mask=None,
           read_noise=None):
    """One generation step from the previous element `(B,)` ids or `(B, G)`.

    With an alignment other than soft, the step first chooses the slot
    a_t: `argmax_k(log w_k + read_noise_k)`, a sample of p(a_t | h_t) for
    standard Gumbel `read_noise` `(B, K)` and its mode for None; the element's
    logits are then those of that slot, `W_o [h_t; z_{a_t}] + b_o`, and the
    carry's `slot` `(B,)` records the choice.

    Returns:
      `(logits (B, output_dim), read_weights (B, K) or None, new carry)`.
    """
    embedded = self.embed(previous)
    if self.lstm is not None:
      h, (_, c) = self.lstm.cell(embedded, [carry["h"], carry["c"]])
    else:
      gates = tf.matmul(tf.concat([embedded, carry["read"], carry["h"]], -1),
                        self.kernel) + self.bias
      h, c = _lstm_update(gates, carry["c"])
    if self.head is None:
      return self.output_layer(h), None, dict(h=h, c=c)
    read, weights, state = self.head(h, latents, memory_mask=latent_mask,
                                     state=carry["state"])
    new_carry = dict(h=h, c=c, read=read, state=state)
    if self.alignment == "soft":
      logits = self.output_layer(tf.concat([h, read], -1))
      return logits, weights, new_carry
    chosen = alignment_lib.hard_alignment(weights, read_noise)
    chosen_read = attention_lib.read_memory(chosen, latents)
    logits = self.output_layer(tf.concat([h, chosen_read], -1))
    if self.alignment == "gumbel":
      new_carry["read"] = chosen_read  # As in training (see `call`).
    new_carry["slot"] = tf.argmax(chosen, -1, output_type=tf.int32)
    return logits, weights, new_carry

  def get_config(self):
    config = super().get_config()
    config.update(output_dim=self.output_dim, input_kind=self.input_kind,
                  embedding_dim=self.embedding_dim, units=self.units,
                  attention=self.attention_spec, wiring=self.wiring,
                  alignment=self.alignment)
    return config


def _per_level(value, num_levels, name):
  """Broadcasts an int (or a list of one) to one value per level."""
  values = list(value) if isinstance(value, (list, tuple)) else [value]
  if len(values) == 1:
    values = values * num_levels
  if len(values) != num_levels:
    raise ValueError(
        f"`{name}` must be one value or one per level ({num_levels}), "
        f"received {value!r}.")
  return values


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InverseDraw(keras.Model):
  """Inverse DRAW: a VAE whose decoder attends over a memory of latents.

  See the module docstring for the maths. The model maps a batch to the
  per-example terms every objective needs (`objectives.py` turns them into
  the ELBO and the IWAE bound):

  ```none
  log_likelihood = sum_t mask_t log p(x_t | x_<t, Z)
  kl[l]          = KL(q(Z_l | ...) || p(Z_l | Z_{l+1}))   per slot, analytic
                   along the sampled path
  log_prior      = sum_l log p(Z_l | Z_{l+1});  log_posterior = sum_l log q(Z_l | ...)
  ```

  Args:
    observation: "text" (token ids, Categorical) or "binary_image" (pixels in
      {0, 1}, Bernoulli).
    vocab_size: text vocabulary size including the special tokens.
    image_shape: `(height, width)` of images.
    pixels_per_step: elements emitted per decoder step for images (default
      one 28-pixel row); must divide `height * width`.
    embedding_dim: size of the embedded (or projected) elements.
    encoder_units: units of each direction of the BiLSTM encoder.
    decoder_units: decoder LSTM units.
    posterior_units, prior_units: slot-writer LSTM units.
    num_slots: K per level, bottom first (an int for one level). 0 gives the
      plain autoregressive model without latents.
    latent_dim: D per level (an int applies to all).
    slots_per_token: if > 0, the bottom level uses
      `min(num_slots, ceil(slots_per_token * length))` slots per example (the
      rest are masked); 0 keeps K fixed.
    decoder_attention: spec of the decoder's read head (`attention.get`).
    posterior_attention: spec of the posterior's head over the observation.
    prior_attention: spec of the heads that read the level above (the
      hierarchical prior and the top-down posterior).
    decoder_wiring: "input_feeding" or "output_only".
    posterior_type: "recurrent" (slot writer) or "mean_pooled" (ablation).
    word_dropout: probability of replacing a decoder input token by `<unk>`
      in training (Bowman et al. 2016, https://arxiv.org/abs/1511.06349).
    min_scale: floor on posterior and prior standard deviations.
    decoder_alignment: how the decoder uses its read weights
      w_t = p(a_t | h_t) (see `alignment.py` and `Decoder`):
      "soft" reads the average `sum_k w_tk z_k` (the default);
      "exact" makes each element come from one slot a_t and marginalises it,
      `log p(x_t | ...) = logsumexp_k [log w_tk + log p(x_t | h_t, z_k)]`;
      "gumbel" reads one slot, a straight-through Gumbel-softmax sample of
      w_t at temperature `read_temperature` in training and the argmax slot
      otherwise (so evaluation bounds the likelihood of the argmax-read
      model, a deterministic decoder, not of the stochastic hard-attention
      model trained; training maximises a single-alignment estimate
      E_a[log p(x_t | z_a)] <= log E_a[p(x_t | z_a)]);
      "variational" trains the exact model's likelihood through
      `E_q[log p(x_t | h_t, z_{a_t})] - KL(q(a_t | x) || p(a_t | h_t))`
      with a_t a straight-through Gumbel-softmax sample of the inference
      network q (`AlignmentInference`) in training, and evaluates (with
      `training=False`) the exact marginal, the same model as "exact".
    decoder_normalizer: "softmax", "sparsemax" or "entmax15": how the
      decoder's read head turns scores into weights (`attention.normalize`).
    decoder_dropout: in training, the probability of zeroing each unit of
      the decoder's embedded inputs and of its LSTM outputs before the output
      layer (non-recurrent dropout, Zaremba et al. 2014,
      https://arxiv.org/abs/1409.2329; the language model without latents
      gets the same regularisation, so the comparison stays fair).
    slot_dropout: in training, the probability of hiding each bottom-level
      slot from the decoder (its attention renormalises over the rest; a
      row that would lose every slot keeps them all). Needs a content or
      dot-product decoder head (location and window heads assume the
      unmasked slots come first).
    **kwargs: `keras.Model` arguments (`name`).

  Call arguments:
    batch: dict with `tokens` int `(batch_size, T)` (ids, `<eos>` last,
      `<pad>`=0 after) or `pixels` float `(batch_size, H, W)`.
    training: enables word, decoder and slot dropout.
    seed: int `(2,)` stateless seed for the latent noise (and the dropouts).
    noise: optional list, per level, of `(batch_size, K_l, D_l)` standard
      normal noise; overrides `seed` for the latents.
    encoded: optional `(observation_memory, mask)` from `encode_observation`,
      to reuse one encoding across importance samples.
    sample_rows: optional `(row_offset, total_rows)`: draw the randomness for
      `total_rows` examples and use rows `row_offset:row_offset+batch_size`.
      A replica of a data-parallel step passes its slice of the global batch,
      so every example gets the noise it would get on one device.
    read_temperature: tau of the Gumbel-softmax samples of the "gumbel" and
      "variational" alignments in training (annealed by the training loop).

  Returns:
    dict: `log_likelihood` `(B,)`, `element_log_prob` `(B, T)`,
    `element_mask` `(B, T)`, `kl` list per level of `(B, K_l)` (analytic,
    masked slots 0) and `kl_monte_carlo` (`log q - log p` per slot), `log_prior`
    and `log_posterior` `(B,)`, `slot_mask` list per level of `(B, K_l)`,
    `decoder_weights` `(B, T, K_0)`, `posterior_weights` list per level of
    `(B, K_l, T)`, `posterior_loc`/`posterior_scale` lists of `(B, K_l, D_l)`,
    `latents` list of samples `(B, K_l, D_l)`. The "exact" and "variational"
    alignments add `alignment_posterior` `(B, T, K_0)`,
    p(a_t = k | x_t, h_t, Z) (the word-to-latent assignment) and
    `slot_log_likelihood` `(B, T, K_0)`, log p(x_t | h_t, z_k);
    "variational" adds `alignment_inference` q(a_t | x) `(B, T, K_0)` and
    `alignment_kl` `(B, T)` (0 on padding).

  Example:

  >>> model = InverseDraw(vocab_size=20, embedding_dim=8, encoder_units=8,
  ...                     decoder_units=16, posterior_units=8, num_slots=3,
  ...                     latent_dim=4)
  >>> out = model({"tokens": tf.constant([[5, 6, 3, 0]])})
  >>> out["kl"][0].shape
  TensorShape([1, 3])
  """

  def __init__(self, observation="text", vocab_size=10002,
               image_shape=(28, 28), pixels_per_step=28, embedding_dim=256,
               encoder_units=256, decoder_units=512, posterior_units=256,
               prior_units=256, num_slots=8, latent_dim=32,
               slots_per_token=0.0, decoder_attention="content",
               posterior_attention="content", prior_attention="content",
               decoder_wiring="input_feeding", posterior_type="recurrent",
               word_dropout=0.0, min_scale=1e-4, decoder_alignment="soft",
               decoder_normalizer="softmax", slot_dropout=0.0,
               decoder_dropout=0.0, **kwargs):
    super().__init__(**kwargs)
    if observation not in OBSERVATIONS:
      raise ValueError(f"`observation` must be one of {OBSERVATIONS}, "
                       f"received {observation!r}.")
    if posterior_type not in POSTERIORS:
      raise ValueError(f"`posterior_type` must be one of {POSTERIORS}, "
                       f"received {posterior_type!r}.")
    if not 0.0 <= word_dropout < 1.0:
      raise ValueError(
          f"`word_dropout` must be in [0, 1), received {word_dropout}.")
    if slots_per_token < 0:
      raise ValueError(
          f"`slots_per_token` must be >= 0, received {slots_per_token}.")
    if decoder_wiring not in WIRINGS:
      raise ValueError(f"`decoder_wiring` must be one of {WIRINGS}, "
                       f"received {decoder_wiring!r}.")
    for argument, spec in (("decoder_attention", decoder_attention),
                           ("posterior_attention", posterior_attention),
                           ("prior_attention", prior_attention)):
      try:
        attention_lib.get(spec)
      except ValueError as error:
        raise ValueError(f"`{argument}`: {error}") from None
    if decoder_alignment not in ALIGNMENTS:
      raise ValueError(f"`decoder_alignment` must be one of {ALIGNMENTS}, "
                       f"received {decoder_alignment!r}.")
    if decoder_normalizer not in NORMALIZERS:
      raise ValueError(f"`decoder_normalizer` must be one of {NORMALIZERS}, "
                       f"received {decoder_normalizer!r}.")
    if not 0.0 <= slot_dropout < 1.0:
      raise ValueError(
          f"`slot_dropout` must be in [0, 1), received {slot_dropout}.")
    decoder_kind = (decoder_attention if isinstance(decoder_attention, str)
                    else dict(decoder_attention).get("type"))
    if not 0.0 <= decoder_dropout < 1.0:
      raise ValueError(
          f"`decoder_dropout` must be in [0, 1), received {decoder_dropout}.")
    if slot_dropout and decoder_kind in _ORDERED_HEADS:
      raise ValueError(
          "`slot_dropout` needs a content or dot_product `decoder_attention`, "
          f"received {decoder_kind!r} (it assumes unmasked slots come first).")
    spec_normalizer = (None if isinstance(decoder_attention, str) else
                       dict(decoder_attention).get("normalizer"))
    if spec_normalizer not in (None, decoder_normalizer) and (
        decoder_normalizer != "softmax"):
      raise ValueError(
          f"`decoder_normalizer`={decoder_normalizer!r} contradicts the "
          f"`decoder_attention` normalizer {spec_normalizer!r}; set one.")
    normalizer = (spec_normalizer if decoder_normalizer == "softmax" and
                  spec_normalizer else decoder_normalizer)
    if decoder_alignment == "variational" and normalizer != "softmax":
      raise ValueError(
          "`decoder_alignment`='variational' needs a softmax decoder head "
          "(the KL to a sparse p(a_t | h_t) is infinite), received "
          f"normalizer {normalizer!r}.")
    if word_dropout and observation != "text":
      raise ValueError("`word_dropout` applies to text only; set it to 0 for "
                       f"observation={observation!r}.")
    slot_counts = list(num_slots) if isinstance(num_slots,
                                                (list, tuple)) else [num_slots]
    if any(int(k) != k or k < 0 for k in slot_counts) or (
        len(slot_counts) > 1 and min(slot_counts) < 1):
      raise ValueError(
          "`num_slots` must be a non-negative integer (0 = no latents) or a "
          f"list of positive integers, one per level; received {num_slots!r}.")
    if decoder_alignment != "soft" and not any(slot_counts):
      raise ValueError(
          f"`decoder_alignment`={decoder_alignment!r} needs latents "
          "(`num_slots` > 0); use 'soft' for a model without them.")
    height, width = image_shape
    if observation == "binary_image" and (
        int(pixels_per_step) != pixels_per_step or pixels_per_step < 1 or
        (height * width) % pixels_per_step):
      raise ValueError(
          f"`pixels_per_step` must divide height * width = {height * width} "
          f"(a positive integer), received {pixels_per_step}.")
    if observation == "text" and vocab_size <= len(data.SPECIAL_TOKENS):
      raise ValueError(
          f"`vocab_size` must exceed the {len(data.SPECIAL_TOKENS)} special "
          f"tokens, received {vocab_size}.")

    self.observation = observation
    self.vocab_size = int(vocab_size)
    self.image_shape = (int(height), int(width))
    self.pixels_per_step = int(pixels_per_step)
    self.embedding_dim = int(embedding_dim)
    self.encoder_units = int(encoder_units)
    self.decoder_units = int(decoder_units)
    self.posterior_units = int(posterior_units)
    self.prior_units = int(prior_units)
    self.num_slots = [int(k) for k in slot_counts if k > 0]
    self.num_levels = len(self.num_slots)
    self.latent_dim = [int(d) for d in _per_level(
        latent_dim, max(self.num_levels, 1), "latent_dim")][:self.num_levels]
    self.slots_per_token = float(slots_per_token)
    self.decoder_attention = decoder_attention
    self.posterior_attention = posterior_attention
    self.prior_attention = prior_attention
    self.decoder_wiring = decoder_wiring
    self.posterior_type = posterior_type
    self.word_dropout = float(word_dropout)
    self.min_scale = float(min_scale)
    self.decoder_alignment = decoder_alignment
    self.decoder_normalizer = decoder_normalizer
    self.slot_dropout = float(slot_dropout)
    self.decoder_dropout = float(decoder_dropout)

    text = observation == "text"
    self.element_dim = self.vocab_size if text else self.pixels_per_step
    decoder_spec = decoder_attention
    if decoder_normalizer != "softmax":
      decoder_spec = dict({"type": decoder_attention} if isinstance(
          decoder_attention, str) else decoder_attention,
                          normalizer=decoder_normalizer)
    self.decoder = Decoder(
        output_dim=self.element_dim,
        input_kind="tokens" if text else "vectors",
        embedding_dim=embedding_dim, units=decoder_units,
        attention=decoder_spec if self.num_levels else None,
        wiring=decoder_wiring, alignment=decoder_alignment, name="decoder")
    if not self.num_levels:
      return
    if decoder_alignment == "variational":
      self.alignment_inference = alignment_lib.AlignmentInference(
          posterior_units, name="alignment_inference")
    if text:
      self.encoder_embedding = keras.layers.Embedding(
          self.vocab_size, embedding_dim, name="encoder_embedding")
    else:
      self.encoder_embedding = keras.layers.Dense(embedding_dim,
                                                  name="encoder_embedding")
    self.encoder = keras.layers.Bidirectional(
        keras.layers.LSTM(encoder_units, return_sequences=True),
        name="encoder")
    self.posteriors, self.priors = [], []
    for level, (k, d) in enumerate(zip(self.num_slots, self.latent_dim)):
      top = level == self.num_levels - 1
      if posterior_type == "mean_pooled":
        posterior = MeanPooledPosterior(k, d, posterior_units,
                                        min_scale=min_scale,
                                        name=f"posterior_{level}")
      else:
        heads = [posterior_attention] + ([] if top else [prior_attention])
        posterior = SlotWriter(k, d, posterior_units, heads,
                               min_scale=min_scale, name=f"posterior_{level}")
      self.posteriors.append(posterior)
      # Named attributes too: tf.train.Checkpoint does not see into lists.
      setattr(self, f"posterior_{level}", posterior)
      if not top:
        prior = SlotWriter(k, d, prior_units, [prior_attention],
                           min_scale=min_scale, name=f"prior_{level}")
        self.priors.append(prior)
        setattr(self, f"prior_{level}", prior)

  def build(self, input_shape=None):
    """Creates every weight by running a one-example batch through `call`.

    (Keras calls this when reviving a saved model; the batch's shape does not
    matter, weights depend only on the constructor arguments.)
    """
    del input_shape
    if self.observation == "text":
      example = {"tokens": tf.constant([[len(data.SPECIAL_TOKENS),
                                         data.EOS_ID]], tf.int32)}
    else:
      example = {"pixels": tf.zeros([1, *self.image_shape])}
    self.call(example)

  # -- Observations -------------------------------------------------------

  def elements(self, batch):
    """The observation as a sequence: `(targets, decoder_inputs, mask)`.

    Text: targets are the ids `(B, T)`, inputs `<bos>` followed by the
    targets shifted right. Images: targets are the pixels grouped
    `(B, T, pixels_per_step)`, inputs the previous group (zeros first).
    """
    if self.observation == "text":
      if "tokens" not in batch:
        raise ValueError("a text model needs `batch['tokens']` (int ids); "
                         f"received keys {sorted(batch)}.")
      targets = tf.cast(batch["tokens"], tf.int32)
      mask = tf.not_equal(targets, data.PAD_ID)
      bos = tf.fill([tf.shape(targets)[0], 1], data.BOS_ID)
      inputs = tf.concat([bos, targets[:, :-1]], axis=1)
      return targets, inputs, mask
    if "pixels" not in batch:
      raise ValueError("an image model needs `batch['pixels']` (B, H, W); "
                       f"received keys {sorted(batch)}.")
    pixels = tf.cast(batch["pixels"], self.compute_dtype)
    targets = tf.reshape(pixels, [tf.shape(pixels)[0], -1,
                                  self.pixels_per_step])
    inputs = tf.pad(targets[:, :-1], [[0, 0], [1, 0], [0, 0]])
    mask = tf.ones(tf.shape(targets)[:2], tf.bool)
    return targets, inputs, mask

  def element_distribution(self, logits):
    """p(x_t | ...): batch shape `(B, T)`."""
    if self.observation == "text":
      return tfd.Categorical(logits=logits)
    return tfd.Independent(tfd.Bernoulli(logits=logits),
                           reinterpreted_batch_ndims=1)

  def _word_dropout(self, inputs, seed, total_rows, rows):
    shape = tf.stack([total_rows, tf.shape(inputs)[1]])
    keep = rows(tf.random.stateless_uniform(shape, seed)) >= self.word_dropout
    # <bos> always survives: it tells the decoder where the sentence starts.
    keep = tf.logical_or(keep, tf.equal(inputs, data.BOS_ID))
    return tf.where(keep, inputs, tf.fill(tf.shape(inputs), data.UNK_ID))

  # -- Latents ------------------------------------------------------------

  def encode_observation(self, batch):
    """BiLSTM observation memory `(B, T, 2 * encoder_units)` and its mask."""
    targets, _, mask = self.elements(batch)
    embedded = self.encoder_embedding(targets)
    # tf.identity drops the Keras mask attribute: masks travel explicitly here.
    return tf.identity(self.encoder(embedded, mask=mask)), mask

  def slot_masks(self, element_mask):
    """Bool masks of the slots in use, per level."""
    batch_size = tf.shape(element_mask)[0]
    masks = [tf.ones([batch_size, k], tf.bool) for k in self.num_slots]
    if self.slots_per_token > 0:
      lengths = tf.reduce_sum(tf.cast(element_mask, tf.float32), axis=1)
      used = tf.clip_by_value(tf.math.ceil(self.slots_per_token * lengths),
                              1.0, float(self.num_slots[0]))
      masks[0] = tf.sequence_mask(tf.cast(used, tf.int32), self.num_slots[0])
    return masks

  def sample_noise(self, batch_size, seed):
    """Standard normal noise for every level's slots, from a stateless seed."""
    return [tf.random.stateless_normal(
        [batch_size, k, d], tf.random.experimental.stateless_fold_in(seed, l),
        dtype=self.compute_dtype)
            for l, (k, d) in enumerate(zip(self.num_slots, self.latent_dim))]

  def infer_latents(self, observation_memory, observation_mask, slot_masks,
                    noise):
    """Samples the posterior top-down and scores it under prior and posterior.

    Returns:
      dict of per-level lists: `posterior` and `prior` (`tfd.Distribution`,
      batch `(B, K_l)`, event `(D_l,)`, along the sampled path), `latents`,
      `kl` `(B, K_l)` (masked), `posterior_weights`; plus `log_prior` and
      `log_posterior` `(B,)`.
    """
    num_levels = self.num_levels
    levels = [None] * num_levels
    above = None
    for level in reversed(range(num_levels)):
      memories = [(observation_memory, observation_mask)]
      if above is not None:
        memories.append(above)
      q = self.posteriors[level](memories, noise[level])
      posterior = gaussian_slots(q["loc"], q["scale"])
      if above is None:
        prior = standard_normal_slots(tf.shape(q["loc"])[0],
                                      self.num_slots[level],
                                      self.latent_dim[level],
                                      q["loc"].dtype)
      else:
        p = self.priors[level]([above], noise[level], given_slots=q["sample"])
        prior = gaussian_slots(p["loc"], p["scale"])
      slot_weight = tf.cast(slot_masks[level], q["loc"].dtype)
      log_q = posterior.log_prob(q["sample"]) * slot_weight
      log_p = prior.log_prob(q["sample"]) * slot_weight
      levels[level] = dict(
          posterior=posterior, prior=prior, latents=q["sample"],
          posterior_loc=q["loc"], posterior_scale=q["scale"],
          kl=tfd.kl_divergence(posterior, prior) * slot_weight,
          kl_monte_carlo=log_q - log_p,
          log_prior=tf.reduce_sum(log_p, -1),
          log_posterior=tf.reduce_sum(log_q, -1),
          posterior_weights=q["read_weights"][0])
      above = (q["sample"], slot_masks[level])
    result = {key: [lv[key] for lv in levels] for key in levels[0]}
    result["log_prior"] = tf.add_n(result["log_prior"])
    result["log_posterior"] = tf.add_n(result["log_posterior"])
    return result

  def posterior_log_prob(self, encoded, latents, slot_masks):
    """`log q(Z | x)` of given latents (all levels), `(B,)`.

    Evaluates each level's conditionals along the given slots (teacher
    forcing), e.g. to score one example's latents under another's posterior
    for the aggregate posterior in the mutual information.
    """
    observation_memory, observation_mask = encoded
    total = 0.0
    for level in range(self.num_levels):
      memories = [(observation_memory, observation_mask)]
      if level + 1 < self.num_levels:
        memories.append((latents[level + 1], slot_masks[level + 1]))
      q = self.posteriors[level](memories, latents[level],
                                 given_slots=latents[level])
      log_q = gaussian_slots(q["loc"], q["scale"]).log_prob(latents[level])
      total += tf.reduce_sum(
          log_q * tf.cast(slot_masks[level], log_q.dtype), -1)
    return total

  def sample_prior(self, batch_size, seed):
    """Latents drawn from the (hierarchical) prior, bottom level first."""
    noise = self.sample_noise(batch_size, seed)
    latents = [None] * self.num_levels
    latents[-1] = noise[-1]
    for level in reversed(range(self.num_levels - 1)):
      above = (latents[level + 1],
               tf.ones(tf.shape(latents[level + 1])[:2], tf.bool))
      latents[level] = self.priors[level]([above], noise[level])["sample"]
    return latents

  # -- Forward ------------------------------------------------------------

  def call(self, batch, training=False, seed=None, noise=None, encoded=None,
           sample_rows=None, read_temperature=1.0):
    if seed is None:
      seed = tf.constant([0, 0], tf.int32)
    targets, inputs, mask = self.elements(batch)
    batch_size = tf.shape(targets)[0]
    if sample_rows is None:
      row_offset, total_rows = 0, batch_size
    else:
      row_offset, total_rows = sample_rows
    rows = lambda t: t[row_offset:row_offset + batch_size]
    if training and self.word_dropout > 0:
      inputs = self._word_dropout(
          inputs, tf.random.experimental.stateless_fold_in(seed, 1 << 20),
          total_rows, rows)
    outputs = {}
    latents, latent_mask = None, None
    if self.num_levels:
      memory, memory_mask = (self.encode_observation(batch) if encoded is None
                             else encoded)
      slot_masks = self.slot_masks(mask)
      if noise is None:
        noise = [rows(n) for n in self.sample_noise(total_rows, seed)]
      inferred = self.infer_latents(memory, memory_mask, slot_masks, noise)
      latents, latent_mask = inferred["latents"][0], slot_masks[0]
      outputs.update(
          kl=inferred["kl"], kl_monte_carlo=inferred["kl_monte_carlo"],
          log_prior=inferred["log_prior"],
          log_posterior=inferred["log_posterior"], slot_mask=slot_masks,
          posterior_weights=inferred["posterior_weights"],
          posterior_loc=inferred["posterior_loc"],
          posterior_scale=inferred["posterior_scale"],
          latents=inferred["latents"])
    else:
      zeros = tf.zeros([batch_size], self.compute_dtype)
      outputs.update(kl=[], kl_monte_carlo=[], log_prior=zeros, log_posterior=zeros,
                     slot_mask=[], posterior_weights=[], posterior_loc=[],
                     posterior_scale=[], latents=[])
    decoder_mask, read_noise = latent_mask, None
    if latents is not None and training:
      if self.slot_dropout > 0:
        decoder_mask = self._drop_slots(latent_mask, seed, total_rows, rows)
      if self.decoder_alignment in ("gumbel", "variational"):
        shape = tf.stack([total_rows, tf.shape(targets)[1],
                          tf.shape(latents)[1]])
        read_noise = rows(alignment_lib.gumbel_noise(
            shape, tf.random.experimental.stateless_fold_in(seed, 1 << 21),
            latents.dtype))
    dropout_masks = None
    if training and self.decoder_dropout > 0:
      dropout_masks = self._decoder_dropout_masks(
          tf.random.experimental.stateless_fold_in(seed, 1 << 23),
          total_rows, rows, tf.shape(inputs)[1])
    decoded = self.decoder(
        inputs, latents, decoder_mask,
        read_noise=read_noise if self.decoder_alignment == "gumbel" else None,
        read_temperature=read_temperature, dropout_masks=dropout_masks)
    if self.decoder_alignment in alignment_lib.PER_SLOT_ALIGNMENTS:
      log_prob = self._aligned_log_prob(
          decoded, targets, mask, latents, decoder_mask, memory, outputs,
          read_noise, read_temperature, training)
    else:
      log_prob = self.element_distribution(decoded["logits"]).log_prob(
          targets)
    log_prob *= tf.cast(mask, log_prob.dtype)
    outputs.update(
        element_log_prob=log_prob, element_mask=mask,
        log_likelihood=tf.reduce_sum(log_prob, axis=1))
    if self.num_levels:
      outputs["decoder_weights"] = decoded["read_weights"]
      outputs["decoder_attention_state"] = decoded["attention_state"]
    return outputs

  def _decoder_dropout_masks(self, seed, total_rows, rows, length):
    """Decoder dropout masks (see `Decoder`), scaled by 1 / keep."""
    keep = 1.0 - self.decoder_dropout
    masks = {}
    for index, (key, width) in enumerate(
        (("inputs", self.embedding_dim), ("outputs", self.decoder_units))):
      uniform = tf.random.stateless_uniform(
          tf.stack([total_rows, length, width]),
          tf.random.experimental.stateless_fold_in(seed, index))
      masks[key] = rows(
          tf.cast(uniform < keep, self.compute_dtype) / keep)
    return masks

  def _drop_slots(self, latent_mask, seed, total_rows, rows):
    """Slot dropout: hides each slot with probability `slot_dropout`."""
    shape = tf.stack([total_rows, tf.shape(latent_mask)[1]])
    keep = rows(tf.random.stateless_uniform(
        shape, tf.random.experimental.stateless_fold_in(seed, 1 << 22)
    )) >= self.slot_dropout
    kept = tf.logical_and(latent_mask, keep)
    # A row that would lose every slot keeps them all: the decoder must read
    # something, and an all-masked memory reads zeros.
    return tf.where(tf.reduce_any(kept, -1, keepdims=True), kept, latent_mask)

  def _aligned_log_prob(self, decoded, targets, mask, latents, latent_mask,
                        memory, outputs, read_noise, read_temperature,
                        training):
    """`log p(x_t | ...)` `(B, T)` of the exact and variational alignments.

    Fills `outputs` with the alignment posterior (and, for variational, q and
    its KL); see the class docstring for the maths.
    """
    prior = decoded["read_weights"]
    slot_log_likelihood = alignment_lib.slot_log_likelihoods(
        decoded["shared_logits"], decoded["slot_logits"], targets,
        self.observation)
    log_prob, posterior = alignment_lib.exact_alignment(prior,
                                                        slot_log_likelihood)
    outputs.update(alignment_posterior=posterior,
                   slot_log_likelihood=slot_log_likelihood)
    if self.decoder_alignment != "variational":
      return log_prob
    q = self.alignment_inference(memory, latents, latent_mask)
    kl = alignment_lib.categorical_kl(q, prior)
    outputs.update(alignment_inference=q,
                   alignment_kl=kl * tf.cast(mask, kl.dtype))
    if not training:
      return log_prob  # The exact marginal: the bound q only trains.
    chosen = alignment_lib.gumbel_softmax_straight_through(
        q, read_noise, read_temperature)
    return tf.reduce_sum(chosen * slot_log_likelihood, -1) - kl

  # -- Generation ---------------------------------------------------------

  def generate(self, latents, max_length, temperature=1.0, seed=None,
               latent_mask=None, greedy=False, batch_size=None):
    """Decodes elements from bottom-level latents `(B, K, D)`.

    Text stops per sequence after `<eos>` (later positions are `<pad>`);
    images emit `max_length` groups. `temperature` divides the logits;
    `greedy` (or a temperature <= 0, which may be a tensor) takes the most
    likely element instead of sampling. A model without latents takes
    `latents=None` and `batch_size`.

    Returns:
      dict with `elements` (`(B, L)` int ids or `(B, L, G)` pixels),
      `read_weights` `(B, L, K)` (K = 0 without latents) and `element_mask`
      `(B, L)` (False after `<eos>`). With a decoder alignment other than
      soft, each element first draws its slot a_t ~ p(a_t | h_t) (the argmax
      when greedy; `temperature` applies to the elements only) and is then
      drawn from that slot's distribution; `alignment` `(B, L)` holds the
      slots.
    """
    if seed is None:
      seed = tf.constant([0, 0], tf.int32)
    if latents is not None:
      batch_size = tf.shape(latents)[0]
      num_slots = tf.shape(latents)[1]
    elif batch_size is None:
      raise ValueError("`batch_size` is required when `latents` is None.")
    else:
      num_slots = 0
    text = self.observation == "text"
    dtype = self.compute_dtype
    temperature = tf.cast(temperature, dtype)
    greedy = tf.logical_or(tf.constant(bool(greedy)), temperature <= 0)
    temperature = tf.maximum(temperature, 1e-6)
    if text:
      first = tf.fill([batch_size], data.BOS_ID)
    else:
      first = tf.zeros([batch_size, self.pixels_per_step], dtype)

    hard = latents is not None and self.decoder_alignment != "soft"

    def body(t, previous, carry, finished, elements, weights_ta, alive_ta,
             slots_ta):
      read_noise = None
      if hard:
        read_noise = alignment_lib.gumbel_noise(
            tf.shape(latents)[:2], tf.random.experimental.stateless_fold_in(
                seed, t + (1 << 21)), dtype)
        read_noise = tf.where(greedy, tf.zeros_like(read_noise), read_noise)
      logits, weights, carry = self.decoder.step(previous, carry, latents,
                                                 latent_mask, read_noise)
      logits = logits / temperature
      if text:
        # <pad> and <bos> are never targets in training, but the softmax
        # still covers them: never emit them.
        banned = tf.reduce_sum(tf.one_hot([data.PAD_ID, data.BOS_ID],
                                          self.element_dim), 0) > 0
        logits = tf.where(banned, logits.dtype.min, logits)
      step_seed = tf.random.experimental.stateless_fold_in(seed, t)
      alive = tf.logical_not(finished)
      if text:
        element = tf.where(
            greedy, tf.argmax(logits, -1, output_type=tf.int32),
            tf.random.stateless_categorical(logits, 1, step_seed,
                                            dtype=tf.int32)[:, 0])
        element = tf.where(finished, data.PAD_ID, element)
        finished = tf.logical_or(finished, tf.equal(element, data.EOS_ID))
      else:
        sampled = tf.random.stateless_uniform(
            tf.shape(logits), step_seed, dtype=dtype) < tf.sigmoid(logits)
        element = tf.cast(tf.where(greedy, logits > 0, sampled), dtype)
      if weights is None:
        weights = tf.zeros([batch_size, num_slots], dtype)
      slot = carry["slot"] if hard else tf.zeros([batch_size], tf.int32)
      return (t + 1, element, carry, finished, elements.write(t, element),
              weights_ta.write(t, weights), alive_ta.write(t, alive),
              slots_ta.write(t, slot))

    loop_vars = (
        tf.constant(0), first,
        self.decoder.initial_carry(latents, latent_mask, batch_size, dtype),
        tf.zeros([batch_size], tf.bool),
        tf.TensorArray(first.dtype, size=max_length),
        tf.TensorArray(dtype, size=max_length),
        tf.TensorArray(tf.bool, size=max_length),
        tf.TensorArray(tf.int32, size=max_length))
    _, _, _, _, elements, weights, alive, slots = tf.while_loop(
        lambda t, *_: t < max_length, body, loop_vars)
    elements = elements.stack()
    result = dict(
        elements=tf.transpose(elements, [1, 0] if text else [1, 0, 2]),
        read_weights=tf.transpose(weights.stack(), [1, 0, 2]),
        element_mask=tf.transpose(alive.stack(), [1, 0]))
    if hard:
      result["alignment"] = tf.transpose(slots.stack(), [1, 0])
    return result

  def get_config(self):
    config = super().get_config()
    config.update(
        observation=self.observation, vocab_size=self.vocab_size,
        image_shape=self.image_shape, pixels_per_step=self.pixels_per_step,
        embedding_dim=self.embedding_dim, encoder_units=self.encoder_units,
        decoder_units=self.decoder_units,
        posterior_units=self.posterior_units, prior_units=self.prior_units,
        num_slots=self.num_slots or 0, latent_dim=self.latent_dim or 1,
        slots_per_token=self.slots_per_token,
        decoder_attention=self.decoder_attention,
        posterior_attention=self.posterior_attention,
        prior_attention=self.prior_attention,
        decoder_wiring=self.decoder_wiring,
        posterior_type=self.posterior_type, word_dropout=self.word_dropout,
        min_scale=self.min_scale, decoder_alignment=self.decoder_alignment,
        decoder_normalizer=self.decoder_normalizer,
        slot_dropout=self.slot_dropout,
        decoder_dropout=self.decoder_dropout)
    return config
