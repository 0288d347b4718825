"""Optimising the objective: the KL and temperature schedules, the optimizer,
and the data-parallel training step that `train_lib.train` runs through
`strategy.run` (and `benchmark` times on its own).

`train_step(model, optimizer, batch, ...)` takes everything it needs as
arguments, so a test or a benchmark can call it directly.
"""

import math

import keras
import tensorflow as tf

from inverse_draw_tf import alignment
from inverse_draw_tf import objectives


# -- Schedules -------------------------------------------------------------


def kl_weight(step, objective, num_steps):
  """The KL weight beta at `step` (a float tensor); see configs/common.py."""
  step = tf.cast(step, tf.float32)
  if objective.kl_schedule == "none":
    return tf.constant(1.0)
  if objective.kl_schedule == "zero":  # An autoencoder; the KL is reported.
    return tf.constant(0.0)
  if objective.kl_schedule == "linear":
    return tf.minimum(1.0, step / max(1, objective.kl_warmup_steps))
  period = max(1.0, num_steps / objective.kl_cycles)
  position = tf.math.floormod(step, period) / period
  return tf.minimum(1.0, position / objective.kl_cycle_ratio)


def kl_weights(step, objective, num_steps, num_levels):
  """Each level's KL weight at `step`: `kl_weight`'s scalar, or with
  `objective.kl_level_delay_steps` > 0 and two levels or more a `(L,)`
  float tensor, lowest level first, whose level l anneals as the schedule
  would `l * delay` steps later. An upper level whose KL is free while the
  lower ones learn to read it is not shut before it is useful (RESULTS.md,
  "A hierarchy of levels")."""
  delay = objective.get("kl_level_delay_steps", 0)
  if not delay or num_levels < 2:
    return kl_weight(step, objective, num_steps)
  step = tf.cast(step, tf.float32)
  return tf.stack([kl_weight(tf.maximum(0.0, step - level * delay),
                             objective, num_steps)
                   for level in range(num_levels)])


def read_temperature(step, objective):
  """The Gumbel-softmax temperature tau at `step` (a float tensor).

  Annealed geometrically from `gumbel_temperature_start` to
  `gumbel_temperature_end` over `gumbel_anneal_steps`, then flat (see
  `alignment.annealed_temperature`); used by the "gumbel" and
  "variational" decoder alignments only. Configs from before these keys
  existed get the defaults of configs/common.py.
  """
  return alignment.annealed_temperature(
      step, objective.get("gumbel_temperature_start", 1.0),
      objective.get("gumbel_temperature_end", 0.1),
      objective.get("gumbel_anneal_steps", 10000))


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up to `peak`, then cosine decay to `peak * final_fraction`."""

  def __init__(self, peak, warmup_steps, decay_steps, final_fraction):
    self.peak = float(peak)
    self.warmup_steps = int(warmup_steps)
    self.decay_steps = max(1, int(decay_steps))
    self.final_fraction = float(final_fraction)

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    # Update i (counted from 0) uses (i + 1) / warmup: the first update moves.
    warmup = self.peak * (step + 1) / max(1, self.warmup_steps)
    progress = tf.clip_by_value(
        (step - self.warmup_steps) / self.decay_steps, 0.0, 1.0)
    cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
    decayed = self.peak * (self.final_fraction +
                           (1 - self.final_fraction) * cosine)
    return tf.where(step < self.warmup_steps, warmup, decayed)

  def get_config(self):
    return dict(peak=self.peak, warmup_steps=self.warmup_steps,
                decay_steps=self.decay_steps,
                final_fraction=self.final_fraction)


@keras.saving.register_keras_serializable(package="inverse_draw_tf")
class FusedAdam(keras.optimizers.Adam):
  """Keras' Adam whose dense update is one fused kernel per variable.

  Keras' `Adam.update_step` is about ten elementwise ops per variable, each
  a pass over memory; on CPU they took a tenth of a training step of the
  sentence VAE (two 10,002-row embeddings and the output layer are most of
  its 10M weights). `tf.raw_ops.ResourceApplyAdam` does the same update in
  one pass, in place (with CPU and GPU kernels):

  ```none
  alpha_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
  m <- m + (1 - beta_1)(g - m),   v <- v + (1 - beta_2)(g^2 - v)
  w <- w - alpha_t m / (sqrt(v) + epsilon)
  ```
  which is Keras' update term for term (tests/optimization_test.py checks
  the two agree in float32). Same variables and config as Adam, so
  checkpoints of either load in the other. Sparse gradients and amsgrad use
  Keras' update.
  """

  def update_step(self, gradient, variable, learning_rate):
    if (self.amsgrad or isinstance(gradient, tf.IndexedSlices) or
        not hasattr(variable, "handle")):
      return super().update_step(gradient, variable, learning_rate)
    dtype = variable.dtype
    index = self._get_variable_index(variable)
    handle = lambda v: (v.value if isinstance(v, keras.Variable) else v).handle
    local_step = tf.cast(self.iterations + 1, dtype)
    beta_1 = tf.cast(self.beta_1, dtype)
    beta_2 = tf.cast(self.beta_2, dtype)
    return tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=handle(self._momentums[index]),
        v=handle(self._velocities[index]),
        beta1_power=tf.pow(beta_1, local_step),
        beta2_power=tf.pow(beta_2, local_step),
        lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
        epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def build_optimizer(optimizer_config, num_steps):
  """Adam or SGD with the configured learning-rate schedule (clipping is
  ours, in `train_step`).

  With the "plateau" schedule the learning rate is a plain value that
  `train_lib.train` lowers at each validation plateau (`PlateauSchedule`);
  it lives in the optimizer's `learning_rate` variable, so checkpoints keep
  it.
  """
  if optimizer_config.schedule in ("constant", "plateau"):
    learning_rate = optimizer_config.learning_rate
  else:
    learning_rate = WarmupCosine(
        optimizer_config.learning_rate, optimizer_config.warmup_steps,
        num_steps - optimizer_config.warmup_steps,
        optimizer_config.final_learning_rate_fraction)
  if optimizer_config.get("name", "adam") == "sgd":
    return keras.optimizers.SGD(
        learning_rate=learning_rate,
        momentum=optimizer_config.get("momentum", 0.0))
  return FusedAdam(learning_rate=learning_rate,
                   beta_1=optimizer_config.beta_1,
                   beta_2=optimizer_config.beta_2)


class PlateauSchedule(tf.Module):
  """When to lower the learning rate: Li et al. 2019's schedule for their
  LSTM language model and text VAEs (https://arxiv.org/abs/1909.00868).

  After every validation, `observe(improved, step)` counts the validations
  in a row that did not improve on the best validation ELBO so far; the
  `patience`-th such validation at or after `start_step` is a plateau: it
  returns True (the caller multiplies the learning rate by `factor` and
  restores the weights of the best validation) and starts counting afresh.
  (Li et al.'s VAEs wait 15 epochs before their first decay; before
  `start_step` stale validations are counted but never decay.) The run is
  `finished` at its `max_decays`-th plateau. Both counters are variables,
  so a checkpoint resumes the schedule where it was.

  Li et al.'s code compares each validation with the last one that did not
  get worse; this compares with the best, as Keras' ReduceLROnPlateau does.
  """

  def __init__(self, factor, patience, max_decays, start_step=0):
    super().__init__(name="plateau_schedule")
    self.factor = float(factor)
    self.patience = int(patience)
    self.max_decays = int(max_decays)
    self.start_step = int(start_step)
    self.stale_validations = tf.Variable(
        0, dtype=tf.int64, trainable=False, name="stale_validations")
    self.decays = tf.Variable(0, dtype=tf.int64, trainable=False,
                              name="decays")

  def observe(self, improved, step=None):
    """Records one validation (at training step `step`, None: past
    `start_step`); True when it completes a plateau."""
    if improved:
      self.stale_validations.assign(0)
      return False
    self.stale_validations.assign_add(1)
    if (int(self.stale_validations.numpy()) < self.patience or
        (step is not None and step < self.start_step)):
      return False
    self.stale_validations.assign(0)
    self.decays.assign_add(1)
    return True

  @property
  def finished(self):
    return int(self.decays.numpy()) >= self.max_decays


# -- Data ------------------------------------------------------------------


def batch_size_of(batch):
  return tf.shape(next(iter(batch.values())))[0]


# -- Steps -----------------------------------------------------------------


def _global_norm_of_sum(gradients):
  """Global norm of the gradients summed over replicas."""
  context = tf.distribute.get_replica_context()
  summed = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
  return tf.linalg.global_norm(summed)


def is_decoder_variable(variable):
  """Whether a model variable is the decoder's (`InverseDraw.decoder`)."""
  return "/decoder/" in variable.path


def _apply_if(optimizer, gradients, variables, should_apply):
  """`optimizer.apply_gradients` when `should_apply` (same on all replicas).

  The condition is evaluated in cross-replica context: a `tf.cond` whose
  branch calls `merge_call` (as `apply_gradients` does) is not allowed in
  replica context. Same pattern as keras' LossScaleOptimizer.
  """

  def cross_replica(distribution, gradients, should_apply):
    flag = distribution.experimental_local_results(should_apply)[0]

    def apply():
      distribution.extended.call_for_each_replica(
          lambda g: optimizer.apply_gradients(zip(g, variables)),
          args=(gradients,))
      return tf.constant(True)

    return tf.cond(flag, apply, lambda: tf.constant(False))

  tf.distribute.get_replica_context().merge_call(
      cross_replica, args=(gradients, should_apply))


def loss_and_gradients(model, batch, *, step, seed, config, global_batch_size,
                       num_replicas=1, variables=None):
  """The replica's ELBO terms and the gradients of `variables` (default: all
  trainable ones), the part XLA may compile."""
  local_size = batch_size_of(batch)
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  step_seed = tf.random.experimental.stateless_fold_in(seed, step)
  beta = kl_weights(step, config.objective, config.train.num_steps,
                    model.num_levels)
  tau = read_temperature(step, config.objective)
  if variables is None:
    variables = model.trainable_variables
  with tf.GradientTape() as tape:
    terms = objectives.evidence_lower_bound(
        model, batch, seed=step_seed, kl_weight=beta,
        free_bits=config.objective.free_bits,
        free_bits_per_dimension=config.objective.get(
            "free_bits_per_dimension", 0.0), training=True,
        analytic_kl=config.objective.analytic_kl,
        global_batch_size=global_batch_size,
        sample_rows=(replica * local_size, local_size * num_replicas),
        read_temperature=tau,
        attention_entropy_weight=config.objective.get(
            "attention_entropy_weight", 0.0),
        slot_balance_weight=config.objective.get("slot_balance_weight", 0.0),
        level_balance_weight=config.objective.get("level_balance_weight",
                                                  0.0),
        level_entropy_weight=config.objective.get("level_entropy_weight",
                                                  0.0),
        num_samples=config.objective.get("training_samples", 1))
  gradients = tape.gradient(terms["loss"], variables)
  gradients = [tf.zeros_like(v) if g is None else g
               for g, v in zip(gradients, variables)]
  terms = {k: v for k, v in terms.items() if isinstance(v, tf.Tensor)}
  if beta.shape.rank:  # One weight per level: log the lowest as kl_weight.
    terms["kl_weight_per_level"] = beta
    beta = beta[0]
  terms["kl_weight"] = beta
  terms["read_temperature"] = tau
  return terms, gradients


def train_step(model, optimizer, batch, *, step, seed, config,
               global_batch_size, num_replicas=1, gradient_fn=None,
               gradient_masks=None, variables=None):
  """One replica's share of a data-parallel ELBO step; returns metric sums.

  The loss is summed over the local examples and divided by the global batch
  size, so the optimizer's cross-replica sum of gradients is the gradient of
  the global mean. The gradient norm (for clipping and the skip rule) is that
  of the summed gradient, so every replica takes the same decision and the
  update equals the single-device update on the global batch.

  Args:
    model, optimizer, batch: what the step trains, with and on.
    step: the global step (seeds the noise, sets the KL weight).
    seed: int `(2,)` base seed of the run.
    config: the run's config (objective, optimizer and train sections).
    global_batch_size: examples per step over all replicas.
    num_replicas: replicas in sync.
    gradient_fn: optional `(batch, step) -> (terms, gradients)`, e.g.
      `loss_and_gradients` compiled with XLA; computed directly when None.
    gradient_masks: optional list aligned with `variables` (a mask or None
      each) that multiplies the gradients before the norm, e.g.
      `warm_start.frozen_gradient_masks`.
    variables: the variables this step updates (default: all trainable
      ones), e.g. one side of aggressive training (`aggressive.py`); a
      `gradient_fn` must return the gradients of these.
  """
  if variables is None:
    variables = model.trainable_variables
  if gradient_fn is None:
    gradient_fn = lambda b, s: loss_and_gradients(  # pylint: disable=g-long-lambda
        model, b, step=s, seed=seed, config=config,
        global_batch_size=global_batch_size, num_replicas=num_replicas,
        variables=variables)
  terms, gradients = gradient_fn(batch, step)
  if gradient_masks is not None:
    gradients = [g if m is None else g * m
                 for g, m in zip(gradients, gradient_masks)]
  local_size = batch_size_of(batch)
  beta = terms["kl_weight"]
  grad_norm = _global_norm_of_sum(gradients)
  loss_sum = tf.distribute.get_replica_context().all_reduce(
      tf.distribute.ReduceOp.SUM, terms["loss"])
  finite = tf.logical_and(tf.math.is_finite(grad_norm),
                          tf.math.is_finite(loss_sum))
  should_apply = finite
  if config.optimizer.skip_grad_norm > 0:
    should_apply = tf.logical_and(
        should_apply, grad_norm < config.optimizer.skip_grad_norm)
  clip = config.optimizer.clip_norm
  if clip > 0 and config.optimizer.get("clip_separately", False):
    # The decoder's gradient and the latent side's (encoder, posteriors,
    # priors) each clipped to `clip`: a large KL gradient on the latent side
    # (an autoencoder-pretrained posterior's thousands of nats) would
    # otherwise shrink the decoder's update as well.
    in_decoder = [is_decoder_variable(v) for v in variables]
    scales = {}
    for part in (True, False):
      part_gradients = [g for g, d in zip(gradients, in_decoder) if d == part]
      if part_gradients:
        part_norm = _global_norm_of_sum(part_gradients)
        scales[part] = tf.minimum(1.0, clip / tf.maximum(part_norm, 1e-12))
    gradients = [g * scales[d] for g, d in zip(gradients, in_decoder)]
  else:
    scale = (tf.minimum(1.0, clip / tf.maximum(grad_norm, 1e-12))
             if clip > 0 else 1.0)
    gradients = [g * scale for g in gradients]
  _apply_if(optimizer, gradients, variables, should_apply)

  elements = tf.cast(terms["num_elements"], tf.float32)
  per_level = ({} if "kl_weight_per_level" not in terms else dict(
      kl_weight_per_level=terms["kl_weight_per_level"] / num_replicas))
  return dict(per_level,
      loss=terms["loss"],
      elbo=tf.reduce_sum(terms["elbo"]),
      distortion=tf.reduce_sum(terms["distortion"]),
      kl=tf.reduce_sum(terms["kl"]),
      kl_per_slot=tf.reduce_sum(terms["kl_per_slot"], 0),
      decoder_entropy=terms["decoder_entropy"] * tf.reduce_sum(elements),
      posterior_entropy=terms["posterior_entropy"] * tf.cast(
          local_size, tf.float32),
      examples=tf.cast(local_size, tf.float32),
      elements=tf.reduce_sum(elements),
      grad_norm=grad_norm / num_replicas,  # Summed back over replicas.
      applied=tf.cast(should_apply, tf.float32) / num_replicas,
      kl_weight=beta / num_replicas,
      read_temperature=terms["read_temperature"] / num_replicas)
