"""Training: data, model, optimizer and checkpoint, in that order, under a
`tf.distribute` strategy, then a custom `tf.function` step run with
`strategy.run`.

A run lives in a workdir:

```none
workdir/config.json        the config the run was started with (resumes check it)
workdir/vocab.txt          the vocabulary (text), built from the training split
workdir/checkpoints/       latest checkpoints (model, optimizer, step, counters)
workdir/best/              the checkpoint with the best validation score
                           (`validation_score`: the ELBO, an autoencoder's
                           reconstruction)
workdir/metrics.jsonl      one JSON object per logged step / evaluation
workdir/tensorboard/       TensorBoard summaries
```
Resuming is exact: batch i of the training stream is a deterministic function
of the seed and i, so a restart skips the `step` batches already consumed
(distributed iterators cannot be checkpointed) and continues with the same
data order; the latent noise of step i is seeded by `(seed, i)`.
"""

import json
import os
import sys
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import aggressive as aggressive_lib
from inverse_draw_tf import checkpoints
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import evaluation
from inverse_draw_tf import metrics
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import optimization
from inverse_draw_tf import summaries
from inverse_draw_tf import warm_start

# tf.distribute's convention (TerminationConfig's default) for "preempted:
# checkpoint saved, restart me".
PREEMPTED_EXIT_CODE = 42


class NonFiniteError(RuntimeError):
  """Too many consecutive updates had a non-finite loss or gradient."""


# -- Bookkeeping -----------------------------------------------------------


class ProgressBar:
  """One terminal line: step, loss, elements/s and ETA (a log line if no tty)."""

  def __init__(self, total_steps, stream=None, width=24):
    self.total = total_steps
    self.stream = stream or sys.stderr
    self.width = width
    self.interactive = self.stream.isatty()

  def update(self, step, loss, elements_per_s, seconds_per_step,
             force=False):
    remaining = max(0, self.total - step) * seconds_per_step
    filled = int(self.width * min(1.0, step / max(1, self.total)))
    bar = "=" * filled + "." * (self.width - filled)
    line = (f"step {step}/{self.total} [{bar}] loss {loss:.2f} "
            f"{elements_per_s:,.0f} elements/s ETA {_format_seconds(remaining)}")
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


# -- The loop --------------------------------------------------------------


def train(config, workdir, strategy=None):
  """Trains (or resumes) the run in `workdir`; returns the final metrics."""
  config_lib.validate(config)
  # Bad data fail before the workdir holds a config that would then refuse
  # the corrected rerun as "a different config".
  data.Input.check(config.input)
  strategy = strategy or tf.distribute.get_strategy()
  chief = _is_chief(strategy)
  tf.io.gfile.makedirs(workdir)
  config_lib.check_or_write_workdir_config(config, workdir, write=chief)

  # 1. Data.
  inputs = data.Input(config.input, workdir)
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
    model = model_lib.build_model(
        config.model, inputs.vocab_size,
        precision=config.train.get("precision", "float32"))
    model(model_lib.example_batch(model))
    optimizer = optimization.build_optimizer(config.optimizer,
                                             config.train.num_steps)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped")
    consecutive_skipped = tf.Variable(0, dtype=tf.int64, trainable=False,
                                      name="consecutive_skipped")
    # The best `validation_score` (its checkpoint name predates autoencoders).
    best_score = tf.Variable(-np.inf, dtype=tf.float64, trainable=False,
                             name="best_validation_elbo")
    plateau = None
    if config.optimizer.schedule == "plateau":
      plateau = optimization.PlateauSchedule(
          config.optimizer.plateau_factor, config.optimizer.plateau_patience,
          config.optimizer.plateau_max_decays,
          config.optimizer.get("plateau_start_step", 0))
    aggressive = None
    if config.optimizer.get("aggressive_inference", False):
      aggressive = aggressive_lib.AggressiveInference(
          config.optimizer, optimizer,
          aggressive_lib.inference_variables(model), config.train.num_steps)
  # Only plateau and aggressive runs track their counters: other runs'
  # checkpoints stay as they were.
  extra = {name: value for name, value in (("plateau", plateau),
                                           ("aggressive", aggressive))
           if value is not None}
  checkpoint = tf.train.Checkpoint(
      model=model, optimizer=optimizer, step=step, skipped=skipped,
      consecutive_skipped=consecutive_skipped, best_validation_elbo=best_score,
      **extra)
  manager, restored = checkpoints.restore_latest(
      checkpoint, _write_dir(workdir, "checkpoints", strategy),
      max_to_keep=config.train.keep_checkpoints)
  best_manager = tf.train.CheckpointManager(
      checkpoint, _write_dir(workdir, "best", strategy), max_to_keep=1)
  if restored:
    logging.info("resumed from %s at step %d", restored, int(step.numpy()))
  else:
    # Only a fresh run warm-starts: a resumed one has its own weights.
    _warm_start(model, config.train,
                inputs.vocabulary and inputs.vocabulary.vocabulary_path)
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
  def distributed_iterator(seed, batches_done):
    dataset = inputs.train_dataset(
        global_batch_size, seed,
        pad_to_bucket_boundary=bool(config.train.jit_compile))
    dataset = dataset.skip(batches_done)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
      options = tf.data.Options()
      options.experimental_distribute.auto_shard_policy = (
          tf.data.experimental.AutoShardPolicy.DATA)
      dataset = dataset.with_options(options)
    return iter(strategy.experimental_distribute_dataset(dataset))

  iterator = distributed_iterator(config.seed, int(step.numpy()))
  base_seed = tf.constant([config.seed, 0], tf.int32)
  mask_of = ({} if gradient_masks is None else
             {id(v): m for v, m in zip(model.trainable_variables,
                                       gradient_masks)})

  def make_distributed_step(variables, step_optimizer, seed_fn, counter):
    """A compiled step: the iterator's next batch, one update of `variables`
    by `step_optimizer` with noise seeded by `seed_fn()`, `counter` + 1."""
    masks = ([mask_of[id(v)] for v in variables] if gradient_masks
             is not None else None)
    # XLA compiles the forward and backward pass; the update stays outside
    # because the optimizer's cross-replica merge_call cannot be compiled.
    gradient_fn = tf.function(
        lambda batch, step_value: optimization.loss_and_gradients(
            model, batch, step=step_value, seed=seed_fn(), config=config,
            global_batch_size=global_batch_size, num_replicas=num_replicas,
            variables=variables),
        jit_compile=bool(config.train.jit_compile))

    def replica_step(batch, step_value):
      return optimization.train_step(
          model, step_optimizer, batch, step=step_value, seed=seed_fn(),
          config=config, global_batch_size=global_batch_size,
          num_replicas=num_replicas, gradient_fn=gradient_fn,
          gradient_masks=masks, variables=variables)

    @tf.function
    def distributed_step(iterator):
      batch = next(iterator)
      sums = strategy.run(replica_step, args=(batch, step))
      reduced = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                 for k, v in sums.items()}
      applied = reduced["applied"] > 0.5
      counter.assign_add(1)
      skipped.assign_add(tf.cast(tf.logical_not(applied), tf.int64))
      consecutive_skipped.assign(tf.where(
          applied, tf.constant(0, tf.int64), consecutive_skipped + 1))
      return reduced

    return distributed_step

  distributed_step = make_distributed_step(
      model.trainable_variables, optimizer, lambda: base_seed, step)
  if aggressive is not None:
    # The inner updates read their own stream (seed + 1) and seed their
    # noise by their own count (aggressive.py).
    inner_iterator = distributed_iterator(
        config.seed + 1, int(aggressive.inner_batches.numpy()))
    inner_seed = tf.constant([config.seed, 1], tf.int32)
    inference_step = make_distributed_step(
        aggressive_lib.inference_variables(model), aggressive.optimizer,
        lambda: tf.random.experimental.stateless_fold_in(
            inner_seed, aggressive.inner_batches), aggressive.inner_batches)
    generative_step = make_distributed_step(
        aggressive_lib.generative_variables(model), optimizer,
        lambda: base_seed, step)

    def inner_update():
      reduced = preemption.run(inference_step, inner_iterator)
      return (float(reduced["loss"]) * float(reduced["examples"]),
              float(reduced["elements"]))

    compiled_mutual_information = tf.function(
        lambda batch, s: evaluation.mutual_information(model, batch, s),
        reduce_retracing=True)

  valid_data = inputs.eval_dataset("valid", config.input.eval_batch_size)
  valid_data = valid_data.take(config.train.eval_batches)
  compiled_eval = tf.function(
      lambda batch, s: metrics.batch_sums(
          model, batch, seed=s,
          iwae_samples=config.objective.get("training_samples", 1)),
      reduce_retracing=True)

  summary_dir = _write_dir(workdir, "tensorboard", strategy)
  writer = tf.summary.create_file_writer(summary_dir)
  # Attention maps and reconstructions of fixed validation examples.
  examples = summaries.TrainingSummaries(
      model, inputs, config.train.get("summary_examples", 0) if chief else 0,
      seed=config.seed)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  progress = ProgressBar(config.train.num_steps)
  last = dict(time=time.time(), step=int(step.numpy()))
  window = _Window()
  final = {}
  try:
    while int(step.numpy()) < config.train.num_steps and not (
        plateau is not None and plateau.finished):
      if aggressive is not None and bool(aggressive.active.numpy()):
        inner_updates = aggressive.run_inner_loop(inner_update)
        reduced = dict(preemption.run(generative_step, iterator),
                       inner_updates=inner_updates)
      else:
        reduced = preemption.run(distributed_step, iterator)
      current = int(step.numpy())
      if int(consecutive_skipped.numpy()) >= config.train.max_consecutive_nonfinite:
        raise NonFiniteError(
            f"{int(consecutive_skipped.numpy())} consecutive updates had a non-finite "
            f"loss or gradient (last at step {current}); the last good "
            f"checkpoint in `{manager.directory}` is intact. Lower "
            "`config.optimizer.learning_rate` or set "
            "`config.optimizer.skip_grad_norm`.")
      window.add({k: np.asarray(v) for k, v in reduced.items()})
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
        summaries.write_summaries(writer, current, record, "train")
        progress.update(current, record["loss"], record["elements_per_s"],
                        seconds / steps_done, force=True)
        last = dict(time=time.time(), step=current)
        window = _Window()
      if current % config.train.eval_every == 0 or (
          current == config.train.num_steps):
        validation_start = time.time()
        valid = validate(model, compiled_eval, valid_data, base_seed)
        valid["step"] = current
        if aggressive is not None and bool(aggressive.active.numpy()):
          valid["mutual_information"] = validation_mutual_information(
              compiled_mutual_information, valid_data, base_seed)
          valid["aggressive"] = aggressive.observe_mutual_information(
              valid["mutual_information"])
        if chief:
          append_jsonl(metrics_path, dict(valid, kind="valid"))
        summaries.write_summaries(writer, current, valid, "valid")
        examples.write(writer, current)
        logging.info("step %d validation ELBO %.3f (KL %.3f)%s", current,
                     valid["elbo"], valid["kl"],
                     f", IWAE bound {valid['iwae']:.3f}" if "iwae" in valid
                     else "")
        score = validation_score(valid, config.objective)
        improved = score > float(best_score.numpy())
        if improved:
          best_score.assign(score)
          best_manager.save(checkpoint_number=current)
        if plateau is not None and plateau.observe(improved, current):
          record = _decay_on_plateau(model, optimizer, plateau, best_manager)
          record.update(step=current, kind="plateau")
          logging.info("step %d: validation plateau %d of %d; learning rate "
                       "%g, weights of %s restored", current,
                       record["decays"], plateau.max_decays,
                       record["learning_rate"], record["restored"])
          if chief:
            append_jsonl(metrics_path, record)
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


def validation_score(valid, objective):
  """What `best/` keeps and the plateau schedule watches: the validation
  ELBO, or for an autoencoder (`kl_schedule="zero"`) minus its distortion.
  An autoencoder's KL is left out of its loss and only grows, so its ELBO
  would mark an early, barely trained encoder as best; Li et al. 2019 keep
  the autoencoder of best reconstruction, whose encoder the next run takes
  (`train.init_inference_from`). A run trained on the IWAE bound
  (`objective.training_samples` k > 1) is scored by that bound: its ELBO
  may fall while the bound it optimises rises."""
  if objective.kl_schedule == "zero":
    return -valid["distortion"]
  if objective.get("training_samples", 1) > 1:
    return valid["iwae"]
  return valid["elbo"]


def _decay_on_plateau(model, optimizer, plateau, best_manager):
  """Lowers the learning rate by the plateau's factor and restores the
  model's weights (not the optimizer's state) of the best validation, as Li
  et al. 2019 do; returns what happened, for metrics.jsonl."""
  restored = best_manager.latest_checkpoint
  tf.train.Checkpoint(model=model).read(restored).expect_partial()
  optimizer.learning_rate = float(optimizer.learning_rate) * plateau.factor
  return dict(learning_rate=float(optimizer.learning_rate),
              decays=int(plateau.decays.numpy()),
              restored=os.path.basename(restored))


def validation_mutual_information(compiled_mutual_information, dataset,
                                  base_seed):
  """The mean over the validation batches of the minibatch estimate of
  I(x; Z) under q (`evaluation.mutual_information`), batch i's noise seeded
  as in `validate`; what aggressive training watches."""
  values = [float(compiled_mutual_information(
      batch, tf.random.experimental.stateless_fold_in(base_seed, -1 - index)))
            for index, batch in enumerate(dataset)]
  return float(np.mean(values))


def _warm_start(model, train_config, vocabulary_path):
  """Copies the parts of a fresh run's model that `train.init_from` (the
  decoder) and `train.init_inference_from` (the encoder and posteriors)
  name from their runs; they touch disjoint weights (warm_start.py). Or
  every weight, from `train.init_model_from` (which excludes the others)."""
  copies = (("init_from", warm_start.warm_start_from_run, "the decoder"),
            ("init_inference_from", warm_start.warm_start_inference_from_run,
             "the inference network"),
            ("init_model_from", warm_start.warm_start_model_from_run,
             "every weight"))
  for key, copy, part in copies:
    source_workdir = train_config.get(key, "")
    if source_workdir:
      source, source_step = copy(model, source_workdir, vocabulary_path)
      logging.info("warm-started %s from %s (step %d)", part, source,
                   source_step)


def validate(model, compiled_eval, dataset, base_seed):
  """`metrics.summarize` of `compiled_eval` (`metrics.batch_sums`) over the
  validation batches: the ELBO, KL, active units and, for models with
  latents, the attention entropies and the assignment's tokens per slot
  (an assignment can be sharp and still unused, every word on one slot:
  the shares show it from the first validation on).

  Batch i's noise is seeded by `(base_seed, -1 - i)`: every validation of a
  run sees the same samples.
  """
  totals, means = {}, []
  for index, batch in enumerate(dataset):
    sums = compiled_eval(
        batch, tf.random.experimental.stateless_fold_in(base_seed, -1 - index))
    if "posterior_means" in sums:
      means.append(sums.pop("posterior_means").numpy())
    for key, value in sums.items():
      totals[key] = totals.get(key, 0.0) + value.numpy().astype(np.float64)
  result = metrics.summarize(
      totals, means, num_slots=model.num_slots[0] if model.num_levels else 0,
      text=model.observation == "text")
  del result["num_examples"], result["num_elements"]
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
    record = {}
    if "inner_updates" in s:  # Aggressive training's inner loop, per step.
      record["inner_updates"] = float(s["inner_updates"] / self.steps)
    if "kl_weight_per_level" in s:  # objective.kl_level_delay_steps.
      record["kl_weight_per_level"] = (
          np.asarray(s["kl_weight_per_level"]) / self.steps).tolist()
    return dict(record,
        loss=float(s["loss"] / self.steps),
        elbo=float(s["elbo"] / n), distortion=float(s["distortion"] / n),
        kl=float(s["kl"] / n),
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
