"""Tests of the training library: schedules, config checks, the step itself,
data-parallel equivalence, non-finite handling and checkpoint fallback."""

import math
import os
import sys

from absl.testing import parameterized
import keras
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import common  # pylint: disable=g-import-not-at-top
from configs import ptb
from configs import ptb_lm
from configs import ptb_small
from inverse_draw_tf import config_lib
from inverse_draw_tf import distribute
from inverse_draw_tf import metrics
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import optimization
from inverse_draw_tf import train_lib


def tiny_config():
  config = ptb_small.get_config("runlocal")
  config.model.word_dropout = 0.3
  config.objective.free_bits = 0.1
  return config


def random_batch(seed=0, batch_size=8, length=7, vocab_size=30):
  rng = np.random.RandomState(seed)
  tokens = rng.randint(4, vocab_size, size=(batch_size, length))
  tokens[:, -1] = 3
  tokens[: batch_size // 2, length - 2:] = 0
  tokens[: batch_size // 2, length - 3] = 3
  return {"tokens": tf.constant(tokens, tf.int32)}


def build(config, strategy, vocab_size=30, seed=1):
  with strategy.scope():
    keras.utils.set_random_seed(seed)
    model = model_lib.build_model(config.model, vocab_size)
    model(model_lib.example_batch(model))
    optimizer = optimization.build_optimizer(config.optimizer,
                                          config.train.num_steps)
    optimizer.build(model.trainable_variables)
  return model, optimizer


def make_step_fn(strategy, model, optimizer, config, global_batch_size):

  @tf.function
  def step_fn(iterator, step):
    batch = next(iterator)
    sums = strategy.run(
        lambda b: optimization.train_step(
            model, optimizer, b, step=step, seed=tf.constant([0, 0]),
            config=config, global_batch_size=global_batch_size,
            num_replicas=strategy.num_replicas_in_sync), args=(batch,))
    return {k: strategy.reduce("SUM", v, axis=None) for k, v in sums.items()}

  return step_fn


class ScheduleTest(tf.test.TestCase):

  def test_linear_kl_weight(self):
    objective = common.get_config().objective
    objective.kl_schedule, objective.kl_warmup_steps = "linear", 100
    values = [float(optimization.kl_weight(s, objective, 1000))
              for s in (0, 50, 100, 500)]
    self.assertAllClose(values, [0.0, 0.5, 1.0, 1.0])

  def test_cyclical_kl_weight(self):
    objective = common.get_config().objective
    objective.update(kl_schedule="cyclical", kl_cycles=4, kl_cycle_ratio=0.5)
    # 1000 steps, 4 cycles of 250: rises over 125 steps, flat at 1 after.
    values = [float(optimization.kl_weight(s, objective, 1000))
              for s in (0, 62.5, 125, 200, 250, 312.5)]
    self.assertAllClose(values, [0.0, 0.5, 1.0, 1.0, 0.0, 0.5])

  def test_upper_levels_anneal_later(self):
    objective = common.get_config().objective
    objective.update(kl_schedule="linear", kl_warmup_steps=100,
                     kl_level_delay_steps=50)
    values = [optimization.kl_weights(s, objective, 1000, 3).numpy()
              for s in (0, 50, 100, 150, 200, 250)]
    self.assertAllClose(values, [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0],
                                 [1.0, 0.5, 0.0], [1.0, 1.0, 0.5],
                                 [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    # One level, or no delay: the scalar schedule.
    self.assertEqual(optimization.kl_weights(50, objective, 1000, 1).shape,
                     [])
    objective.kl_level_delay_steps = 0
    self.assertAllClose(optimization.kl_weights(50, objective, 1000, 3), 0.5)

  def test_no_annealing(self):
    objective = common.get_config().objective
    objective.kl_schedule = "none"
    self.assertEqual(float(optimization.kl_weight(0, objective, 10)), 1.0)

  def test_zero_kl_weight(self):
    objective = common.get_config().objective
    objective.kl_schedule = "zero"
    values = [float(optimization.kl_weight(s, objective, 1000))
              for s in (0, 500, 5000, 10**6)]
    self.assertEqual(values, [0.0] * 4)

  def test_warmup_cosine(self):
    schedule = optimization.WarmupCosine(1.0, warmup_steps=10, decay_steps=100,
                                      final_fraction=0.1)
    self.assertAllClose(float(schedule(0)), 0.1)
    self.assertAllClose(float(schedule(9)), 1.0)
    self.assertAllClose(float(schedule(10)), 1.0)
    self.assertAllClose(float(schedule(60)),
                        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    self.assertAllClose(float(schedule(110)), 0.1)
    self.assertAllClose(float(schedule(500)), 0.1)


class ConfigTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.parameters(
      ("input.dataset", "imagenet", r"`config\.input\.dataset` must be one of"),
      ("input.batch_size", 0, r"`config\.input\.batch_size` must be a positive"),
      ("input.length_policy", "cut", r"`config\.input\.length_policy`"),
      ("input.bucket_boundaries", (10, 5),
       r"`config\.input\.bucket_boundaries` must be strictly increasing"),
      ("optimizer.learning_rate", -1.0, r"`config\.optimizer\.learning_rate`"),
      ("objective.kl_schedule", "cosine", r"`config\.objective\.kl_schedule`"),
      ("objective.free_bits", -0.5, r"`config\.objective\.free_bits`"),
      ("train.num_steps", 0, r"`config\.train\.num_steps`"),
      ("model.decoder_wiring", "sideways",
       r"`config\.model\.decoder_wiring` must be one of"),
      ("model.num_slots", -2, r"`config\.model\.num_slots` must be"),
      ("model.decoder_attention", "nope",
       r"config\.model: `decoder_attention`: attention `type` must be one of"),
      # The alignment issue's keys.
      ("model.decoder_alignment", "hard",
       r"`config\.model\.decoder_alignment` must be one of \('soft', 'exact', "
       r"'gumbel', 'variational'\), received 'hard'"),
      ("model.decoder_normalizer", "relu",
       r"`config\.model\.decoder_normalizer` must be one of \('softmax', "
       r"'sparsemax', 'entmax15'\)"),
      ("model.slot_dropout", 1.0, r"`config\.model\.slot_dropout` must be in"),
      ("model.decoder_dropout", 1.0,
       r"`config\.model\.decoder_dropout` must be in"),
      ("objective.attention_entropy_weight", -0.1,
       r"`config\.objective\.attention_entropy_weight` must be >= 0"),
      ("objective.slot_balance_weight", -0.1,
       r"`config\.objective\.slot_balance_weight` must be >= 0"),
      ("objective.gumbel_temperature_end", 0.0,
       r"`config\.objective\.gumbel_temperature_end` must be positive"),
      ("objective.gumbel_anneal_steps", 0,
       r"`config\.objective\.gumbel_anneal_steps` must be a positive"),
  )
  def test_invalid_config_names_the_key(self, key, value, pattern):
    config = common.get_config()
    section, name = key.split(".")
    config[section][name] = value
    with self.assertRaisesRegex(config_lib.ConfigError, pattern) as context:
      config_lib.validate(config)
    self.assertNotIn("\n", str(context.exception))

  def test_every_bundled_config_is_valid(self):
    from configs import mnist, ptb_vae  # pylint: disable=g-import-not-at-top,g-multiple-import
    for module in (ptb, ptb_small, ptb_lm, ptb_vae, mnist):
      for arg in (None, "runlocal"):
        config_lib.validate(module.get_config(arg))
    for arg in ("levels=2", "levels=2,runlocal"):  # The hierarchy.
      config_lib.validate(ptb.get_config(arg))

  def test_image_config_needs_image_model(self):
    config = common.get_config()
    config.input.dataset = "binarized_mnist"
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"`config\.model\.observation`"):
      config_lib.validate(config)

  def test_write_atomic_text_and_bytes(self):
    directory = self.create_tempdir().full_path
    path = os.path.join(directory, "out")
    config_lib.write_atomic(path, "text\n")
    with open(path) as f:
      self.assertEqual(f.read(), "text\n")
    config_lib.write_atomic(path, b"\x00\xffbytes")  # Replaces the text.
    with open(path, "rb") as f:
      self.assertEqual(f.read(), b"\x00\xffbytes")
    self.assertEqual(os.listdir(directory), ["out"])  # No temp file left.

  def test_workdir_of_another_config_is_refused(self):
    workdir = self.create_tempdir().full_path
    config = common.get_config()
    config_lib.check_or_write_workdir_config(config, workdir)
    config.train.num_steps += 100  # Allowed: train for longer.
    config_lib.check_or_write_workdir_config(config, workdir)
    config.model.num_slots = 16
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"different config \(model\.num_slots: 8 -> 16"):
      config_lib.check_or_write_workdir_config(config, workdir)
    self.assertEqual(
        config_lib.load_workdir_config(workdir).train.num_steps,
        common.get_config().train.num_steps + 100)


class TrainStepTest(tf.test.TestCase):

  def test_steps_reduce_the_loss(self):
    config = tiny_config()
    config.objective.kl_schedule = "none"
    config.optimizer.update(schedule="constant", learning_rate=3e-3)
    strategy = tf.distribute.get_strategy()
    model, optimizer = build(config, strategy)
    step_fn = make_step_fn(strategy, model, optimizer, config, 8)
    iterator = iter(tf.data.Dataset.from_tensors(random_batch()).repeat())
    losses = [float(step_fn(iterator, tf.constant(i, tf.int64))["loss"])
              for i in range(60)]
    self.assertLess(np.mean(losses[-5:]), 0.7 * np.mean(losses[:5]), losses)

  def test_iwae_objective_trains_on_one_device_and_two_replicas(self):
    config = tiny_config()
    config.objective.update(kl_schedule="none", training_samples=3,
                            free_bits=0.0)
    config.optimizer.update(schedule="constant", learning_rate=3e-3)
    for strategy in (tf.distribute.get_strategy(),
                     distribute.make_strategy("mirrored")):
      model, optimizer = build(config, strategy)
      dataset = tf.data.Dataset.from_tensors(random_batch()).repeat()
      if strategy.num_replicas_in_sync > 1:
        dataset = strategy.experimental_distribute_dataset(dataset)
      step_fn = make_step_fn(strategy, model, optimizer, config, 8)
      iterator = iter(dataset)
      sums = [step_fn(iterator, tf.constant(i, tf.int64)) for i in range(40)]
      losses = [float(s["loss"]) for s in sums]
      # The reported ELBO sums stay per example (8 of them), not per sample.
      self.assertEqual(float(sums[-1]["examples"]), 8.0)
      self.assertLess(np.mean(losses[-5:]), 0.8 * np.mean(losses[:5]),
                      (strategy.num_replicas_in_sync, losses))

  def test_mirrored_update_equals_single_device_update(self):
    self.assertGreaterEqual(len(tf.config.list_logical_devices("CPU")), 2,
                            "conftest.py should configure 2 CPU devices")
    config = tiny_config()
    batch = random_batch()
    results = []
    for strategy in (tf.distribute.get_strategy(),
                     distribute.make_strategy("mirrored")):
      model, optimizer = build(config, strategy)
      before = [v.numpy() for v in model.trainable_variables]
      dataset = strategy.experimental_distribute_dataset(
          tf.data.Dataset.from_tensors(batch).repeat())
      step_fn = make_step_fn(strategy, model, optimizer, config, 8)
      sums = step_fn(iter(dataset), tf.constant(3, tf.int64))
      after = [v.numpy() for v in model.trainable_variables]
      results.append((before, after, {k: v.numpy() for k, v in sums.items()}))
    (before_1, after_1, sums_1), (before_2, after_2, sums_2) = results
    self.assertEqual(strategy.num_replicas_in_sync, 2)
    for a, b in zip(before_1, before_2):
      self.assertAllEqual(a, b)
    moved = max(np.abs(a - b).max() for a, b in zip(after_1, before_1))
    self.assertGreater(moved, 1e-5)
    for a, b in zip(after_1, after_2):
      self.assertAllClose(a, b, atol=1e-6, rtol=1e-5)
    for key in ("loss", "elbo", "kl", "grad_norm"):
      self.assertAllClose(sums_1[key], sums_2[key], rtol=1e-5)

  def test_per_level_kl_weights_are_logged_once_per_step(self):
    # objective.kl_level_delay_steps: the step returns the weight of every
    # level, divided by the replicas so the cross-replica sum is the weight.
    config = common.replace_model_fields(
        tiny_config(), num_slots=(4, 2), latent_dim=(3, 3))
    config.objective.update(kl_schedule="linear", kl_warmup_steps=100,
                            kl_level_delay_steps=40)
    batch = random_batch()
    for strategy in (tf.distribute.get_strategy(),
                     distribute.make_strategy("mirrored")):
      model, optimizer = build(config, strategy)
      self.assertEqual(model.num_levels, 2)
      dataset = tf.data.Dataset.from_tensors(batch).repeat()
      if strategy.num_replicas_in_sync > 1:
        dataset = strategy.experimental_distribute_dataset(dataset)
      sums = make_step_fn(strategy, model, optimizer, config, 8)(
          iter(dataset), tf.constant(60, tf.int64))
      # Step 60: the lower level is 60/100 annealed, the upper 20/100.
      self.assertAllClose(sums["kl_weight_per_level"], [0.6, 0.2])
      self.assertAllClose(sums["kl_weight"], 0.6)

  def test_variables_are_identical_on_every_replica(self):
    strategy = distribute.make_strategy("mirrored")
    model, optimizer = build(tiny_config(), strategy)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(random_batch()).repeat())
    make_step_fn(strategy, model, optimizer, tiny_config(), 8)(
        iter(dataset), tf.constant(0, tf.int64))
    for variable in model.trainable_variables:
      # Keras variables wrap the strategy's MirroredVariable in `.value`.
      values = [v.numpy() for v in strategy.experimental_local_results(
          variable.value)]
      self.assertLen(values, 2)
      self.assertAllEqual(values[0], values[1])

  @pytest.mark.slow  # 29 s on 2 AMD EPYC cores; `make test-all` runs it.
  def test_xla_compiles_the_step_and_matches_the_graph(self):
    config = tiny_config()
    config.model.decoder_wiring = "output_only"
    model, _ = build(config, tf.distribute.get_strategy())
    batch = random_batch()
    # Stateless random ops may draw differently under XLA, so the latent
    # noise is fixed here to compare the maths itself.
    noise = model.sample_noise(8, tf.constant([1, 2]))
    results = []
    for jit in (False, True):

      @tf.function(jit_compile=jit)
      def loss_and_gradients():
        with tf.GradientTape() as tape:
          loss = objectives.evidence_lower_bound(
              model, batch, seed=tf.constant([0, 0]), noise=noise,
              free_bits=0.1)["loss"]
        return loss, tape.gradient(loss, model.trainable_variables)

      results.append(loss_and_gradients())
    (loss, gradients), (xla_loss, xla_gradients) = results
    self.assertAllClose(loss, xla_loss, rtol=1e-5)
    for a, b in zip(gradients, xla_gradients):
      self.assertAllClose(tf.convert_to_tensor(a), tf.convert_to_tensor(b),
                          atol=1e-4, rtol=1e-3)
    # The training loop's own compiled gradient function runs under XLA.
    terms, xla_step = tf.function(
        lambda b, s: optimization.loss_and_gradients(
            model, b, step=s, seed=tf.constant([0, 0]), config=config,
            global_batch_size=8), jit_compile=True)(batch, tf.constant(2))
    self.assertTrue(np.isfinite(float(terms["loss"])))
    self.assertLen(xla_step, len(model.trainable_variables))

  def test_non_finite_update_is_skipped(self):
    config = tiny_config()
    strategy = tf.distribute.get_strategy()
    model, optimizer = build(config, strategy)
    variable = model.decoder.output_layer.kernel
    poisoned = variable.numpy()
    poisoned[0, 0] = np.nan
    variable.assign(poisoned)
    before = [v.numpy() for v in model.trainable_variables]
    sums = make_step_fn(strategy, model, optimizer, config, 8)(
        iter(tf.data.Dataset.from_tensors(random_batch()).repeat()),
        tf.constant(0, tf.int64))
    self.assertEqual(float(sums["applied"]), 0.0)
    self.assertEqual(int(optimizer.iterations), 0)
    for a, b in zip(before, model.trainable_variables):
      self.assertAllEqual(a, b.numpy())

  def test_gradient_norm_skip_rule(self):
    config = tiny_config()
    config.optimizer.skip_grad_norm = 1e-6  # Every real gradient exceeds it.
    strategy = tf.distribute.get_strategy()
    model, optimizer = build(config, strategy)
    sums = make_step_fn(strategy, model, optimizer, config, 8)(
        iter(tf.data.Dataset.from_tensors(random_batch()).repeat()),
        tf.constant(0, tf.int64))
    self.assertEqual(float(sums["applied"]), 0.0)
    self.assertGreater(float(sums["grad_norm"]), 1e-6)


class ValidateTest(tf.test.TestCase):

  def test_assignment_statistics_add_up_over_batches(self):
    # Exact alignment: the assignment is the alignment posterior. Two
    # batches of different lengths, so per-batch means would differ from
    # the token-weighted mean validate must return.
    config = ptb.get_config(
        "alignment=exact,attention=window,window_step=0.33,"
        "posterior_window_step=3.0,wiring=output_only,free_bits=1.25,"
        "budget=results,runlocal")
    model, _ = build(config, tf.distribute.get_strategy())
    batches = [random_batch(seed=1), random_batch(seed=2, length=11)]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(batches), output_signature={
            "tokens": tf.TensorSpec([None, None], tf.int32)})
    base_seed = tf.constant([3, 4])
    result = train_lib.validate(
        model, tf.function(lambda b, s: metrics.batch_sums(model, b, seed=s)),
        dataset, base_seed)

    counts, entropies = np.zeros(model.num_slots[0]), []
    for batch in batches:
      noise = [tf.zeros_like(n) for n in model.sample_noise(8, base_seed)]
      path = model(batch, noise=noise)
      posterior = path["alignment_posterior"].numpy()
      mask = path["element_mask"].numpy()
      counts += np.bincount(posterior.argmax(-1)[mask],
                            minlength=len(counts))
      entropies.append(-np.sum(posterior * np.log(np.maximum(
          posterior, 1e-30)), -1)[mask])
    shares = counts / counts.sum()
    self.assertAllClose(result["assignment_argmax_share"], shares, atol=1e-6)
    self.assertAllClose(sum(result["assignment_argmax_share"]), 1.0)
    self.assertEqual(result["assignment_slots_over_5_percent"],
                     int(np.sum(shares >= 0.05)))
    self.assertAllClose(result["assignment_entropy"],
                        np.concatenate(entropies).mean(), atol=1e-4)
    self.assertBetween(result["assignment_entropy"], 0.0,
                       math.log(model.num_slots[0]))

  def test_a_model_without_latents_has_no_assignment(self):
    config = ptb_lm.get_config("runlocal")
    model, _ = build(config, tf.distribute.get_strategy())
    result = train_lib.validate(
        model, tf.function(lambda b, s: metrics.batch_sums(model, b, seed=s)),
        tf.data.Dataset.from_tensors(random_batch()), tf.constant([0, 0]))
    self.assertNotIn("assignment_argmax_share", result)
    self.assertNotIn("slot_token_share", result)
    self.assertNotIn("assignment_entropy", result)


if __name__ == "__main__":
  tf.test.main()
