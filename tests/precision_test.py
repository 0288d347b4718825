"""Mixed precision (`config.train.precision`, `model.build_model`): float32
variables, low-precision compute, float32 likelihoods and loss, and the same
ELBO as float32 to within bfloat16's rounding."""

import keras
import tensorflow as tf

from configs import ptb
from configs import ptb_small
from inverse_draw_tf import config_lib
from inverse_draw_tf import metrics
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import optimization

_SMALL = dict(embedding_dim=16, encoder_units=8, decoder_units=16,
              posterior_units=8, prior_units=8, latent_dim=4, num_slots=3)


def _models(arg, precision):
  """A float32 model and a `precision` one with the same weights."""
  config = ptb.get_config(arg)
  config.model.update(_SMALL)
  models = []
  for each in ("float32", precision):
    keras.utils.set_random_seed(0)
    model = model_lib.build_model(config.model, 40, precision=each)
    model(model_lib.example_batch(model))
    models.append(model)
  models[1].set_weights(models[0].get_weights())
  return config, models


def _batch():
  return {"tokens": tf.constant([[5, 9, 12, 30, 7, 2], [8, 21, 2, 0, 0, 0],
                                 [4, 4, 6, 11, 2, 0]])}


class MixedPrecisionTest(tf.test.TestCase):

  def test_bfloat16_compute_with_float32_likelihood(self):
    for arg in ("budget=results", "alignment=exact,attention=window,"
                "posterior_window_step=3.0,budget=results",
                "encoder_context=2,budget=results"):
      _, (full, mixed) = _models(arg, "mixed_bfloat16")
      self.assertEqual(mixed.compute_dtype, "bfloat16")
      self.assertTrue(all(v.dtype == "float32"
                          for v in mixed.trainable_variables))
      memory, _ = mixed.encode_observation(_batch())
      self.assertEqual(memory.dtype, tf.bfloat16)
      seed = tf.constant([3, 4])
      want = objectives.evidence_lower_bound(full, _batch(), seed=seed)
      got = objectives.evidence_lower_bound(mixed, _batch(), seed=seed)
      for key in ("elbo", "distortion", "kl", "loss"):
        self.assertEqual(got[key].dtype, tf.float32, key)
      # About 20 nats a sentence; bfloat16 keeps 8 bits of mantissa.
      self.assertAllClose(want["elbo"], got["elbo"], rtol=0.01, msg=arg)
      self.assertNotAllClose(want["elbo"], got["elbo"], rtol=1e-6, atol=0)

  def test_decoding_runs_in_bfloat16_from_float32_latents(self):
    # The training summaries decode float32 posterior means (summaries.py):
    # a mixed model must take them, greedy, sampled and by beam search.
    for arg in ("budget=results", "alignment=exact,attention=window,"
                "posterior_window_step=3.0,budget=results",
                "encoder_context=2,budget=results"):
      _, (full, mixed) = _models(arg, "mixed_bfloat16")
      latents = tf.random.stateless_normal([2, 3, 4], [1, 2])
      for model in (full, mixed):
        greedy = model.generate(latents, 6, greedy=True)
        self.assertEqual(greedy["elements"].shape[0], 2, arg)
        sampled = model.generate(latents, 6, seed=tf.constant([1, 2]))
        self.assertEqual(sampled["elements"].shape[0], 2, arg)
        beam = model.beam_search(latents, 6, 3)
        self.assertEqual(beam["elements"].shape[0], 2, arg)

  def test_validation_statistics_in_float32(self):
    # Validation inside training runs in the training precision: the exact
    # alignment's float32 assignment meets bfloat16 read weights.
    for arg in ("budget=results", "alignment=exact,attention=window,"
                "posterior_window_step=3.0,budget=results",
                "encoder_context=2,budget=results"):
      _, (full, mixed) = _models(arg, "mixed_bfloat16")
      seed = tf.constant([3, 4])
      want = metrics.batch_sums(full, _batch(), seed=seed)
      got = metrics.batch_sums(mixed, _batch(), seed=seed)
      for key in ("decoder_entropy", "posterior_entropy",
                  "assignment_entropy", "slot_mass"):
        self.assertEqual(got[key].dtype, tf.float32, key)
        self.assertAllClose(want[key], got[key], rtol=0.05, atol=0.05,
                            msg=f"{arg}: {key}")

  def test_a_training_step_updates_the_float32_weights(self):
    config, (_, mixed) = _models("budget=results", "mixed_bfloat16")
    optimizer = optimization.build_optimizer(config.optimizer, 10)
    optimizer.build(mixed.trainable_variables)
    before = [v.numpy() for v in mixed.trainable_variables]
    sums = optimization.train_step(
        mixed, optimizer, _batch(), step=tf.constant(0, tf.int64),
        seed=tf.constant([1, 2]), config=config, global_batch_size=3)
    self.assertEqual(float(sums["applied"]), 1.0)
    self.assertTrue(tf.math.is_finite(sums["loss"]))
    changed = [not (b == v.numpy()).all()
               for b, v in zip(before, mixed.trainable_variables)]
    self.assertGreater(sum(changed), len(changed) // 2)

  def test_a_language_model_trains_in_bfloat16(self):
    # K=0 has no latent densities: the ELBO adds float32 zeros, not
    # bfloat16 ones (a dtype clash in AddV2 before).
    config = ptb.get_config("budget=results")
    config.model.update(_SMALL)
    config.model.num_slots = 0
    keras.utils.set_random_seed(0)
    model = model_lib.build_model(config.model, 40, precision="mixed_bfloat16")
    model(model_lib.example_batch(model))
    terms = objectives.evidence_lower_bound(model, _batch(),
                                            seed=tf.constant([3, 4]))
    self.assertEqual(terms["elbo"].dtype, tf.float32)
    self.assertAllEqual(terms["kl"], tf.zeros([3]))
    self.assertTrue(tf.reduce_all(terms["elbo"] < 0))

  def test_the_global_policy_is_left_alone(self):
    _models("budget=results", "mixed_bfloat16")
    self.assertEqual(keras.config.dtype_policy().name, "float32")

  def test_bad_precisions_are_one_line_errors(self):
    with self.assertRaisesRegex(ValueError, "`precision` must be one of"):
      model_lib.build_model(ptb_small.get_config().model, 40,
                            precision="float64")
    config = ptb_small.get_config()
    for precision, message in (("mixed_float16", "would need loss scaling"),
                               ("half", "one of")):
      config.train.precision = precision
      with self.assertRaisesRegex(config_lib.ConfigError,
                                  f"train.precision.*{message}"):
        config_lib.validate(config)


if __name__ == "__main__":
  tf.test.main()
