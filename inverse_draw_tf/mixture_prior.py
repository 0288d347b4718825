"""The prior of a lower level as an exact choice among the slots above.

In a hierarchy every level below the top is written by a slot writer that
reads the level above (`slots.SlotWriter`). With a soft read each lower slot
is generated from a blend of the upper slots, and which upper slot "made"
it is not a random variable of the model: its read weights can stay
uniform at no cost, as they did at level one before exact alignment
(RESULTS.md). Here each lower slot comes from one upper slot, chosen by the
writer's attention and marginalised exactly:

```none
g_k  = LSTM(g_{k-1}, [z_{k-1}; r_{k-1}])
w_k  = attend(g_k, Z')                                (K',) read weights
p(z_k | z_<k, Z') = sum_j w_kj N(z_k; mu(g_k, z'_j), sigma(g_k, z'_j))
r_k  = sum_j w_kj z'_j                                 fed to the next step
p(a_k = j | z_k, z_<k, Z') ∝ w_kj N(z_k; mu(g_k, z'_j), sigma(g_k, z'_j))
```
`mu` and `sigma` are the soft writer's heads applied to `[g_k; z'_j]`
instead of `[g_k; r_k]`, so `w_k` one-hot gives the soft writer's prior.
The posterior over `a_k` (the *assignment* of lower slot k to an upper
slot) is what `bin/evaluate` and `bin/analyze` report per level.

A Gaussian's KL to a Gaussian mixture has no closed form, so a level with
this prior reports its KL as the one-sample Monte Carlo estimate
`log q(z_k) - log p(z_k)` at the posterior's sample (unbiased; the IWAE
bound uses the same densities).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inverse_draw_tf import recurrent
from inverse_draw_tf import slots

tfd = tfp.distributions

_PACKAGE = "inverse_draw_tf"


def log_weights(weights):
  """log w in float32, exactly -inf where w = 0 (masked upper slots, sparse
  normalisers), with finite gradients (log 0's would be NaN)."""
  weights = tf.cast(weights, tf.float32)
  positive = weights > 0
  return tf.where(positive, tf.math.log(tf.where(positive, weights, 1.0)),
                  -np.inf)


def mixture_slots(logits, loc, scale):
  """Gaussian mixtures over the upper slots, float32.

  Args:
    logits: `(B, K, K')` log mixture weights.
    loc, scale: `(B, K, K', D)` the components' parameters.

  Returns:
    A distribution with batch `(B, K)` and event `(D,)`.
  """
  f32 = lambda t: tf.cast(t, tf.float32)
  return tfd.MixtureSameFamily(
      tfd.Categorical(logits=f32(logits)),
      tfd.Independent(tfd.Normal(f32(loc), f32(scale)), 1))


def log_prob_and_assignment(logits, loc, scale, latents):
  """`log p(z_k | ...)` and p(a_k = j | z_k, ...), which upper slot
  generated each lower slot, from one pass over the components.

  Args:
    logits, loc, scale: as in `mixture_slots`.
    latents: `(B, K, D)` the lower slots.

  Returns:
    `((B, K) log-densities, (B, K, K') assignment)`, float32; equal to
    `mixture_slots(...).log_prob(latents)`, and each assignment row sums
    to 1.
  """
  f32 = lambda t: tf.cast(t, tf.float32)
  components = tfd.Independent(tfd.Normal(f32(loc), f32(scale)), 1)
  joint = (tf.nn.log_softmax(f32(logits), -1) +
           components.log_prob(f32(latents)[:, :, None, :]))
  log_prob = tf.reduce_logsumexp(joint, -1)
  return log_prob, tf.exp(joint - log_prob[..., None])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MixtureSlotPrior(slots.SlotWriter):
  """A level's prior whose every slot comes from one slot of the level above.

  The equations are in the module docstring. The weights are the soft
  `SlotWriter`'s (LSTM kernel, one attention head, `loc_kernel`,
  `scale_kernel`), so the two priors share checkpoints' shapes.

  Args:
    num_slots: K, the lower level's slots.
    latent_dim: D, the size of each lower slot.
    units: LSTM units.
    attention: one attention spec (list of one), for the level above.
    min_scale: floor on the components' standard deviations.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    memories: `[(upper_slots (B, K', D'), upper_mask (B, K') or None)]`.
    noise: `(B, K, D)` standard normal noise (ignored with `given_slots`).
    given_slots: optional `(B, K, D)`: evaluate the conditionals along these
      slots (teacher forcing), as the ELBO does with the posterior's sample.
    slot_mask, training: accepted for the `SlotWriter` interface; unused
      (this prior has no normalisation of its means).
    choice_noise: `(B, K)` uniform in [0, 1), needed to sample (no
      `given_slots`): slot k takes the upper slot whose cumulative read
      weight first exceeds it.

  Returns:
    dict with `mixture_logits` `(B, K, K')`, `loc` and `scale`
    `(B, K, K', D)`, `sample` `(B, K, D)` (the given slots when given),
    `choice` int32 `(B, K)` (the sampled upper slot; -1 when given) and
    `read_weights` `[(B, K, K')]`.

  Example:

  >>> prior = MixtureSlotPrior(num_slots=4, latent_dim=8, units=16,
  ...                          attention=["content"])
  >>> out = prior([(tf.random.normal([2, 3, 8]), None)], tf.zeros([2, 4, 8]),
  ...             choice_noise=tf.fill([2, 4], 0.5))
  >>> out["loc"].shape, out["sample"].shape
  (TensorShape([2, 4, 3, 8]), TensorShape([2, 4, 8]))
  """

  def __init__(self, num_slots, latent_dim, units, attention, min_scale=1e-4,
               **kwargs):
    if kwargs.pop("loc_batchnorm_gamma", 0.0):
      raise ValueError("a mixture prior has no normalisation of its means; "
                       "`loc_batchnorm_gamma` is for posteriors.")
    super().__init__(num_slots, latent_dim, units, attention,
                     min_scale=min_scale, **kwargs)
    if len(self.attention_specs) != 1:
      raise ValueError("a mixture prior reads one memory (the level above); "
                       f"received {len(self.attention_specs)} attention specs.")

  def call(self, memories, noise, given_slots=None, slot_mask=None,
           training=False, choice_noise=None):
    del slot_mask, training  # No normalisation of the means here.
    if given_slots is None and choice_noise is None:
      raise ValueError(f"{self.name}: sampling needs `choice_noise`, (B, K) "
                       "uniform in [0, 1); or pass `given_slots`.")
    (memory, memory_mask), = memories
    head = self.heads[0]
    batch_size = tf.shape(noise)[0]
    dtype = noise.dtype
    upper = tf.shape(memory)[1]
    units = self.units
    kernel, step_bias = self._deferred_kernel(noise)
    # The heads split into g_k's rows and an upper slot's, and each upper
    # slot's share computed once for all K steps.
    loc_kernel, memory_loc_kernel = tf.split(self.loc_kernel, [units, -1])
    scale_kernel, memory_scale_kernel = tf.split(self.scale_kernel,
                                                 [units, -1])
    memory_loc = tf.einsum("bjd,de->bje", memory, memory_loc_kernel)
    memory_scale = tf.einsum("bjd,de->bje", memory, memory_scale_kernel)
    given = noise if given_slots is None else given_slots
    choice_steps = (tf.zeros([batch_size, self.num_slots], dtype)
                    if choice_noise is None else tf.cast(choice_noise, dtype))
    steps = (step_bias, tf.transpose(noise, [1, 0, 2]),
             tf.transpose(given, [1, 0, 2]), tf.transpose(choice_steps))
    first = dict(
        h=tf.zeros([batch_size, units], dtype),
        c=tf.zeros([batch_size, units], dtype),
        z=tf.zeros([batch_size, self.latent_dim], dtype),
        reads=tf.zeros([batch_size, self.read_dim], dtype),
        state=head.get_initial_state(memory, memory_mask),
        loc=tf.zeros([batch_size, upper, self.latent_dim], dtype),
        scale=tf.zeros([batch_size, upper, self.latent_dim], dtype),
        weights=tf.zeros([batch_size, upper], dtype),
        choice=tf.zeros([batch_size], tf.int32))

    def step(carry, inputs):
      step_bias, step_noise, step_given, step_choice = inputs
      h, c = recurrent.lstm_update(
          kernel.product(tf.concat(self._recurrent_inputs(carry), -1)) +
          step_bias, carry["c"])
      read, weights, state = head(h, memory, memory_mask=memory_mask,
                                  state=carry["state"])
      loc = (tf.matmul(h, loc_kernel) + self.loc_bias)[:, None] + memory_loc
      scale = tf.nn.softplus(
          (tf.matmul(h, scale_kernel) + self.scale_bias)[:, None]
          + memory_scale) + self.min_scale
      if given_slots is None:
        # Inverse-CDF draw of one upper slot from the read weights.
        below = tf.cast(tf.math.cumsum(weights, -1) <= step_choice[:, None],
                        tf.int32)
        choice = tf.minimum(tf.reduce_sum(below, -1), upper - 1)
        pick = lambda t: tf.gather(t, choice, axis=1, batch_dims=1)
        z = pick(loc) + pick(scale) * step_noise
      else:
        choice = -tf.ones_like(carry["choice"])
        z = step_given
      return dict(h=h, c=c, z=z, reads=read, state=state, loc=loc,
                  scale=scale, weights=weights, choice=choice)

    outputs = tf.scan(step, steps, initializer=first)
    kernel.record_states(self._recurrent_inputs(outputs),
                         self._recurrent_inputs(first))
    batch_major = lambda t: tf.transpose(
        t, [1, 0] + list(range(2, len(t.shape))))
    weights = batch_major(outputs["weights"])
    return dict(
        mixture_logits=log_weights(weights),
        loc=batch_major(outputs["loc"]), scale=batch_major(outputs["scale"]),
        sample=batch_major(outputs["z"]),
        choice=tf.transpose(outputs["choice"]), read_weights=[weights])

  def get_config(self):
    config = super().get_config()
    del config["loc_batchnorm_gamma"]
    return config
