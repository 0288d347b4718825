"""Slot writers: the networks that emit a level's K latent slots.

The approximate posterior of every level and the prior of every level below
the top emit their slots one at a time with an LSTM that reads memories
(`SlotWriter`); `MeanPooledPosterior` is the ablation that emits all K at
once. Both return the parameters of `gaussian_slots`, a `tfd.Distribution`
with batch shape `(B, K)` and event shape `(D,)`.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import normalizers
from inverse_draw_tf import recurrent

tfd = tfp.distributions

_PACKAGE = "inverse_draw_tf"


def gaussian_slots(loc, scale):
  """`tfd.Distribution` over a latent memory: batch `(B, K)`, event `(D,)`.

  Always float32: under a mixed precision policy the slot writers emit
  bfloat16 means and scales, but densities and KLs are computed in float32.
  """
  return tfd.Independent(tfd.Normal(tf.cast(loc, tf.float32),
                                    tf.cast(scale, tf.float32)),
                         reinterpreted_batch_ndims=1)


def standard_normal_slots(batch_size, num_slots, latent_dim):
  """The top-level prior N(0, I) over `(B, K, D)` (float32)."""
  shape = [batch_size, num_slots, latent_dim]
  return gaussian_slots(tf.zeros(shape), tf.ones(shape))


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
                                initializer=recurrent.lstm_bias_initializer(self.units))
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
    kernel = tf.cast(self.kernel, self.compute_dtype)
    kernel_transposed = tf.transpose(kernel)  # Once, not once a step.

    def step(carry, inputs):
      step_noise, step_given = inputs
      gates = tf.concat([carry["z"], carry["reads"], carry["h"]], -1)
      h, c = recurrent.lstm_update(
          recurrent.matmul(gates, kernel, kernel_transposed) + self.bias,
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
      pool = normalizers.masked_softmax(
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
