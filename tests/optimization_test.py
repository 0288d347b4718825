"""Tests of inverse_draw_tf/optimization.py options that the training-step
tests do not reach: gradient clipping, the optimizer's settings, and the
loop's stop after too many skipped updates."""

import json
import os

import keras
import ml_collections
import numpy as np
import tensorflow as tf

from configs import ptb_lm
from configs import ptb_small
from configs import ptb_vae
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import optimization
from inverse_draw_tf import train_lib
import test_case


def _tiny_model():
  keras.utils.set_random_seed(0)
  model = model_lib.InverseDraw(vocab_size=20, embedding_dim=4,
                                decoder_units=8, num_slots=0)
  model(model_lib.example_batch(model))
  return model


def _constant_terms(num_slots):
  """A two-example batch's ELBO terms, as `loss_and_gradients` returns them,
  for a training step fed gradients of our choosing."""
  return dict(loss=tf.constant(1.0), elbo=tf.zeros([2]),
              distortion=tf.zeros([2]), kl=tf.zeros([2]),
              kl_per_slot=tf.zeros([2, num_slots]), num_elements=tf.ones([2]),
              decoder_entropy=tf.constant(0.0),
              posterior_entropy=tf.constant(0.0), kl_weight=tf.constant(1.0),
              read_temperature=tf.constant(1.0))


class ClippingTest(test_case.TestCase):

  def _step(self, clip_norm, gradient_value):
    model = _tiny_model()
    config = ptb_small.get_config("runlocal")
    config.optimizer.clip_norm = clip_norm
    variables = model.trainable_variables
    gradients = [tf.fill(tf.shape(v), gradient_value) for v in variables]
    norm = float(tf.linalg.global_norm(gradients))
    terms = _constant_terms(num_slots=0)
    # Plain SGD at learning rate 1: the update is minus the clipped gradient.
    optimizer = keras.optimizers.SGD(learning_rate=1.0)
    optimizer.build(variables)
    before = [v.numpy() for v in variables]
    sums = optimization.train_step(
        model, optimizer, model_lib.example_batch(model), step=0,
        seed=tf.constant([0, 0]), config=config, global_batch_size=2,
        gradient_fn=lambda b, s: (terms, gradients))
    moved = np.sqrt(sum(np.sum((v.numpy() - b) ** 2)
                        for v, b in zip(variables, before)))
    return moved, norm, sums

  def test_the_update_is_clipped_to_clip_norm(self):
    moved, norm, sums = self._step(clip_norm=0.5, gradient_value=0.1)
    self.assertGreater(norm, 0.5)
    self.assertAllClose(moved, 0.5, rtol=1e-4)
    # The logged norm is the norm before clipping.
    self.assertAllClose(float(sums["grad_norm"]), norm, rtol=1e-5)

  def test_small_and_unclipped_gradients_pass_unchanged(self):
    moved, norm, _ = self._step(clip_norm=1e6, gradient_value=0.1)
    self.assertAllClose(moved, norm, rtol=1e-4)
    moved, norm, _ = self._step(clip_norm=0.0, gradient_value=0.1)
    self.assertAllClose(moved, norm, rtol=1e-4)


  def test_decoder_and_latent_side_clipped_separately(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(vocab_size=20, embedding_dim=4,
                                  encoder_units=4, decoder_units=8,
                                  posterior_units=4, latent_dim=2,
                                  num_slots=3)
    model(model_lib.example_batch(model))
    variables = model.trainable_variables
    in_decoder = [optimization.is_decoder_variable(v) for v in variables]
    paths = [v.path for v in variables]
    # The decoder's LSTM, read head and output layer; the encoder and the
    # posterior on the other side.
    self.assertTrue(any(d and "read_head" in p
                        for d, p in zip(in_decoder, paths)), paths)
    self.assertTrue(any(d and "output" in p
                        for d, p in zip(in_decoder, paths)), paths)
    self.assertTrue(any(not d and "encoder" in p
                        for d, p in zip(in_decoder, paths)), paths)
    self.assertTrue(any(not d and "posterior" in p
                        for d, p in zip(in_decoder, paths)), paths)
    # A large latent-side gradient and a small decoder one.
    gradients = [tf.fill(tf.shape(v), 0.01 if d else 10.0)
                 for v, d in zip(variables, in_decoder)]
    norm_of = lambda part: float(tf.linalg.global_norm(  # pylint: disable=g-long-lambda
        [g for g, d in zip(gradients, in_decoder) if d == part]))
    self.assertLess(norm_of(True), 1.0)
    self.assertGreater(norm_of(False), 1.0)
    terms = _constant_terms(num_slots=3)
    moved = {}
    for separately in (False, True):
      config = ptb_small.get_config("runlocal")
      config.optimizer.update(clip_norm=1.0, clip_separately=separately)
      optimizer = keras.optimizers.SGD(learning_rate=1.0)
      optimizer.build(variables)
      before = [v.numpy() for v in variables]
      optimization.train_step(
          model, optimizer, model_lib.example_batch(model), step=0,
          seed=tf.constant([0, 0]), config=config, global_batch_size=2,
          gradient_fn=lambda b, s: (terms, gradients))
      moved[separately] = {
          part: np.sqrt(sum(np.sum((v.numpy() - b) ** 2)
                            for v, b, d in zip(variables, before, in_decoder)
                            if d == part)) for part in (True, False)}
    total = np.hypot(norm_of(True), norm_of(False))
    # Together: both shrink by the global norm.
    self.assertAllClose(moved[False][True], norm_of(True) / total, rtol=1e-4)
    self.assertAllClose(moved[False][False], norm_of(False) / total,
                        rtol=1e-4)
    # Separately: the small decoder gradient passes whole, the latent side
    # is clipped to the norm alone.
    self.assertAllClose(moved[True][True], norm_of(True), rtol=1e-4)
    self.assertAllClose(moved[True][False], 1.0, rtol=1e-4)

class OptimizerTest(test_case.TestCase):

  def test_adam_gets_the_configured_betas_and_schedule(self):
    config = ml_collections.ConfigDict(dict(
        learning_rate=2e-3, schedule="warmup_cosine", warmup_steps=10,
        final_learning_rate_fraction=0.25, beta_1=0.8, beta_2=0.95))
    optimizer = optimization.build_optimizer(config, num_steps=110)
    self.assertIsInstance(optimizer, optimization.FusedAdam)
    self.assertAllClose(optimizer.beta_1, 0.8)
    self.assertAllClose(optimizer.beta_2, 0.95)
    schedule = optimizer.learning_rate if callable(
        optimizer.learning_rate) else optimizer._learning_rate  # pylint: disable=protected-access
    self.assertAllClose(float(schedule(10)), 2e-3)
    self.assertAllClose(float(schedule(110)), 0.25 * 2e-3)

  def test_constant_schedule(self):
    config = ml_collections.ConfigDict(dict(
        learning_rate=3e-4, schedule="constant", warmup_steps=0,
        final_learning_rate_fraction=0.1, beta_1=0.9, beta_2=0.999))
    optimizer = optimization.build_optimizer(config, num_steps=100)
    self.assertAllClose(float(optimizer.learning_rate), 3e-4)


class FusedAdamTest(test_case.TestCase):
  """FusedAdam's one-kernel update against Keras' Adam, step for step."""

  def _train(self, optimizer_class, strategy, steps=5):
    keras.utils.set_random_seed(0)
    with strategy.scope():
      layer = keras.layers.Dense(4)
      layer.build((None, 3))
      optimizer = optimizer_class(learning_rate=0.01, beta_1=0.8, beta_2=0.95)
      optimizer.build(layer.trainable_variables)

    @tf.function
    def step(inputs):
      def replica_step(inputs):
        with tf.GradientTape() as tape:
          loss = tf.reduce_sum(tf.sin(layer(inputs)))
        gradients = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply_gradients(zip(gradients, layer.trainable_variables))
      strategy.run(replica_step, args=(inputs,))

    for index in range(steps):
      step(tf.constant(np.cos(np.arange(12.0) * (index + 1)).reshape(4, 3),
                       tf.float32))
    kernel = layer.kernel.value
    copies = [v.numpy() for v in getattr(kernel, "values", [kernel])]
    return copies, [v.numpy() for v in optimizer.variables]

  def test_matches_keras_adam(self):
    strategy = tf.distribute.get_strategy()
    (expected,), expected_state = self._train(keras.optimizers.Adam, strategy)
    (fused,), fused_state = self._train(optimization.FusedAdam, strategy)
    self.assertNotAllClose(expected, self._train(keras.optimizers.Adam,
                                                 strategy, steps=0)[0][0])
    self.assertAllClose(expected, fused, rtol=1e-6, atol=1e-6)
    for want, got in zip(expected_state, fused_state):  # Step count, m, v.
      self.assertAllClose(want, got, rtol=1e-6, atol=1e-6)

  def test_every_mirrored_copy_gets_the_update(self):
    (expected,), _ = self._train(keras.optimizers.Adam,
                                 tf.distribute.get_strategy())
    copies, _ = self._train(optimization.FusedAdam,
                            tf.distribute.MirroredStrategy(["/cpu:0",
                                                            "/cpu:1"]))
    self.assertLen(copies, 2)
    for copy in copies:
      self.assertAllClose(expected, copy, rtol=1e-6, atol=1e-6)

  def test_an_adam_checkpoint_restores_into_fused_adam(self):
    strategy = tf.distribute.get_strategy()
    _, state = self._train(keras.optimizers.Adam, strategy)
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    adam = keras.optimizers.Adam(learning_rate=0.01)
    adam.build(layer.trainable_variables)
    for variable, value in zip(adam.variables, state):
      variable.assign(value)
    path = tf.train.Checkpoint(optimizer=adam, layer=layer).save(
        os.path.join(self.get_temp_dir(), "adam"))
    fused = optimization.FusedAdam(learning_rate=0.01)
    fused.build(layer.trainable_variables)
    tf.train.Checkpoint(optimizer=fused, layer=layer).restore(
        path).assert_consumed()
    for want, got in zip(state, fused.variables):
      self.assertAllEqual(want, got)

  def test_sparse_gradients_use_keras_update(self):
    keras.utils.set_random_seed(1)
    table = keras.Variable(np.ones([5, 2], np.float32))
    optimizers = [keras.optimizers.Adam(0.1), optimization.FusedAdam(0.1)]
    results = []
    for optimizer in optimizers:
      table.assign(np.ones([5, 2], np.float32))
      optimizer.build([table])
      gradient = tf.IndexedSlices(tf.constant([[1.0, -2.0]]),
                                  tf.constant([3]), tf.constant([5, 2]))
      optimizer.apply_gradients([(gradient, table)])
      results.append(table.numpy())
    self.assertAllClose(results[0], results[1])
    self.assertAllEqual(results[1][0], [1.0, 1.0])  # Untouched rows stay.


class ConsecutiveSkipsTest(test_case.TestCase):

  def test_the_loop_stops_after_max_consecutive_skipped_updates(self):
    config = ptb_small.get_config("runlocal")
    config.optimizer.skip_grad_norm = 1e-9  # Every real gradient exceeds it.
    config.train.max_consecutive_nonfinite = 3
    config.train.summary_examples = 0
    workdir = self.create_tempdir().full_path
    with self.assertRaisesRegex(
        train_lib.NonFiniteError,
        r"^3 consecutive updates had a non-finite loss or gradient \(last at "
        r"step 3\)"):
      train_lib.train(config, workdir)


class PlateauScheduleTest(test_case.TestCase):

  def test_counts_stale_validations_and_decays(self):
    plateau = optimization.PlateauSchedule(factor=0.5, patience=2,
                                           max_decays=2)
    improved = [True, False, True, False, False, False, True, False, False]
    decayed = [plateau.observe(i) for i in improved]
    # Stale runs of 1, 2 (a plateau), then 1 after the improvement at 7,
    # then 2 (the second plateau).
    self.assertEqual(decayed, [False, False, False, False, True, False,
                               False, False, True])
    self.assertEqual(int(plateau.decays.numpy()), 2)
    self.assertTrue(plateau.finished)

  def test_no_plateau_before_start_step(self):
    plateau = optimization.PlateauSchedule(0.5, patience=2, max_decays=5,
                                           start_step=30)
    # Stale at steps 10, 20 (counted, too early) and 30 (a plateau).
    self.assertEqual([plateau.observe(False, step) for step in (10, 20, 30)],
                     [False, False, True])
    self.assertEqual(int(plateau.stale_validations.numpy()), 0)

  def test_latent_configs_get_li_et_al_vae_schedule(self):
    epoch = 1315  # PTB's 42,068 training sentences in batches of 32.
    lm = ptb_lm.get_config("budget=literature,optimizer=sgd")
    vae = ptb_vae.get_config("budget=literature,optimizer=sgd")
    self.assertEqual((lm.optimizer.name, lm.optimizer.learning_rate,
                      lm.optimizer.plateau_patience,
                      lm.optimizer.plateau_start_step, lm.train.num_steps,
                      lm.train.eval_every),
                     ("sgd", 1.0, 2, 0, 100 * epoch, epoch))
    self.assertEqual((vae.optimizer.plateau_patience,
                      vae.optimizer.plateau_start_step),
                     (5, 15 * epoch))
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"`config.optimizer.warmup_steps` must be 0 with schedule 'plateau'"):
      vae.optimizer.warmup_steps = 100
      config_lib.validate(vae)

  def test_counters_are_checkpointed(self):
    plateau = optimization.PlateauSchedule(0.5, patience=3, max_decays=5)
    for improved in (False, False, False, False):
      plateau.observe(improved)
    path = tf.train.Checkpoint(plateau=plateau).save(
        os.path.join(self.create_tempdir().full_path, "ckpt"))
    restored = optimization.PlateauSchedule(0.5, patience=3, max_decays=5)
    tf.train.Checkpoint(plateau=restored).restore(path).assert_consumed()
    self.assertEqual(int(restored.decays.numpy()), 1)
    self.assertEqual(int(restored.stale_validations.numpy()), 1)

  def test_decay_restores_the_best_weights_and_scales_the_rate(self):
    model = _tiny_model()
    optimizer = optimization.build_optimizer(
        ml_collections.ConfigDict(dict(name="sgd", momentum=0.0,
                                       learning_rate=1.0,
                                       schedule="plateau")), 10)
    optimizer.build(model.trainable_variables)
    best = [v.numpy() for v in model.trainable_variables]
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=model, optimizer=optimizer),
        self.create_tempdir().full_path, max_to_keep=1)
    manager.save(checkpoint_number=7)
    for variable in model.trainable_variables:
      variable.assign(variable + 1.0)
    plateau = optimization.PlateauSchedule(0.25, patience=1, max_decays=3)
    self.assertTrue(plateau.observe(False))
    record = train_lib._decay_on_plateau(model, optimizer, plateau, manager)
    self.assertEqual(record, dict(learning_rate=0.25, decays=1,
                                  restored="ckpt-7"))
    self.assertAllClose(float(optimizer.learning_rate), 0.25)
    for want, got in zip(best, model.trainable_variables):
      self.assertAllEqual(want, got.numpy())

  def test_a_run_ends_at_its_last_plateau_and_stays_ended(self):
    # A learning rate far below float32's resolution of the weights leaves
    # them (and so the validation ELBO) exactly as they are: every
    # validation after the first is stale.
    config = ptb_lm.get_config("optimizer=sgd,runlocal")
    config.optimizer.update(learning_rate=1e-12, plateau_patience=1,
                            plateau_max_decays=2)
    config.train.update(num_steps=40, eval_every=2, log_every=2,
                        checkpoint_every=10, summary_examples=0)
    workdir = self.create_tempdir().full_path
    train_lib.train(config, workdir)
    records = [json.loads(line) for line in
               open(os.path.join(workdir, "metrics.jsonl"))]
    plateaus = [r for r in records if r["kind"] == "plateau"]
    self.assertEqual([(r["step"], r["decays"], r["restored"])
                      for r in plateaus], [(4, 1, "ckpt-2"), (6, 2, "ckpt-2")])
    self.assertAllClose([r["learning_rate"] for r in plateaus],
                        [5e-13, 2.5e-13])
    self.assertEqual(max(r["step"] for r in records), 6)
    self.assertEqual(os.path.basename(tf.train.latest_checkpoint(
        os.path.join(workdir, "checkpoints"))), "ckpt-6")
    train_lib.train(config, workdir)  # Resumed: nothing left to do.
    self.assertLen(open(os.path.join(workdir, "metrics.jsonl")).readlines(),
                   len(records))


class VocabularyOptionsTest(test_case.TestCase):

  def test_vocab_max_size_and_min_count_shape_the_vocabulary(self):
    directory = self.create_tempdir().full_path
    paths = {}
    for split, text in (("train", "a a a b b c\nb a d\n"),
                        ("valid", "a b\n"), ("test", "c d\n")):
      paths[split] = os.path.join(directory, f"{split}.txt")
      with open(paths[split], "w") as f:
        f.write(text)
    for max_size, min_count, words in ((0, 1, ["a", "b", "c", "d"]),
                                       (0, 2, ["a", "b"]),
                                       (5, 1, ["a"])):
      config = ml_collections.ConfigDict(dict(
          dataset="text", train_path=paths["train"],
          valid_path=paths["valid"], test_path=paths["test"],
          vocab_max_size=max_size, vocab_min_count=min_count))
      workdir = self.create_tempdir().full_path
      inputs = data.Input(config, workdir)
      tokens = data.load_vocabulary(os.path.join(workdir, "vocab.txt"))
      self.assertEqual(tokens[len(data.SPECIAL_TOKENS):], words)
      self.assertEqual(inputs.vocab_size, len(data.SPECIAL_TOKENS) + len(words))


class MinScaleTest(test_case.TestCase):

  def test_min_scale_is_added_to_every_posterior_scale(self):
    scales = []
    for min_scale in (1e-4, 0.7):
      keras.utils.set_random_seed(0)
      model = model_lib.InverseDraw(
          vocab_size=20, embedding_dim=4, encoder_units=4, decoder_units=8,
          posterior_units=4, num_slots=3, latent_dim=2, min_scale=min_scale)
      # Along the mean path the slots do not depend on the scales.
      scales.append(model.posterior_mean(model_lib.example_batch(
          model, batch_size=3))["posterior_scale"][0].numpy())
    self.assertAllGreaterEqual(scales[1], 0.7)
    self.assertAllClose(scales[1] - scales[0],
                        np.full(scales[0].shape, 0.7 - 1e-4), atol=1e-6)


if __name__ == "__main__":
  tf.test.main()
