"""Slot writers: the networks that emit a level's K latent slots.

The approximate posterior of every level and the prior of every level below
the top emit their slots one at a time with an LSTM that reads memories
(`SlotWriter`); `MeanPooledPosterior` is the ablation that emits all K at
once. Both return the parameters of `gaussian_slots`, a `tfd.Distribution`
with batch shape `(B, K)` and event shape `(D,)`. With `loc_batchnorm_gamma`
> 0 either batch-normalises its means with a fixed scale
(`PosteriorMeanBatchNorm`, BN-VAE).
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
class PosteriorMeanBatchNorm(keras.layers.Layer):
  """Batch normalisation of posterior means with a fixed scale (BN-VAE).

  Zhu et al. 2020, "A Batch Normalized Inference Network Keeps the KL
  Vanishing Away" (https://arxiv.org/abs/2004.12585). Each latent dimension
  (here: each dimension d of each slot k) of the posterior means is
  normalised over the batch, then scaled by a fixed gamma (a constructor
  argument, not a weight) and shifted by a learned beta:

  ```none
  m_kd = mean_b mu_bkd,   v_kd = mean_b (mu_bkd - m_kd)^2     unmasked b only
  mu^_bkd = gamma (mu_bkd - m_kd) / sqrt(v_kd + eps) + beta_kd
  ```

  Over the batch mu^ then has mean beta_kd and variance
  gamma^2 v_kd / (v_kd + eps). Why this keeps the KL from vanishing (the
  bound of Zhu et al.): for q(z | x) = N(mu^, diag(sigma^2)) and the prior
  N(0, I),

  ```none
  E_x[KL(q(z | x) || N(0, I))]
      = 1/2 sum_i (Var_x[mu^_i] + E_x[mu^_i]^2
                   + E_x[sigma_i^2 - log sigma_i^2 - 1])
     >= 1/2 sum_i (Var_x[mu^_i] + E_x[mu^_i]^2)      (s - log s >= 1, s > 0)
      = 1/2 sum_i (gamma^2 + beta_i^2)               (Var = gamma^2, E = beta_i)
     >= n gamma^2 / 2
  ```
  over the n latent dimensions: no free-bits hinge, and each example's KL
  may still differ. Its assumptions, and what holds here:

  * The prior is N(0, I). In a hierarchy only the top level's is; a lower
    level's KL to its learned prior p(Z_l | Z_{l+1}) has no such floor.
  * The expectation over the data is the batch's. In training (batch
    statistics) the batch mean of the KL of slot k is at least
    `sum_d gamma^2 v_kd / (v_kd + eps) / 2`: `D gamma^2 / 2` while the raw
    means vary by v >> eps. With the moving statistics (inference) the
    floor holds only as far as they match the data's statistics.
  * For the recurrent posterior the KL of slot k is that of
    q(z_k | z_<k, x), along the sampled path: the expectation runs over x
    and z_<k, and the floor holds per slot.

  Masked slots (`slot_mask` False, e.g. from `slots_per_token`) do not enter
  the batch statistics; a slot masked in every example of the batch is
  normalised with the moving statistics, which it leaves unchanged. The
  statistics are float32 whatever the compute dtype (as in Keras'
  BatchNormalization); the output has the input's dtype.

  Under `tf.distribute` each replica normalises with its own batch's
  statistics (Keras' `BatchNormalization(synchronized=False)`), so the floor
  holds on every replica's batch and hence on the global batch. A
  synchronised version would need an all-reduce inside the slot writer's
  `tf.scan`, which MirroredStrategy refuses (`merge_call` in control flow).
  The moving statistics are synchronised on read: each replica moves its own
  copy towards its batch's statistics, and outside the replicas
  (checkpoints, evaluation) they read as the mean of the copies (the moving
  variance thus tracks the mean of the replicas' batch variances, which
  leaves out the spread of their batch means).

  Weights: `beta` `(K, D)` (learned, from 0); `moving_mean`,
  `moving_variance` `(K, D)` and `observed_batches` `(K, 1)`, float32, not
  trained.

  Args:
    gamma: the fixed scale, > 0.
    momentum: of the moving statistics, debiased exponential moving
      averages of the batch statistics (`update_moving_statistics`).
    epsilon: added to the variance. Far below Keras' 1e-3 and PyTorch's
      1e-5: at initialisation the first slot's raw means vary across a
      batch of random sentences by v = 5e-6 to 1e-5 (the small model of
      tests/bn_vae_test.py), where 1e-5 would halve its floor or worse;
      and only with eps << v is the normalisation scale-invariant, so the
      encoder cannot lower the KL below the floor by shrinking the spread
      of its raw means.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    loc: `(batch_size, K, D)` posterior means of all slots.
    slot_mask: optional bool `(batch_size, K)`, False for masked slots.
    training: normalise with the batch's statistics and update the moving
      ones (True), or with the moving ones (False).

  Returns:
    The normalised means, `(batch_size, K, D)`, in `loc`'s dtype.

  Example:

  >>> norm = PosteriorMeanBatchNorm(gamma=0.5)
  >>> out = norm(tf.random.normal([64, 3, 4]), training=True)
  >>> out.shape
  TensorShape([64, 3, 4])
  """

  def __init__(self, gamma, momentum=0.99, epsilon=1e-10, **kwargs):
    super().__init__(**kwargs)
    if not gamma > 0:
      raise ValueError(f"`gamma` must be positive, received {gamma!r}.")
    if not 0.0 <= momentum < 1.0:
      raise ValueError(f"`momentum` must be in [0, 1), received {momentum!r}.")
    if not epsilon > 0:
      raise ValueError(f"`epsilon` must be positive, received {epsilon!r}.")
    self.gamma = float(gamma)
    self.momentum = float(momentum)
    self.epsilon = float(epsilon)

  def build(self, loc_shape):
    shape = tuple(int(n) for n in loc_shape[1:])
    # float32 weights read as float32 under a mixed precision policy too.
    self.beta = self.add_weight(name="beta", shape=shape, initializer="zeros",
                                autocast=False)
    self.moving_mean = self._moving_statistic("moving_mean", shape, "zeros")
    self.moving_variance = self._moving_statistic("moving_variance", shape,
                                                  "ones")
    # The batches each slot was seen in, to debias the moving averages.
    self.observed_batches = self._moving_statistic(
        "observed_batches", shape[:-1] + (1,), "zeros")

  def _moving_statistic(self, name, shape, initializer):
    """A float32 non-trainable weight (tracked as an attribute) that each
    replica updates on its own and that reads as the replicas' mean outside
    them (checkpoints, evaluation): `add_weight` cannot make it so, and a
    mirrored weight's update would `merge_call`, which fails in the nested
    `tf.function` of the training step (`train_lib.train`)."""
    with keras.name_scope(self.name, caller=self):
      return keras.Variable(keras.initializers.get(initializer), shape=shape,
                            dtype="float32", trainable=False, autocast=False,
                            aggregation="mean", synchronization="on_read",
                            name=name)

  def call(self, loc, slot_mask=None, training=False):
    normalized, statistics = self.normalize(
        loc, slot_mask, self.beta, self.moving_mean, self.moving_variance,
        training)
    if training and self.trainable:
      self.update_moving_statistics(*statistics)
    return normalized

  def normalize_slot(self, loc, slot, slot_mask=None, training=False):
    """Normalises the means of one slot (a step of a slot writer).

    Args:
      loc: `(batch_size, D)` means of slot `slot`.
      slot: int scalar (tensor), the slot's index in `[0, K)`.
      slot_mask: optional bool `(batch_size,)`.
      training: as in `call`, but the moving statistics are left alone:
        pass the statistics of every slot, stacked, to
        `update_moving_statistics` afterwards.

    Returns:
      `(normalized (batch_size, D), (mean (D,), variance (D,), count (1,)))`.
    """
    gather = lambda weight: tf.gather(weight, slot)
    return self.normalize(loc, slot_mask, gather(self.beta),
                          gather(self.moving_mean),
                          gather(self.moving_variance), training)

  def normalize(self, loc, slot_mask, beta, moving_mean, moving_variance,
                training):
    """Normalises `loc` `(batch_size, ..., D)` over its first axis, leaving
    out the entries where `slot_mask` `(batch_size, ...)` is False.

    Returns the normalised means (in `loc`'s dtype) and the float32 batch
    statistics `(mean, variance, count)`, of shapes `(..., D)`, `(..., D)`
    and `(..., 1)` (the moving statistics and a zero count without
    `training`).
    """
    values = tf.cast(loc, tf.float32)
    if slot_mask is None:
      weight = tf.ones_like(values[..., :1])
    else:
      weight = tf.cast(slot_mask, tf.float32)[..., None]
    count = tf.reduce_sum(weight, axis=0)
    if training and self.trainable:
      mean = tf.math.divide_no_nan(tf.reduce_sum(values * weight, 0), count)
      variance = tf.math.divide_no_nan(
          tf.reduce_sum(tf.square(values - mean) * weight, 0), count)
      # A slot no example of the batch uses has no batch statistics.
      mean = tf.where(count > 0, mean, moving_mean)
      variance = tf.where(count > 0, variance, moving_variance)
    else:
      mean, variance, count = moving_mean, moving_variance, tf.zeros_like(count)
    normalized = (self.gamma * (values - mean) *
                  tf.math.rsqrt(variance + self.epsilon) + beta)
    return tf.cast(normalized, loc.dtype), (mean, variance, count)

  def update_moving_statistics(self, mean, variance, count):
    """Moves the moving statistics towards a batch's, `(K, D)` each.

    Debiased exponential moving averages (as Adam's moments): after t
    batches a slot's moving statistic is
    `sum_i momentum^(t-i) x_i / sum_i momentum^(t-i)`, the first batch's
    statistics after one. Keras' undebiased average would keep 99% of the
    initial variance 1 after one step and 0.7% after 500, while the raw
    means of a slot may vary by 1e-5 (see `epsilon`): validations would
    squash the means for about the first thousand steps.

    Slots with `count` 0 (`(K, 1)`) or non-finite statistics (a step the
    training loop will skip) leave them unchanged.
    """
    finite = tf.logical_and(tf.math.is_finite(mean),
                            tf.math.is_finite(variance))
    observed = tf.logical_and(
        count > 0, tf.reduce_all(finite, axis=-1, keepdims=True))
    previous = tf.convert_to_tensor(self.observed_batches)
    batches = previous + tf.cast(observed, tf.float32)
    # The weights 1 - momentum^t of the undebiased averages.
    previous_weight = 1.0 - tf.pow(self.momentum, previous)
    weight = 1.0 - tf.pow(self.momentum, batches)
    for moving, batch in ((self.moving_mean, mean),
                          (self.moving_variance, variance)):
      moved = tf.math.divide_no_nan(
          self.momentum * previous_weight * moving +
          (1.0 - self.momentum) * batch, weight)
      moving.assign(tf.where(observed, moved, moving))
    self.observed_batches.assign(batches)

  def get_config(self):
    config = super().get_config()
    config.update(gamma=self.gamma, momentum=self.momentum,
                  epsilon=self.epsilon)
    return config


def _loc_batchnorm(writer):
  """The `PosteriorMeanBatchNorm` of a writer's means, or None with
  `loc_batchnorm_gamma` 0: a writer without one has exactly the weights
  (and checkpoint keys) it had before the option existed."""
  gamma = writer.loc_batchnorm_gamma
  if gamma < 0:
    raise ValueError(
        f"`loc_batchnorm_gamma` must be >= 0 (0 = off), received {gamma}.")
  if not gamma:
    return None
  return PosteriorMeanBatchNorm(gamma, dtype=writer.dtype_policy,
                                name="loc_batchnorm")


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
  loc_k <- PosteriorMeanBatchNorm(loc_k)       only with loc_batchnorm_gamma > 0
  z_k = loc_k + scale_k * noise_k
  ```
  The normalisation runs inside the recurrence, so the sample fed back is
  that of the normalised Gaussian (and teacher forcing scores it).

  Args:
    num_slots: K, the number of slots emitted.
    latent_dim: D, the size of each slot.
    units: LSTM units.
    attention: list of attention specs (see `attention.get`), one per memory.
    min_scale: floor on the standard deviations, for numerical safety.
    loc_batchnorm_gamma: 0 (off), or the fixed scale gamma of a
      `PosteriorMeanBatchNorm` of the means (statistics per slot and
      dimension).
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    memories: list of `(memory, memory_mask)` pairs, memory
      `(batch_size, memory_slots_j, memory_dim_j)`, mask bool
      `(batch_size, memory_slots_j)` or None; one per attention spec.
    noise: `(batch_size, K, D)` standard normal noise (ignored with
      `given_slots`).
    given_slots: optional `(batch_size, K, D)`: evaluate the conditionals
      along these slots instead of sampling (teacher forcing).
    slot_mask: optional bool `(batch_size, K)`: slots left out of the batch
      statistics of the means' normalisation (no other effect).
    training: normalise the means with batch statistics and update the
      moving ones (only with `loc_batchnorm_gamma` > 0).

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
               min_scale=1e-4, loc_batchnorm_gamma=0.0, **kwargs):
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
    self.loc_batchnorm_gamma = float(loc_batchnorm_gamma)
    self.loc_batchnorm = _loc_batchnorm(self)

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
    if self.loc_batchnorm is not None:
      self.loc_batchnorm.build((None, self.num_slots, self.latent_dim))

  def _deferred_kernel(self, noise):
    """The LSTM kernel as a `recurrent.DeferredKernel`, and the bias, one
    copy a step `(K, B, 4H)`, where the kernel's gradient is tapped."""
    kernel = recurrent.DeferredKernel(tf.cast(self.kernel, self.compute_dtype))
    step_bias = kernel.tap(tf.broadcast_to(
        tf.cast(self.bias, noise.dtype),
        [tf.shape(noise)[1], tf.shape(noise)[0], 4 * self.units]))
    return kernel, step_bias

  @staticmethod
  def _recurrent_inputs(values):
    """What a step multiplies by the kernel: the previous slot, reads and
    hidden state, as parts of the last axis."""
    return [values["z"], values["reads"], values["h"]]

  def call(self, memories, noise, given_slots=None, slot_mask=None,
           training=False):
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
    if self.loc_batchnorm is not None:
      # Each step normalises its slot's means: the step needs its index, its
      # slot's mask and a carry for the batch statistics.
      if slot_mask is None:
        slot_mask = tf.ones([batch_size, self.num_slots], tf.bool)
      steps += (tf.range(self.num_slots), tf.transpose(slot_mask))
      first["loc_statistics"] = (tf.zeros([self.latent_dim]),
                                 tf.zeros([self.latent_dim]), tf.zeros([1]))
    kernel, step_bias = self._deferred_kernel(noise)
    steps = (step_bias,) + steps

    def step(carry, inputs):
      step_bias, step_noise, step_given = inputs[:3]
      h, c = recurrent.lstm_update(
          kernel.product(tf.concat(self._recurrent_inputs(carry), -1)) +
          step_bias, carry["c"])
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
      new_carry = {}
      if self.loc_batchnorm is not None:
        slot, step_mask = inputs[3:]
        loc, new_carry["loc_statistics"] = self.loc_batchnorm.normalize_slot(
            loc, slot, step_mask, training)
      z = loc + scale * step_noise if given_slots is None else step_given
      new_carry.update(h=h, c=c, z=z, reads=reads, states=states, loc=loc,
                       scale=scale, weights=weights)
      return new_carry

    outputs = tf.scan(step, steps, initializer=first)
    kernel.record_states(self._recurrent_inputs(outputs),
                         self._recurrent_inputs(first))
    if self.loc_batchnorm is not None and training:
      # Once for all K slots, after the recurrence.
      self.loc_batchnorm.update_moving_statistics(*outputs["loc_statistics"])
    batch_major = lambda t: tf.transpose(t, [1, 0, 2])
    return dict(loc=batch_major(outputs["loc"]),
                scale=batch_major(outputs["scale"]),
                sample=batch_major(outputs["z"]),
                read_weights=[batch_major(w) for w in outputs["weights"]])

  def get_config(self):
    config = super().get_config()
    config.update(num_slots=self.num_slots, latent_dim=self.latent_dim,
                  units=self.units, attention=self.attention_specs,
                  min_scale=self.min_scale,
                  loc_batchnorm_gamma=self.loc_batchnorm_gamma)
    return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MeanPooledPosterior(keras.layers.Layer):
  """Ablation posterior: all K slots at once from the mean-pooled memory.

  ```none
  m = sum_t mask_t M_t / sum_t mask_t
  [loc; pre_scale] = W_2 tanh(W_1 m + b_1) + b_2      reshaped to (K, D) each
  loc <- PosteriorMeanBatchNorm(loc)        only with loc_batchnorm_gamma > 0
  ```

  Args:
    num_slots: K.
    latent_dim: D.
    units: hidden units.
    min_scale: floor on the standard deviations.
    loc_batchnorm_gamma: as in `SlotWriter`.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    memories: list whose first entry is `(memory, memory_mask)` with memory
      `(batch_size, time_steps, memory_dim)`; further entries are pooled and
      concatenated too (upper latents in a hierarchy).
    noise: `(batch_size, K, D)`.
    given_slots: unused (slots are conditionally independent here).
    slot_mask, training: as in `SlotWriter`.

  Returns:
    dict like `SlotWriter` with uniform `read_weights` over unmasked steps
    (the pooling weights).

  Example:

  >>> posterior = MeanPooledPosterior(num_slots=4, latent_dim=8, units=16)
  >>> out = posterior([(tf.ones([2, 5, 6]), None)], tf.zeros([2, 4, 8]))
  >>> out["loc"].shape
  TensorShape([2, 4, 8])
  """

  def __init__(self, num_slots, latent_dim, units, min_scale=1e-4,
               loc_batchnorm_gamma=0.0, **kwargs):
    super().__init__(**kwargs)
    self.num_slots = int(num_slots)
    self.latent_dim = int(latent_dim)
    self.units = int(units)
    self.min_scale = float(min_scale)
    self.hidden = keras.layers.Dense(units, activation="tanh", name="hidden")
    self.head = keras.layers.Dense(2 * num_slots * latent_dim, name="head")
    self.loc_batchnorm_gamma = float(loc_batchnorm_gamma)
    self.loc_batchnorm = _loc_batchnorm(self)

  def build(self, memories_shape, noise_shape=None, given_slots_shape=None):
    pooled_dim = sum(int(shape[-1]) for shape, _ in memories_shape)
    self.hidden.build((None, pooled_dim))
    self.head.build((None, self.units))
    if self.loc_batchnorm is not None:
      self.loc_batchnorm.build((None, self.num_slots, self.latent_dim))

  def call(self, memories, noise, given_slots=None, slot_mask=None,
           training=False):
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
    if self.loc_batchnorm is not None:
      loc = self.loc_batchnorm(loc, slot_mask=slot_mask, training=training)
    scale = tf.nn.softplus(pre_scale) + self.min_scale
    return dict(loc=loc, scale=scale, sample=loc + scale * noise,
                read_weights=weights)

  def get_config(self):
    config = super().get_config()
    config.update(num_slots=self.num_slots, latent_dim=self.latent_dim,
                  units=self.units, min_scale=self.min_scale,
                  loc_batchnorm_gamma=self.loc_batchnorm_gamma)
    return config
