"""Tests of inverse_draw_tf/objectives.py against hand computations."""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
import test_case

tfd = tfp.distributions
SMALL = dict(vocab_size=40, embedding_dim=8, encoder_units=8, decoder_units=16,
             posterior_units=8, prior_units=8, latent_dim=3)
SEED = tf.constant([5, 6])


def batch_of(size=12, length=7, seed=0):
  rng = np.random.RandomState(seed)
  lengths = rng.randint(2, length + 1, size=size)
  tokens = np.zeros([size, length], np.int32)
  for row, n in enumerate(lengths):
    tokens[row, :n - 1] = rng.randint(4, 40, size=n - 1)
    tokens[row, n - 1] = 3
  return {"tokens": tf.constant(tokens)}


def make_model(**kwargs):
  keras.utils.set_random_seed(1)
  model = model_lib.InverseDraw(**dict(SMALL, **kwargs))
  model(batch_of())
  return model


def numpy_gaussian_kl(mu_q, s_q, mu_p, s_p):
  return 0.5 * np.sum(s_q ** 2 / s_p ** 2 + (mu_p - mu_q) ** 2 / s_p ** 2 - 1
                      + np.log(s_p ** 2 / s_q ** 2), axis=-1)


class KLTest(test_case.TestCase):

  def test_gaussian_kl_matches_closed_form(self):
    rng = np.random.RandomState(0)
    mu_q, mu_p = rng.randn(2, 4, 3), rng.randn(2, 4, 3)
    s_q, s_p = rng.uniform(0.2, 2, (2, 4, 3)), rng.uniform(0.2, 2, (2, 4, 3))
    kl = tfd.kl_divergence(model_lib.gaussian_slots(mu_q, s_q),
                           model_lib.gaussian_slots(mu_p, s_p))
    self.assertEqual(kl.shape, (2, 4))  # The batch shape (B, K).
    self.assertAllClose(kl, numpy_gaussian_kl(mu_q, s_q, mu_p, s_p))

  def test_kl_is_zero_when_posterior_equals_prior(self):
    q = model_lib.gaussian_slots(tf.zeros([2, 4, 3]), tf.ones([2, 4, 3]))
    p = model_lib.standard_normal_slots(2, 4, 3)
    self.assertAllEqual(tfd.kl_divergence(q, p), np.zeros([2, 4]))

  def test_model_kl_is_closed_form_of_its_posterior(self):
    model = make_model(num_slots=4)
    out = model(batch_of(), seed=SEED)
    mu = out["posterior_loc"][0].numpy()
    sigma = out["posterior_scale"][0].numpy()
    self.assertAllClose(out["kl"][0],
                        numpy_gaussian_kl(mu, sigma, 0.0, 1.0), rtol=1e-5)

  def test_monte_carlo_kl_is_unbiased(self):
    model = make_model(num_slots=2)
    batch = batch_of(size=4)
    analytic = objectives.evidence_lower_bound(model, batch, seed=SEED)
    monte_carlo = tf.function(lambda seed: objectives.evidence_lower_bound(
        model, batch, seed=seed, analytic_kl=False)["rate"])
    estimates = [monte_carlo(tf.constant([i, 9])) for i in range(300)]
    self.assertAllClose(np.mean(estimates, 0), analytic["rate"], rtol=0.1,
                        atol=0.1)


class ElboTest(test_case.TestCase):

  def test_terms_add_up(self):
    model = make_model(num_slots=(3, 2))
    terms = objectives.evidence_lower_bound(model, batch_of(), seed=SEED)
    self.assertAllClose(terms["elbo"], -terms["distortion"] - terms["rate"])
    self.assertAllClose(terms["rate"],
                        tf.reduce_sum(terms["kl_per_slot"], 1))
    self.assertAllClose(terms["rate"],
                        tf.reduce_sum(terms["kl_per_level"], 1))
    self.assertEqual(terms["kl_per_slot"].shape, (12, 5))
    self.assertEqual(terms["kl_per_level"].shape, (12, 2))

  def test_loss_with_free_bits_matches_numpy(self):
    model = make_model(num_slots=3)
    batch = batch_of()
    for kl_weight, free_bits in ((0.0, 0.0), (1.0, 0.0), (0.3, 0.5),
                                 (1.0, 100.0)):
      terms = objectives.evidence_lower_bound(
          model, batch, seed=SEED, kl_weight=kl_weight, free_bits=free_bits)
      kl = terms["kl_per_slot"].numpy()
      expected = (np.mean(terms["distortion"]) + kl_weight *
                  np.sum(np.maximum(free_bits, kl.mean(0))))
      self.assertAllClose(terms["loss"], expected, rtol=1e-5)
    # Under tf.distribute each replica divides by the global batch size.
    local = objectives.evidence_lower_bound(model, batch, seed=SEED)["loss"]
    scaled = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                             global_batch_size=24)["loss"]
    self.assertAllClose(scaled, 0.5 * local, rtol=1e-5)

  def test_free_bits_remove_the_kl_gradient_below_the_floor(self):
    model = make_model(num_slots=2)
    batch = batch_of()
    variables = model.trainable_variables

    def gradients(**kwargs):
      with tf.GradientTape() as tape:
        loss = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                               **kwargs)["loss"]
      return loss, tape.gradient(loss, variables)

    # Every slot below a huge floor: the rate term is a constant, so the
    # gradient is that of the distortion alone.
    floored_loss, floored = gradients(free_bits=1e6)
    distortion_loss, distortion_only = gradients(kl_weight=0.0)
    self.assertAllClose(floored_loss, distortion_loss + 2 * 1e6, rtol=1e-6)
    for a, b in zip(floored, distortion_only):
      self.assertAllClose(tf.convert_to_tensor(a), tf.convert_to_tensor(b),
                          atol=1e-6)

  def test_negative_arguments_raise(self):
    model = make_model(num_slots=2)
    with self.assertRaisesRegex(ValueError, r"`kl_weight` must be >= 0"):
      objectives.evidence_lower_bound(model, batch_of(), seed=SEED,
                                      kl_weight=-1.0)
    with self.assertRaisesRegex(ValueError, r"`free_bits` must be >= 0"):
      objectives.evidence_lower_bound(model, batch_of(), seed=SEED,
                                      free_bits=-1.0)

  def test_entropies_are_reported(self):
    model = make_model(num_slots=4)
    terms = objectives.evidence_lower_bound(model, batch_of(), seed=SEED)
    self.assertBetween(float(terms["decoder_entropy"]), 0.0, math.log(4))
    no_latents = objectives.evidence_lower_bound(make_model(num_slots=0),
                                                 batch_of(), seed=SEED)
    self.assertEqual(float(no_latents["decoder_entropy"]), 0.0)
    self.assertEqual(no_latents["kl_per_slot"].shape, (12, 0))


class IwaeTest(test_case.TestCase):

  def test_one_sample_iwae_is_the_elbo_estimator(self):
    model = make_model(num_slots=3)
    batch = batch_of()
    iwae = objectives.iwae_bound(model, batch, 1, seed=SEED)
    single = objectives.evidence_lower_bound(
        model, batch, seed=tf.random.experimental.stateless_fold_in(SEED, 0))
    self.assertAllClose(iwae, single["log_weight"], atol=1e-5)

  def test_bound_tightens_with_more_samples(self):
    model = make_model(num_slots=3)
    batch = batch_of(size=32, seed=3)
    elbo = np.mean([objectives.evidence_lower_bound(
        model, batch, seed=tf.constant([i, 1]))["elbo"].numpy()
                    for i in range(20)])
    iwae_10 = float(tf.reduce_mean(objectives.iwae_bound(model, batch, 10,
                                                         seed=SEED)))
    iwae_100 = float(tf.reduce_mean(objectives.iwae_bound(model, batch, 100,
                                                          seed=SEED)))
    self.assertLessEqual(elbo, iwae_10, (elbo, iwae_10, iwae_100))
    self.assertLessEqual(iwae_10, iwae_100, (elbo, iwae_10, iwae_100))

  def test_chunks_combine_exactly(self):
    model = make_model(num_slots=2)
    batch = batch_of(size=5)
    total = objectives.iwae_bound(model, batch, 7, seed=SEED, chunk_size=3)
    # Chunk i draws 3 samples with stateless_fold_in(seed, i); the third
    # chunk's last two samples overshoot S=7 and are dropped.
    weights = [objectives.importance_log_weights(
        model, batch, 3,
        seed=tf.random.experimental.stateless_fold_in(SEED, i)).numpy()
               for i in range(3)]
    log_weights = np.concatenate(weights, 0)[:7]
    self.assertEqual(weights[0].shape, (3, 5))
    expected = (np.log(np.sum(np.exp(log_weights - log_weights.max(0)), 0)) +
                log_weights.max(0) - np.log(7))
    self.assertAllClose(total, expected, atol=1e-4)

  def test_no_latents_gives_the_exact_likelihood(self):
    model = make_model(num_slots=0)
    batch = batch_of()
    exact = model(batch)["log_likelihood"]
    self.assertAllClose(objectives.iwae_bound(model, batch, 4, seed=SEED),
                        exact, atol=1e-5)

  def test_invalid_sample_count(self):
    with self.assertRaisesRegex(ValueError, r"`num_samples` must be a positive"):
      objectives.iwae_bound(make_model(num_slots=1), batch_of(), 0, seed=SEED)


if __name__ == "__main__":
  tf.test.main()
