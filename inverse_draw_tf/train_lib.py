"""Training: data, model, optimizer and checkpoint, in that order, under a
`tf.distribute` strategy, then a custom `tf.function` step run with
`strategy.run`.

A run lives in a workdir:

```none
workdir/config.json        the config the run was started with (resumes check it)
workdir/vocab.txt          the vocabulary (text), built from the training split
workdir/checkpoints/       latest checkpoints (model, optimizer, step, counters)
workdir/best/              the checkpoint with the best validation ELBO
workdir/metrics.jsonl      one JSON object per logged step / evaluation
workdir/tensorboard/       TensorBoard summaries
```
Resuming is exact: batch i of the training stream is a deterministic function
of the seed and i, so a restart skips the `step` batches already consumed
(distributed iterators cannot be checkpointed) and continues with the same
data order; the latent noise of step i is seeded by `(seed, i)`.
"""

import json
import math
import os
import sys
import tempfile
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management  # pylint: disable=g-direct-tensorflow-import

from inverse_draw_tf import alignment
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import evaluation
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import report
from inverse_draw_tf import warm_start

# tf.distribute's convention (TerminationConfig's default) for "preempted:
# checkpoint saved, restart me".
PREEMPTED_EXIT_CODE = 42


class NonFiniteError(RuntimeError):
  """Too many consecutive updates had a non-finite loss or gradient."""


class CheckpointError(RuntimeError):
  """Checkpoints exist but none of them can be read."""


# -- Schedules -------------------------------------------------------------


def kl_weight(step, objective, num_steps):
  """The KL weight beta at `step` (a float tensor); see configs/common.py."""
  step = tf.cast(step, tf.float32)
  if objective.kl_schedule == "none":
    return tf.constant(1.0)
  if objective.kl_schedule == "linear":
    return tf.minimum(1.0, step / max(1, objective.kl_warmup_steps))
  period = max(1.0, num_steps / objective.kl_cycles)
  position = tf.math.floormod(step, period) / period
  return tf.minimum(1.0, position / objective.kl_cycle_ratio)


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


def build_optimizer(optimizer_config, num_steps):
  """Adam with the configured learning-rate schedule (clipping is ours)."""
  if optimizer_config.schedule == "constant":
    learning_rate = optimizer_config.learning_rate
  else:
    learning_rate = WarmupCosine(
        optimizer_config.learning_rate, optimizer_config.warmup_steps,
        num_steps - optimizer_config.warmup_steps,
        optimizer_config.final_learning_rate_fraction)
  return keras.optimizers.Adam(learning_rate=learning_rate,
                               beta_1=optimizer_config.beta_1,
                               beta_2=optimizer_config.beta_2)


# -- Data ------------------------------------------------------------------


class Input:
  """The data side of a run: vocabulary and dataset factories."""

  def __init__(self, input_config, workdir=None):
    self.config = input_config
    self.dataset_name = input_config.dataset
    self.vocabulary = None
    if self.dataset_name == "binarized_mnist":
      data.verify_binarized_mnist()
      return
    self.paths = self._text_paths()
    vocab_path = os.path.join(workdir or tempfile.mkdtemp(), "vocab.txt")
    if not tf.io.gfile.exists(vocab_path):
      tokens = data.build_vocabulary(
          self.paths["train"],
          max_size=input_config.vocab_max_size or None,
          min_count=input_config.vocab_min_count)
      data.save_vocabulary(tokens, vocab_path)
    self.vocabulary = data.Vocabulary(vocab_path)

  def _text_paths(self):
    if self.dataset_name == "ptb":
      data.verify_ptb()
      return data.ptb_paths()
    return dict(train=self.config.train_path, valid=self.config.valid_path,
                test=self.config.test_path)

  @property
  def vocab_size(self):
    return None if self.vocabulary is None else self.vocabulary.size

  def train_dataset(self, batch_size, seed, pad_to_bucket_boundary=False):
    """The endless, shuffled training stream (drop_remainder for replicas)."""
    if self.dataset_name == "binarized_mnist":
      return data.image_dataset("train", batch_size, shuffle=True, seed=seed,
                                repeat=True, drop_remainder=True)
    return data.text_dataset(
        self.paths["train"], self.vocabulary, batch_size, shuffle=True,
        seed=seed, repeat=True, max_length=self.config.max_length,
        length_policy=self.config.length_policy,
        bucket_boundaries=tuple(self.config.bucket_boundaries),
        pad_to_bucket_boundary=pad_to_bucket_boundary, drop_remainder=True)

  def eval_dataset(self, split, batch_size, pad_to_bucket_boundary=False):
    """One pass over `split`, every example whole, in file order (within
    each length bucket)."""
    if self.dataset_name == "binarized_mnist":
      return data.image_dataset(split, batch_size)
    return data.text_dataset(
        self.paths[split], self.vocabulary, batch_size, length_policy="keep",
        bucket_boundaries=tuple(self.config.bucket_boundaries),
        pad_to_bucket_boundary=pad_to_bucket_boundary)


def batch_size_of(batch):
  return tf.shape(next(iter(batch.values())))[0]


def count_elements(model, batch):
  """Number of emitted elements (tokens incl. <eos>, or image groups)."""
  _, _, mask = model.elements(batch)
  return tf.reduce_sum(tf.cast(mask, tf.float32))


# -- Model -----------------------------------------------------------------


def build_model(config, vocab_size):
  """`InverseDraw(**config.model)` (plus the vocabulary size for text)."""
  kwargs = config.model.to_dict()
  if kwargs["observation"] == "text":
    kwargs["vocab_size"] = vocab_size
  return model_lib.InverseDraw(**config_lib.plain(kwargs), name="inverse_draw")


def example_batch(model, batch_size=2, length=5):
  """A tiny batch that builds every weight of `model`."""
  if model.observation == "text":
    tokens = np.full([batch_size, length], 4, np.int32)
    tokens[:, -1] = data.EOS_ID
    return {"tokens": tf.constant(tokens)}
  return {"pixels": tf.zeros([batch_size, *model.image_shape])}


# -- Steps -----------------------------------------------------------------


def _global_norm_of_sum(gradients):
  """Global norm of the gradients summed over replicas."""
  context = tf.distribute.get_replica_context()
  summed = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
  return tf.linalg.global_norm(summed)


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
                       num_replicas=1):
  """The replica's ELBO terms and gradients (the part XLA may compile)."""
  local_size = batch_size_of(batch)
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  step_seed = tf.random.experimental.stateless_fold_in(seed, step)
  beta = kl_weight(step, config.objective, config.train.num_steps)
  tau = read_temperature(step, config.objective)
  variables = model.trainable_variables
  with tf.GradientTape() as tape:
    terms = objectives.evidence_lower_bound(
        model, batch, seed=step_seed, kl_weight=beta,
        free_bits=config.objective.free_bits, training=True,
        analytic_kl=config.objective.analytic_kl,
        global_batch_size=global_batch_size,
        sample_rows=(replica * local_size, local_size * num_replicas),
        read_temperature=tau,
        attention_entropy_weight=config.objective.get(
            "attention_entropy_weight", 0.0),
        slot_balance_weight=config.objective.get("slot_balance_weight", 0.0))
  gradients = tape.gradient(terms["loss"], variables)
  gradients = [tf.zeros_like(v) if g is None else g
               for g, v in zip(gradients, variables)]
  terms = {k: v for k, v in terms.items() if isinstance(v, tf.Tensor)}
  terms["kl_weight"] = beta
  terms["read_temperature"] = tau
  return terms, gradients


def train_step(model, optimizer, batch, *, step, seed, config,
               global_batch_size, num_replicas=1, gradient_fn=None,
               gradient_masks=None):
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
    gradient_masks: optional list aligned with the trainable variables (a
      mask or None each) that multiplies the gradients before the norm,
      e.g. `warm_start.frozen_gradient_masks`.
  """
  if gradient_fn is None:
    gradient_fn = lambda b, s: loss_and_gradients(  # pylint: disable=g-long-lambda
        model, b, step=s, seed=seed, config=config,
        global_batch_size=global_batch_size, num_replicas=num_replicas)
  terms, gradients = gradient_fn(batch, step)
  variables = model.trainable_variables
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
  scale = (tf.minimum(1.0, clip / tf.maximum(grad_norm, 1e-12))
           if clip > 0 else 1.0)
  gradients = [g * scale for g in gradients]
  _apply_if(optimizer, gradients, variables, should_apply)

  elements = tf.cast(terms["num_elements"], tf.float32)
  return dict(
      loss=terms["loss"],
      elbo=tf.reduce_sum(terms["elbo"]),
      distortion=tf.reduce_sum(terms["distortion"]),
      rate=tf.reduce_sum(terms["rate"]),
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


def eval_step(model, batch, *, seed):
  """Validation sums for a batch: one-sample ELBO terms (fixed seed), and
  along the posterior mean path the posterior means (for active units) and
  the word-to-latent assignment (tokens per slot by argmax, its entropy)."""
  terms = objectives.evidence_lower_bound(model, batch, seed=seed)
  sums = dict(elbo=tf.reduce_sum(terms["elbo"]),
              distortion=tf.reduce_sum(terms["distortion"]),
              rate=tf.reduce_sum(terms["rate"]),
              kl_per_slot=tf.reduce_sum(terms["kl_per_slot"], 0),
              decoder_entropy=terms["decoder_entropy"] * tf.cast(
                  tf.reduce_sum(terms["num_elements"]), tf.float32),
              examples=tf.cast(batch_size_of(batch), tf.float32),
              elements=tf.cast(tf.reduce_sum(terms["num_elements"]),
                               tf.float32))
  if model.num_levels:
    zero_noise = [tf.zeros_like(n)
                  for n in model.sample_noise(batch_size_of(batch), seed)]
    mean_path = model(batch, noise=zero_noise)
    sums["posterior_means"] = tf.concat(
        [tf.reshape(m, [tf.shape(m)[0], -1])
         for m in mean_path["posterior_loc"]], 1)
    # The exact alignment posterior when the model has one, else the read
    # weights, as `bin/evaluate` reports it. An assignment can be sharp and
    # still unused (every word on one slot): the tokens per slot show it
    # from the first validation rather than at the test evaluation.
    assignment = mean_path.get("alignment_posterior",
                               mean_path["decoder_weights"])
    mask = mean_path["element_mask"]
    _, sums["slot_argmax"], _ = evaluation.slot_token_shares(assignment, mask)
    sums["assignment_entropy"] = tf.reduce_sum(
        attention_lib.entropy(assignment) * tf.cast(mask, assignment.dtype))
  return sums


# -- Bookkeeping -----------------------------------------------------------


class ProgressBar:
  """One terminal line: step, loss, elements/s and ETA (a log line if no tty)."""

  def __init__(self, total_steps, stream=None, width=24):
    self.total = total_steps
    self.stream = stream or sys.stderr
    self.width = width
    self.interactive = self.stream.isatty()

  def update(self, step, loss, rate, seconds_per_step, force=False):
    remaining = max(0, self.total - step) * seconds_per_step
    filled = int(self.width * min(1.0, step / max(1, self.total)))
    bar = "=" * filled + "." * (self.width - filled)
    line = (f"step {step}/{self.total} [{bar}] loss {loss:.2f} "
            f"{rate:,.0f} elements/s ETA {_format_seconds(remaining)}")
    if self.interactive:
      self.stream.write("\r" + line)
      self.stream.flush()
    elif force:
      self.stream.write(line + "\n")
      self.stream.flush()

  def close(self):
    if self.interactive:
      self.stream.write("\n")


def _format_seconds(seconds):
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def append_jsonl(path, record):
  with tf.io.gfile.GFile(path, "a") as f:
    f.write(json.dumps(record, sort_keys=True) + "\n")


def _is_chief(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().jobs:
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type == "chief" or (
      task_type == "worker" and task_id == 0 and
      "chief" not in resolver.cluster_spec().jobs)


def _write_dir(workdir, name, strategy):
  """Chief writes to `workdir/name`; other workers to their own temp path."""
  if _is_chief(strategy):
    return os.path.join(workdir, name)
  task_id = strategy.cluster_resolver.task_id
  return os.path.join(workdir, f".worker-{task_id}", name)


def restore_latest(checkpoint, directory, **manager_kwargs):
  """Makes the run's CheckpointManager and restores its newest readable save.

  A checkpoint that cannot be read (truncated or corrupt files) is renamed
  aside with a `.corrupt` suffix and the previous one is tried, so a resume
  never silently starts from scratch and never trips over the same file again.

  Returns:
    `(manager, restored_path or None)`.

  Raises:
    CheckpointError: checkpoints exist but none can be read.
  """
  manager = tf.train.CheckpointManager(checkpoint, directory, **manager_kwargs)
  errors = []
  for path in reversed(manager.checkpoints):
    try:
      checkpoint.restore(path).assert_existing_objects_matched()
    # Truncated files surface as IndexError ("Read less bytes than
    # requested") from the reader, not only as tf.errors.
    except (tf.errors.OpError, ValueError, AssertionError, IndexError,
            KeyError, EOFError) as error:
      message = str(error).strip().splitlines()[0]
      logging.warning("checkpoint %s is unreadable (%s); trying the previous "
                      "one", path, message)
      errors.append(f"{path}: {message}")
      continue
    if errors:
      _set_aside(directory, manager.checkpoints, path)
      manager = tf.train.CheckpointManager(checkpoint, directory,
                                           **manager_kwargs)
    return manager, path
  if errors:
    raise CheckpointError(
        f"no readable checkpoint in `{directory}` ({'; '.join(errors)}); "
        "delete or restore the files to continue.")
  return manager, None


def _set_aside(directory, paths, good_path):
  """Renames the checkpoints newer than `good_path` and points state at it."""
  newer = paths[paths.index(good_path) + 1:]
  for path in newer:
    for name in tf.io.gfile.glob(path + ".*"):
      tf.io.gfile.rename(name, name + ".corrupt", overwrite=True)
  kept = paths[:paths.index(good_path) + 1]
  checkpoint_management.update_checkpoint_state_internal(
      directory, model_checkpoint_path=good_path,
      all_model_checkpoint_paths=kept, save_relative_paths=True)


def write_summaries(writer, step, metrics, prefix):
  with writer.as_default(step=step):
    for key, value in metrics.items():
      if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
          tf.summary.scalar(f"{prefix}/{key}/{index}", item)
      elif value is not None:
        tf.summary.scalar(f"{prefix}/{key}", value)


# -- The loop --------------------------------------------------------------


def train(config, workdir, strategy=None):
  """Trains (or resumes) the run in `workdir`; returns the final metrics."""
  config_lib.validate(config)
  strategy = strategy or tf.distribute.get_strategy()
  chief = _is_chief(strategy)
  tf.io.gfile.makedirs(workdir)
  config_lib.check_or_write_workdir_config(config, workdir, write=chief)

  # 1. Data.
  inputs = Input(config.input, workdir)
  num_replicas = strategy.num_replicas_in_sync
  global_batch_size = config.input.batch_size
  if global_batch_size % num_replicas:
    raise config_lib.ConfigError(
        f"`config.input.batch_size` ({global_batch_size}) must be divisible "
        f"by the number of replicas ({num_replicas}).")

  # 2. Model, 3. optimizer, 4. checkpoint: all under the strategy's scope.
  # Same seed, same initial weights: a run is reproducible end to end.
  keras.utils.set_random_seed(config.seed)
  with strategy.scope():
    model = build_model(config, inputs.vocab_size)
    model(example_batch(model))
    optimizer = build_optimizer(config.optimizer, config.train.num_steps)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped")
    consecutive_skipped = tf.Variable(0, dtype=tf.int64, trainable=False,
                                      name="consecutive_skipped")
    best_elbo = tf.Variable(-np.inf, dtype=tf.float64, trainable=False,
                            name="best_validation_elbo")
  checkpoint = tf.train.Checkpoint(
      model=model, optimizer=optimizer, step=step, skipped=skipped,
      consecutive_skipped=consecutive_skipped, best_validation_elbo=best_elbo)
  manager, restored = restore_latest(
      checkpoint, _write_dir(workdir, "checkpoints", strategy),
      max_to_keep=config.train.keep_checkpoints)
  best_manager = tf.train.CheckpointManager(
      checkpoint, _write_dir(workdir, "best", strategy), max_to_keep=1)
  if restored:
    logging.info("resumed from %s at step %d", restored, int(step.numpy()))
  elif config.train.init_from:
    # Only a fresh run warm-starts: a resumed one has its own weights.
    source, source_step = warm_start.warm_start_from_run(
        model, config.train.init_from,
        inputs.vocabulary and inputs.vocabulary.vocabulary_path)
    logging.info("warm-started the decoder from %s (step %d)", source,
                 source_step)
  # A resumed run keeps the copied weights frozen too.
  gradient_masks = (warm_start.frozen_gradient_masks(model)
                    if config.train.freeze_init_from else None)
  preemption = tf.distribute.experimental.PreemptionCheckpointHandler(
      getattr(strategy, "cluster_resolver", None), manager,
      termination_config=tf.distribute.experimental.TerminationConfig(
          save_fn=lambda: manager.save(checkpoint_number=int(step.numpy())),
          exit_fn=lambda: _exit_preempted(int(step.numpy()))))

  # The data stream restarts at batch `step`: nothing repeated or skipped.
  # XLA compiles once per input shape: pad batches to their bucket boundary
  # so only a handful of shapes occur.
  train_data = inputs.train_dataset(
      global_batch_size, config.seed,
      pad_to_bucket_boundary=bool(config.train.jit_compile))
  train_data = train_data.skip(int(step.numpy()))
  if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    train_data = train_data.with_options(options)
  iterator = iter(strategy.experimental_distribute_dataset(train_data))
  base_seed = tf.constant([config.seed, 0], tf.int32)

  # XLA compiles the forward and backward pass; the update stays outside
  # because the optimizer's cross-replica merge_call cannot be compiled.
  gradient_fn = tf.function(
      lambda batch, step_value: loss_and_gradients(
          model, batch, step=step_value, seed=base_seed, config=config,
          global_batch_size=global_batch_size, num_replicas=num_replicas),
      jit_compile=bool(config.train.jit_compile))

  def replica_step(batch, step_value):
    return train_step(model, optimizer, batch, step=step_value,
                      seed=base_seed, config=config,
                      global_batch_size=global_batch_size,
                      num_replicas=num_replicas, gradient_fn=gradient_fn,
                      gradient_masks=gradient_masks)

  @tf.function
  def distributed_step(iterator):
    batch = next(iterator)
    sums = strategy.run(replica_step, args=(batch, step))
    reduced = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
               for k, v in sums.items()}
    applied = reduced["applied"] > 0.5
    step.assign_add(1)
    skipped.assign_add(tf.cast(tf.logical_not(applied), tf.int64))
    consecutive_skipped.assign(tf.where(
        applied, tf.constant(0, tf.int64), consecutive_skipped + 1))
    return reduced

  valid_data = inputs.eval_dataset("valid", config.input.eval_batch_size)
  valid_data = valid_data.take(config.train.eval_batches)
  compiled_eval = tf.function(
      lambda batch, s: eval_step(model, batch, seed=s), reduce_retracing=True)

  summary_dir = _write_dir(workdir, "tensorboard", strategy)
  writer = tf.summary.create_file_writer(summary_dir)
  # Attention maps and reconstructions of fixed validation examples.
  examples = report.TrainingSummaries(
      model, inputs, config.train.get("summary_examples", 0) if chief else 0,
      seed=config.seed)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  progress = ProgressBar(config.train.num_steps)
  last = dict(time=time.time(), step=int(step.numpy()))
  window = _Window()
  final = {}
  try:
    while int(step.numpy()) < config.train.num_steps:
      reduced = preemption.run(distributed_step, iterator)
      current = int(step.numpy())
      if int(consecutive_skipped.numpy()) >= config.train.max_consecutive_nonfinite:
        raise NonFiniteError(
            f"{int(consecutive_skipped.numpy())} consecutive updates had a non-finite "
            f"loss or gradient (last at step {current}); the last good "
            f"checkpoint in `{manager.directory}` is intact. Lower "
            "`config.optimizer.learning_rate` or set "
            "`config.optimizer.skip_grad_norm`.")
      window.add({k: v.numpy() for k, v in reduced.items()})
      if current % config.train.log_every == 0 or (
          current == config.train.num_steps):
        seconds = time.time() - last["time"]
        steps_done = max(1, current - last["step"])
        record = window.summary(seconds, steps_done)
        record.update(step=current, skipped_total=int(skipped.numpy()),
                      learning_rate=float(optimizer.learning_rate))
        final = record
        if chief:
          append_jsonl(metrics_path, dict(record, kind="train"))
        write_summaries(writer, current, record, "train")
        progress.update(current, record["loss"], record["elements_per_s"],
                        seconds / steps_done, force=True)
        last = dict(time=time.time(), step=current)
        window = _Window()
      if current % config.train.eval_every == 0 or (
          current == config.train.num_steps):
        validation_start = time.time()
        valid = validate(compiled_eval, valid_data, base_seed)
        valid["step"] = current
        if chief:
          append_jsonl(metrics_path, dict(valid, kind="valid"))
        write_summaries(writer, current, valid, "valid")
        examples.write(writer, current)
        logging.info("step %d validation ELBO %.3f (KL %.3f)", current,
                     valid["elbo"], valid["kl"])
        if valid["elbo"] > float(best_elbo.numpy()):
          best_elbo.assign(valid["elbo"])
          best_manager.save(checkpoint_number=current)
        final.update({f"valid_{k}": v for k, v in valid.items()})
        # The next logged window measures training alone: elements/s and
        # s/step would otherwise count this validation and its summaries.
        last["time"] += time.time() - validation_start
      if current % config.train.checkpoint_every == 0:
        manager.save(checkpoint_number=current)
    if int(step.numpy()) % config.train.checkpoint_every:
      manager.save(checkpoint_number=int(step.numpy()))
  finally:
    progress.close()
    writer.flush()
  return final


def validate(compiled_eval, dataset, base_seed):
  """Mean validation ELBO, KL, attention entropy, active units and, for
  models with latents, the assignment's entropy and share of tokens per
  slot (`slot_token_share`, `slots_over_5_percent`)."""
  totals, means = {}, []
  for index, batch in enumerate(dataset):
    sums = compiled_eval(
        batch, tf.random.experimental.stateless_fold_in(base_seed, -1 - index))
    if "posterior_means" in sums:
      means.append(sums.pop("posterior_means").numpy())
    for key, value in sums.items():
      totals[key] = totals.get(key, 0.0) + value.numpy().astype(np.float64)
  n = totals["examples"]
  result = dict(elbo=float(totals["elbo"] / n),
                distortion=float(totals["distortion"] / n),
                kl=float(totals["rate"] / n),
                kl_per_slot=(totals["kl_per_slot"] / n).tolist(),
                decoder_attention_entropy=float(totals["decoder_entropy"] /
                                                totals["elements"]),
                ppl_bound=float(np.exp(-totals["elbo"] / totals["elements"])))
  if means:
    result["active_units"] = evaluation.active_units(
        np.concatenate(means, 0))[0]
  if "slot_argmax" in totals:
    shares = totals["slot_argmax"] / max(totals["slot_argmax"].sum(), 1.0)
    result.update(
        assignment_entropy=float(totals["assignment_entropy"] /
                                 totals["elements"]),
        slot_token_share=shares.tolist(),
        slots_over_5_percent=int(np.sum(
            shares >= evaluation.SLOT_SHARE_THRESHOLD)))
  return result


class _Window:
  """Accumulates reduced step metrics between two log lines."""

  def __init__(self):
    self.sums = {}
    self.steps = 0

  def add(self, reduced):
    self.steps += 1
    for key, value in reduced.items():
      self.sums[key] = self.sums.get(key, 0.0) + np.asarray(value, np.float64)

  def summary(self, seconds, steps):
    s = self.sums
    n = max(s.get("examples", 1.0), 1.0)
    elements = max(s.get("elements", 1.0), 1.0)
    return dict(
        loss=float(s["loss"] / self.steps),
        elbo=float(s["elbo"] / n), distortion=float(s["distortion"] / n),
        kl=float(s["rate"] / n),
        kl_per_slot=(np.asarray(s["kl_per_slot"]) / n).tolist(),
        kl_weight=float(s["kl_weight"] / self.steps),
        read_temperature=float(s.get("read_temperature", 0.0) / self.steps),
        decoder_attention_entropy=float(s["decoder_entropy"] / elements),
        posterior_attention_entropy=float(s["posterior_entropy"] / n),
        grad_norm=float(s["grad_norm"] / self.steps),
        skipped_in_window=int(round(self.steps - s["applied"])),
        elements_per_s=float(s["elements"] / max(seconds, 1e-9)),
        seconds_per_step=seconds / steps)


def _exit_preempted(step):
  logging.warning("preempted at step %d: checkpoint saved; run the same "
                  "command again to resume", step)
  sys.exit(PREEMPTED_EXIT_CODE)
