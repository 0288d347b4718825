"""Aggressive inference-network training (`aggressive.py`, He et al. 2019):
the inner loop's stopping rule and the mode's end by hand, the split of the
variables, one-sided updates, the inner optimizer's learning rate, and a run
of `train_lib.train` that resumes to the weights of an uninterrupted one."""

import json
import os

import ml_collections
import numpy as np
import tensorflow as tf

from configs import ptb_vae
from inverse_draw_tf import aggressive
from inverse_draw_tf import config_lib
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import optimization
from inverse_draw_tf import train_lib
import test_case


def tiny_config(arg="aggressive=true,runlocal"):
  config = ptb_vae.get_config(arg)
  config.optimizer.update(aggressive_max_inner_steps=6, aggressive_window=2)
  config.train.update(num_steps=8, eval_every=4, log_every=2,
                      checkpoint_every=4, summary_examples=0)
  return config


def scripted_step(losses, elements=10.0):
  """An inner step returning `losses` (per element) one call at a time."""
  calls = iter(losses)
  return lambda: (next(calls) * elements, elements)


class InnerLoopTest(test_case.TestCase):

  def setUp(self):
    super().setUp()
    self.model = model_lib.build_model(tiny_config().model, 30)
    self.model(model_lib.example_batch(self.model))
    config = ml_collections.ConfigDict(dict(
        name="sgd", momentum=0.0, learning_rate=1.0, schedule="plateau",
        aggressive_max_inner_steps=10, aggressive_window=3))
    self.main = optimization.build_optimizer(config, 100)
    self.main.build(self.model.trainable_variables)
    self.state = aggressive.AggressiveInference(
        config, self.main, aggressive.inference_variables(self.model), 100)

  def test_stops_at_the_first_window_whose_loss_rose(self):
    # Windows of 3: means 5, 4, then 4.5 > 4: stop after the ninth update.
    losses = [6, 5, 4, 4, 4, 4, 5, 4, 4.5, 1, 1, 1]
    self.assertEqual(self.state.run_inner_loop(scripted_step(losses)), 9)
    # Equal windows are not a rise; ten updates at most.
    self.assertEqual(self.state.run_inner_loop(scripted_step([2.0] * 20)), 10)
    # Windows are compared per element, not per batch.
    calls = iter([(30.0, 10.0)] * 3 + [(40.0, 20.0)] * 3 + [(35.0, 10.0)] * 3)
    self.assertEqual(self.state.run_inner_loop(lambda: next(calls)), 9)

  def test_mode_ends_for_good_when_the_mutual_information_falls(self):
    observed = [self.state.observe_mutual_information(mi)
                for mi in (0.5, 1.5, 1.5, 1.2, 3.0)]
    self.assertEqual(observed, [True, True, True, False, False])
    self.assertAllClose(float(self.state.last_mutual_information.numpy()),
                        1.2)

  def test_variables_split_into_the_two_sides(self):
    inference = aggressive.inference_variables(self.model)
    generative = aggressive.generative_variables(self.model)
    everything = self.model.trainable_variables
    self.assertLen(inference + generative, len(everything))
    self.assertEmpty({id(v) for v in inference} & {id(v) for v in generative})
    paths = [v.path for v in inference]
    self.assertTrue(any("encoder" in p for p in paths), paths)
    self.assertTrue(any("posterior" in p for p in paths), paths)
    self.assertFalse(any(optimization.is_decoder_variable(v)
                         for v in inference))
    self.assertTrue(all(optimization.is_decoder_variable(v)
                        for v in generative), [v.path for v in generative])

  def test_inner_learning_rate_follows_the_main_optimizer(self):
    self.assertAllClose(float(self.state.optimizer.learning_rate), 1.0)
    self.main.learning_rate = 0.25  # A plateau decay.
    self.assertAllClose(float(self.state.optimizer.learning_rate), 0.25)
    config = tiny_config().optimizer  # Adam under warm-up and cosine decay.
    main = optimization.build_optimizer(config, 100)
    main.build(self.model.trainable_variables)
    state = aggressive.AggressiveInference(
        config, main, aggressive.inference_variables(self.model), 100)
    main.iterations.assign(3)
    self.assertAllClose(float(state.optimizer.learning_rate),
                        float(main.learning_rate))
    self.assertAllClose(float(state.optimizer.learning_rate),
                        config.learning_rate * 4 / config.warmup_steps)

  def test_a_one_sided_step_moves_only_its_side(self):
    config = tiny_config()
    batch = {"tokens": tf.constant([[5, 6, 7, 3], [8, 9, 3, 0]], tf.int32)}
    for variables, other, optimizer in (
        (aggressive.inference_variables(self.model),
         aggressive.generative_variables(self.model), self.state.optimizer),
        (aggressive.generative_variables(self.model),
         aggressive.inference_variables(self.model), self.main)):
      before = [v.numpy() for v in variables]
      other_before = [v.numpy() for v in other]
      tf.distribute.get_strategy().run(
          lambda: optimization.train_step(
              self.model, optimizer, batch, step=tf.constant(3, tf.int64),
              seed=tf.constant([1, 2]), config=config, global_batch_size=2,
              variables=variables))
      self.assertTrue(any(np.any(b != v.numpy())
                          for b, v in zip(before, variables)))
      for b, v in zip(other_before, other):
        self.assertAllEqual(b, v.numpy(), msg=v.path)


class AggressiveTrainingTest(test_case.TestCase):

  def test_trains_logs_and_resumes_exactly(self):
    config = tiny_config()
    config_lib.validate(config)
    straight = self.create_tempdir().full_path
    train_lib.train(config, straight)
    records = [json.loads(line)
               for line in open(os.path.join(straight, "metrics.jsonl"))]
    train = [r for r in records if r["kind"] == "train"]
    valid = [r for r in records if r["kind"] == "valid"]
    self.assertEqual([r["step"] for r in valid], [4, 8])
    # While aggressive, every step runs 1-6 inner updates; once off, none.
    for record in train:
      if "inner_updates" in record:
        self.assertBetween(record["inner_updates"], 1, 6)
    self.assertIn("inner_updates", train[0])
    self.assertTrue(valid[0]["aggressive"])
    self.assertTrue(np.isfinite(valid[0]["mutual_information"]))
    # Half the run, then the rest from its checkpoint: the same weights.
    resumed = self.create_tempdir().full_path
    half = tiny_config()
    half.train.num_steps = 4
    train_lib.train(half, resumed)
    train_lib.train(config, resumed)
    for name in (straight, resumed):
      self.assertEqual(os.path.basename(tf.train.latest_checkpoint(
          os.path.join(name, "checkpoints"))), "ckpt-8")
    straight_reader = tf.train.load_checkpoint(
        os.path.join(straight, "checkpoints", "ckpt-8"))
    resumed_reader = tf.train.load_checkpoint(
        os.path.join(resumed, "checkpoints", "ckpt-8"))
    names = [n for n in straight_reader.get_variable_to_shape_map()
             if n.startswith(("model/", "aggressive/"))]
    self.assertTrue(any("inner_batches" in n for n in names), names)
    for name in names:
      self.assertAllClose(straight_reader.get_tensor(name),
                          resumed_reader.get_tensor(name), atol=1e-6,
                          msg=name)

  def test_config_errors(self):
    config = tiny_config()
    config.optimizer.aggressive_window = 0
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"`config\.optimizer\.aggressive_window` "
                                r"must be an integer >= 1"):
      config_lib.validate(config)
    from configs import ptb_lm  # pylint: disable=g-import-not-at-top
    config = ptb_lm.get_config("runlocal")
    config.optimizer.aggressive_inference = True
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"False for a model without slots"):
      config_lib.validate(config)


if __name__ == "__main__":
  tf.test.main()
