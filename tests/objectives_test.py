"""Tests of inverse_draw_tf/objectives.py (and the model's KL terms) against
hand computations in NumPy."""

import math

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from configs import common
from inverse_draw_tf import data
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import optimization
from inverse_draw_tf import slots as slots_lib
import test_case

tfd = tfp.distributions
fold_in = tf.random.experimental.stateless_fold_in
VOCAB_SIZE = 40
SMALL = dict(vocab_size=VOCAB_SIZE, embedding_dim=8, encoder_units=8,
             decoder_units=16, posterior_units=8, prior_units=8, latent_dim=3)
SEED = tf.constant([5, 6])


def batch_of(size=12, length=7, seed=0):
  """Random "sentences" of 1 to `length - 1` words, `<eos>`, then padding."""
  rng = np.random.RandomState(seed)
  lengths = rng.randint(2, length + 1, size=size)
  tokens = np.full([size, length], data.PAD_ID, np.int32)
  for row, n in enumerate(lengths):
    tokens[row, :n - 1] = rng.randint(len(data.SPECIAL_TOKENS), VOCAB_SIZE,
                                      size=n - 1)
    tokens[row, n - 1] = data.EOS_ID
  return {"tokens": tf.constant(tokens)}


def tile(batch, times):
  """`times` copies of every example, copy-major."""
  return {key: tf.tile(value, [times, 1]) for key, value in batch.items()}


def make_model(**kwargs):
  keras.utils.set_random_seed(1)
  model = model_lib.InverseDraw(**dict(SMALL, **kwargs))
  model(batch_of())
  return model


def numpy_gaussian_kl(mu_q, s_q, mu_p, s_p):
  """KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) summed over the last axis."""
  return 0.5 * np.sum(s_q ** 2 / s_p ** 2 + (mu_p - mu_q) ** 2 / s_p ** 2 - 1
                      + np.log(s_p ** 2 / s_q ** 2), axis=-1)


def numpy_log_mean_exp(log_weights, axis=0):
  top = log_weights.max(axis)
  return (np.log(np.mean(np.exp(log_weights - top), axis)) + top)


class KLTest(test_case.TestCase, parameterized.TestCase):

  def test_gaussian_kl_matches_closed_form(self):
    rng = np.random.RandomState(0)
    mu_q, mu_p = rng.randn(2, 4, 3), rng.randn(2, 4, 3)
    s_q, s_p = rng.uniform(0.2, 2, (2, 4, 3)), rng.uniform(0.2, 2, (2, 4, 3))
    q = slots_lib.gaussian_slots(mu_q.astype(np.float32),
                                 s_q.astype(np.float32))
    p = slots_lib.gaussian_slots(mu_p.astype(np.float32),
                                 s_p.astype(np.float32))
    self.assertEqual(q.batch_shape, (2, 4))
    self.assertEqual(q.event_shape, (3,))
    kl = tfd.kl_divergence(q, p)
    self.assertEqual(kl.shape, (2, 4))  # The batch shape (B, K).
    self.assertAllClose(kl, numpy_gaussian_kl(mu_q, s_q, mu_p, s_p),
                        rtol=1e-5)
    self.assertAllGreater(kl, 0.0)

  def test_kl_is_zero_when_posterior_equals_prior(self):
    q = slots_lib.gaussian_slots(tf.zeros([2, 4, 3]), tf.ones([2, 4, 3]))
    p = slots_lib.standard_normal_slots(2, 4, 3)
    self.assertEqual(p.batch_shape, (2, 4))
    self.assertAllEqual(tfd.kl_divergence(q, p), np.zeros([2, 4]))
    rng = np.random.RandomState(1)
    loc = rng.randn(2, 4, 3).astype(np.float32)
    scale = rng.uniform(0.1, 3, (2, 4, 3)).astype(np.float32)
    same = tfd.kl_divergence(slots_lib.gaussian_slots(loc, scale),
                             slots_lib.gaussian_slots(loc, scale))
    self.assertAllClose(same, np.zeros([2, 4]), atol=1e-6)

  @parameterized.named_parameters(
      ("recurrent", dict(num_slots=4)),
      ("mean_pooled", dict(num_slots=4, posterior_type="mean_pooled")),
      ("masked_slots", dict(num_slots=4, slots_per_token=0.5)),
  )
  def test_model_kl_is_closed_form_of_its_posterior(self, kwargs):
    model = make_model(**kwargs)
    out = model(batch_of(), seed=SEED)
    mu = out["posterior_loc"][0].numpy()
    sigma = out["posterior_scale"][0].numpy()
    mask = out["slot_mask"][0].numpy()
    expected = numpy_gaussian_kl(mu, sigma, 0.0, 1.0) * mask
    self.assertEqual(out["kl"][0].shape, (12, 4))
    self.assertAllClose(out["kl"][0], expected, rtol=1e-5, atol=1e-6)
    self.assertTrue(np.all(out["kl"][0].numpy()[~mask] == 0.0))

  def test_hierarchical_kl_is_closed_form_against_the_learned_prior(self):
    model = make_model(num_slots=(4, 2), prior_attention="location")
    batch = batch_of()
    memory, memory_mask = model.encode_observation(batch)
    slot_masks = model.slot_masks(memory_mask)
    noise = model.sample_noise(12, SEED)
    inferred = model.infer_latents(memory, memory_mask, slot_masks, noise)
    out = model(batch, seed=SEED, noise=noise)
    for level, num_slots in enumerate((4, 2)):
      q = inferred["posterior"][level].distribution
      p = inferred["prior"][level].distribution
      expected = numpy_gaussian_kl(q.loc.numpy(), q.scale.numpy(),
                                   p.loc.numpy(), p.scale.numpy())
      self.assertEqual(expected.shape, (12, num_slots))
      self.assertAllClose(inferred["kl"][level], expected, rtol=1e-5,
                          atol=1e-6)
      self.assertAllClose(out["kl"][level], expected, rtol=1e-5, atol=1e-6)
    # The bottom level's prior is learned, not N(0, I); the top one's is.
    self.assertNotAllClose(inferred["prior"][0].distribution.scale,
                           np.ones([12, 4, 3]))
    self.assertAllEqual(inferred["prior"][1].distribution.scale,
                        np.ones([12, 2, 3]))

  @parameterized.named_parameters(
      ("one_level", dict(num_slots=2)),
      ("hierarchical", dict(num_slots=(3, 2))),
  )
  def test_monte_carlo_kl_is_unbiased(self, kwargs):
    model = make_model(**kwargs)
    copies = 1000
    batch = tile(batch_of(size=4), copies)  # One draw per copy.
    analytic = objectives.evidence_lower_bound(model, batch, seed=SEED)
    monte_carlo = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                                  analytic_kl=False)
    # Same seed, same latents: only the KL estimator differs.
    self.assertAllEqual(analytic["distortion"], monte_carlo["distortion"])
    self.assertAllClose(monte_carlo["kl"],
                        monte_carlo["kl_per_slot"].numpy().sum(1), rtol=1e-5,
                        atol=1e-5)
    # The one-sample ELBO with the Monte Carlo KL is the log weight.
    self.assertAllClose(monte_carlo["elbo"], monte_carlo["log_weight"],
                        rtol=1e-5, atol=1e-4)
    # E[log q - log p] = E[analytic KL] (the analytic KL is along the sampled
    # path, so it is random too): compare the means over the copies.
    difference = np.reshape(monte_carlo["kl"] - analytic["kl"],
                            [copies, 4])
    mean = difference.mean(0)
    standard_error = difference.std(0) / math.sqrt(copies)
    self.assertTrue(np.all(np.abs(mean) < 5 * standard_error + 1e-3),
                    f"mean MC - analytic {mean}, standard error "
                    f"{standard_error}")
    expected_kl = np.reshape(analytic["kl"], [copies, 4]).mean(0)
    self.assertAllClose(
        np.reshape(monte_carlo["kl"], [copies, 4]).mean(0), expected_kl,
        rtol=0.25)


class ElboTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("one_level", dict(num_slots=3), 3),
      ("hierarchical", dict(num_slots=(3, 2)), 5),
      ("masked", dict(num_slots=(4, 2), slots_per_token=0.5), 6),
  )
  def test_terms_add_up(self, kwargs, total_slots):
    model = make_model(**kwargs)
    batch = batch_of()
    terms = objectives.evidence_lower_bound(model, batch, seed=SEED)
    out = model(batch, seed=SEED)
    elbo, distortion, rate = (terms[key].numpy()
                              for key in ("elbo", "distortion", "kl"))
    self.assertAllEqual(elbo, -distortion - rate)
    self.assertAllEqual(distortion, -out["log_likelihood"].numpy())
    self.assertAllClose(rate, terms["kl_per_slot"].numpy().sum(1),
                        rtol=1e-6, atol=1e-6)
    self.assertAllClose(rate, terms["kl_per_level"].numpy().sum(1),
                        rtol=1e-6, atol=1e-6)
    self.assertAllEqual(terms["kl_per_slot"],
                        np.concatenate([k.numpy() for k in out["kl"]], 1))
    self.assertAllClose(
        terms["log_weight"],
        out["log_likelihood"] + out["log_prior"] - out["log_posterior"])
    self.assertEqual(terms["kl_per_slot"].shape, (12, total_slots))
    self.assertEqual(terms["kl_per_level"].shape,
                     (12, len(model.num_slots)))
    self.assertAllEqual(terms["num_elements"],
                        np.sum(batch["tokens"].numpy() != data.PAD_ID, 1))
    self.assertAllGreater(terms["kl"], 0.0)
    self.assertAllLess(terms["elbo"], 0.0)

  def test_without_kl_the_loss_is_the_mean_distortion(self):
    model = make_model(num_slots=3)
    terms = objectives.evidence_lower_bound(model, batch_of(), seed=SEED,
                                            kl_weight=0.0, free_bits=0.0)
    self.assertAllClose(terms["loss"], np.mean(terms["distortion"]),
                        rtol=1e-6)

  @parameterized.named_parameters(
      ("one_level", dict(num_slots=3)),
      ("hierarchical_masked", dict(num_slots=(4, 2), slots_per_token=0.5)),
  )
  def test_loss_with_free_bits_matches_numpy(self, kwargs):
    model = make_model(**kwargs)
    batch = batch_of()
    for kl_weight, free_bits in ((0.0, 0.0), (1.0, 0.0), (0.3, 0.5),
                                 (0.7, 2.0), (1.0, 100.0)):
      terms = objectives.evidence_lower_bound(
          model, batch, seed=SEED, kl_weight=kl_weight, free_bits=free_bits)
      kl = terms["kl_per_slot"].numpy().astype(np.float64)
      expected = (np.mean(terms["distortion"].numpy().astype(np.float64)) +
                  kl_weight * np.sum(np.maximum(free_bits, kl.mean(0))))
      self.assertAllClose(terms["loss"], expected, rtol=1e-5,
                          msg=f"kl_weight={kl_weight}, free_bits={free_bits}")

  @parameterized.named_parameters(
      ("one_level", dict(num_slots=3)),
      ("masked", dict(num_slots=4, slots_per_token=0.5)),
  )
  def test_loss_with_per_dimension_free_bits_matches_numpy(self, kwargs):
    model = make_model(**kwargs)
    batch = batch_of()
    outputs = model(batch, seed=SEED)
    loc = outputs["posterior_loc"][0].numpy().astype(np.float64)
    scale = outputs["posterior_scale"][0].numpy().astype(np.float64)
    mask = outputs["slot_mask"][0].numpy()[..., None]
    if "slots_per_token" in kwargs:
      self.assertFalse(mask.all())  # Some slots are masked out.
    # KL(N(mu, s^2) || N(0, 1)) per example, slot and dimension.
    kl = 0.5 * (scale ** 2 + loc ** 2 - 1.0 - 2.0 * np.log(scale))
    for kl_weight, floor in ((1.0, 0.0), (0.5, 0.05), (1.0, 0.3)):
      terms = objectives.evidence_lower_bound(
          model, batch, seed=SEED, kl_weight=kl_weight,
          free_bits_per_dimension=floor)
      expected = (np.mean(terms["distortion"].numpy().astype(np.float64)) +
                  kl_weight * np.sum(np.maximum(floor, kl) * mask) /
                  kl.shape[0])
      self.assertAllClose(terms["loss"], expected, rtol=1e-5,
                          msg=f"kl_weight={kl_weight}, floor={floor}")
      self.assertAllClose(terms["kl"], np.sum(kl * mask, (1, 2)), rtol=1e-5)

  def test_per_dimension_free_bits_exclude_the_batch_floor(self):
    with self.assertRaisesRegex(
        ValueError, r"`free_bits_per_dimension` must be >= 0 and, when set, "
        r"needs `free_bits=0`"):
      objectives.evidence_lower_bound(
          make_model(num_slots=2), batch_of(), seed=SEED, free_bits=0.5,
          free_bits_per_dimension=0.1)

  @parameterized.named_parameters(
      ("one_level", dict(num_slots=3), 1.0),
      ("annealed", dict(num_slots=3), 0.4),
      ("hierarchical_masked", dict(num_slots=(4, 2), slots_per_token=0.5),
       1.0),
  )
  def test_iwae_loss_matches_numpy(self, kwargs, kl_weight):
    model = make_model(**kwargs)
    batch = batch_of(size=5)
    k = 4
    terms = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                            kl_weight=kl_weight,
                                            num_samples=k)
    # The same k samples, one by one: row s * B + b of the tiled batch.
    outputs = model(tile(batch, k), seed=SEED)
    log_likelihood = outputs["log_likelihood"].numpy().astype(np.float64)
    log_ratio = (outputs["log_prior"].numpy().astype(np.float64) -
                 outputs["log_posterior"].numpy().astype(np.float64))
    annealed = (log_likelihood + kl_weight * log_ratio).reshape(k, 5)
    self.assertAllClose(terms["loss"],
                        -np.mean(numpy_log_mean_exp(annealed)), rtol=1e-5)
    # The reported terms are the k samples' means; log_weight is IWAE_k.
    self.assertAllClose(terms["distortion"],
                        -log_likelihood.reshape(k, 5).mean(0), rtol=1e-5)
    kl = np.concatenate([t.numpy() for t in outputs["kl"]], 1)
    self.assertAllClose(terms["kl_per_slot"], kl.reshape(k, 5, -1).mean(0),
                        rtol=1e-5, atol=1e-6)
    self.assertAllClose(
        terms["log_weight"],
        numpy_log_mean_exp((log_likelihood + log_ratio).reshape(k, 5)),
        rtol=1e-5)
    self.assertEqual(terms["num_elements"].shape, (5,))
    # The IWAE_k bound is at least the k samples' mean ELBO estimate.
    self.assertAllGreaterEqual(
        terms["log_weight"] -
        (log_likelihood + log_ratio).reshape(k, 5).mean(0), -1e-5)

  def test_iwae_loss_trains_the_model(self):
    # The gradient reaches the posterior and the decoder.
    model = make_model(num_slots=3)
    with tf.GradientTape() as tape:
      loss = objectives.evidence_lower_bound(model, batch_of(), seed=SEED,
                                             num_samples=3)["loss"]
    gradients = tape.gradient(loss, model.trainable_variables)
    names = [v.path for v, g in zip(model.trainable_variables, gradients)
             if g is not None and np.any(tf.convert_to_tensor(g) != 0)]
    self.assertTrue(any("posterior" in n for n in names), names)
    self.assertTrue(any("decoder" in n for n in names), names)

  def test_iwae_loss_refuses_free_bits(self):
    for floors in (dict(free_bits=0.5), dict(free_bits_per_dimension=0.1)):
      with self.assertRaisesRegex(
          ValueError, r"`num_samples` must be a positive integer and, above "
          r"1 \(the IWAE objective\), needs free_bits=0"):
        objectives.evidence_lower_bound(
            make_model(num_slots=2), batch_of(), seed=SEED, num_samples=2,
            **floors)

  def test_global_batch_size_rescales_the_loss(self):
    # Under tf.distribute each replica divides by the global batch size.
    model = make_model(num_slots=3)
    batch = batch_of()
    for kwargs in (dict(), dict(kl_weight=0.5, free_bits=0.3)):
      local = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                              **kwargs)["loss"]
      for global_size in (12, 24, 48):
        scaled = objectives.evidence_lower_bound(
            model, batch, seed=SEED, global_batch_size=global_size,
            **kwargs)["loss"]
        self.assertAllClose(scaled, local * 12 / global_size, rtol=1e-5)

  def test_kl_weight_may_be_a_tensor(self):
    # Annealing schedules pass beta as a tensor into a compiled step.
    model = make_model(num_slots=3)
    batch = batch_of()
    loss = tf.function(lambda beta: objectives.evidence_lower_bound(
        model, batch, seed=SEED, kl_weight=beta, free_bits=0.2)["loss"])
    for beta in (0.0, 0.25, 1.0):
      self.assertAllClose(
          loss(tf.constant(beta)),
          objectives.evidence_lower_bound(model, batch, seed=SEED,
                                          kl_weight=beta,
                                          free_bits=0.2)["loss"],
          rtol=1e-5)

  def test_one_kl_weight_per_level_matches_numpy(self):
    # objective.kl_level_delay_steps: level l's floored KL times beta_l.
    model = make_model(num_slots=(4, 2), slots_per_token=0.5)
    batch = batch_of()
    loss = tf.function(lambda betas, fb: objectives.evidence_lower_bound(
        model, batch, seed=SEED, kl_weight=betas, free_bits=fb))
    for betas, free_bits in (((1.0, 0.0), 0.0), ((0.6, 0.2), 0.5),
                             ((0.0, 1.0), 0.0)):
      terms = loss(tf.constant(betas), free_bits)
      kl = terms["kl_per_slot"].numpy().astype(np.float64)
      floored = np.maximum(free_bits, kl.mean(0))
      expected = (np.mean(terms["distortion"].numpy().astype(np.float64)) +
                  betas[0] * floored[:4].sum() + betas[1] * floored[4:].sum())
      self.assertAllClose(terms["loss"], expected, rtol=1e-5,
                          msg=f"betas={betas}, free_bits={free_bits}")
    # Equal weights are the scalar weight.
    self.assertAllClose(
        loss(tf.constant([0.3, 0.3]), 0.5)["loss"],
        objectives.evidence_lower_bound(model, batch, seed=SEED,
                                        kl_weight=0.3, free_bits=0.5)["loss"],
        rtol=1e-6)

  def test_one_kl_weight_per_level_refuses_the_iwae_objective(self):
    with self.assertRaisesRegex(ValueError,
                                r"one `kl_weight` per level needs "
                                r"`num_samples=1`"):
      objectives.evidence_lower_bound(
          make_model(num_slots=(4, 2)), batch_of(), seed=SEED,
          kl_weight=tf.constant([1.0, 0.5]), num_samples=3)

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
      if b is None:  # Variables only the KL reaches would get None twice.
        self.assertIsNone(a)
        continue
      self.assertAllClose(tf.convert_to_tensor(a), tf.convert_to_tensor(b),
                          atol=1e-6)

  def test_negative_arguments_raise(self):
    model = make_model(num_slots=2)
    with self.assertRaisesRegex(ValueError, r"`kl_weight` must be >= 0"):
      objectives.evidence_lower_bound(model, batch_of(), seed=SEED,
                                      kl_weight=-1.0)
    with self.assertRaisesRegex(ValueError, r"`free_bits` must be >= 0"):
      objectives.evidence_lower_bound(model, batch_of(), seed=SEED,
                                      free_bits=-0.5)

  def test_zero_schedule_reports_the_kl_but_leaves_it_out_of_the_loss(self):
    # Phase 1 of Li et al. 2019: an autoencoder, through the training step's
    # own loss (`optimization.loss_and_gradients`, the KL schedule included).
    model = make_model(num_slots=3)
    batch = batch_of()
    config = common.get_config()
    config.objective.update(kl_schedule="zero", free_bits=0.5)

    def step_terms():
      terms, _ = optimization.loss_and_gradients(
          model, batch, step=tf.constant(4000, tf.int64), seed=SEED,
          config=config, global_batch_size=12)
      return {k: v.numpy().astype(np.float64) for k, v in terms.items()}

    autoencoder = step_terms()
    self.assertEqual(autoencoder["kl_weight"], 0.0)
    self.assertGreater(autoencoder["kl"].mean(), 0.1)  # Still reported.
    self.assertAllClose(autoencoder["elbo"],
                        -autoencoder["distortion"] - autoencoder["kl"])
    self.assertAllClose(autoencoder["loss"], autoencoder["distortion"].mean(),
                        rtol=1e-6)
    # The same step at weight 1 pays the floored KL: the check can fail.
    config.objective.kl_schedule = "none"
    vae = step_terms()
    self.assertAllClose(vae["distortion"], autoencoder["distortion"])
    floored = np.maximum(0.5, vae["kl_per_slot"].mean(0)).sum()
    self.assertGreaterEqual(floored, 1.5)  # 3 slots, each floored at 0.5.
    self.assertAllClose(vae["loss"] - autoencoder["loss"], floored,
                        rtol=1e-5)

  def test_without_latents_the_elbo_is_the_likelihood(self):
    model = make_model(num_slots=0)
    batch = batch_of()
    terms = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                            free_bits=0.5)
    exact = model(batch)["log_likelihood"]
    self.assertAllEqual(terms["elbo"], exact)
    self.assertAllEqual(terms["log_weight"], exact)
    self.assertAllEqual(terms["kl"], np.zeros(12))
    self.assertEqual(terms["kl_per_slot"].shape, (12, 0))
    self.assertEqual(terms["kl_per_level"].shape, (12, 0))
    self.assertAllClose(terms["loss"], -np.mean(exact), rtol=1e-6)
    self.assertEqual(float(terms["decoder_entropy"]), 0.0)
    self.assertNotIn("decoder_weights", terms)

  def test_entropies_are_reported(self):
    model = make_model(num_slots=4)
    terms = objectives.evidence_lower_bound(model, batch_of(), seed=SEED)
    self.assertBetween(float(terms["decoder_entropy"]), 0.0, math.log(4))
    self.assertBetween(float(terms["posterior_entropy"]), 0.0, math.log(7))
    self.assertEqual(terms["decoder_weights"].shape, (12, 7, 4))
    # By hand: mean entropy over the unmasked (example, step) pairs.
    weights = terms["decoder_weights"].numpy()
    mask = batch_of()["tokens"].numpy() != data.PAD_ID
    entropy = -np.sum(weights * np.log(np.where(weights > 0, weights, 1.0)),
                      -1)
    self.assertAllClose(terms["decoder_entropy"], entropy[mask].mean(),
                        rtol=1e-5)


class IwaeTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("one_level", dict(num_slots=3)),
      ("hierarchical", dict(num_slots=(3, 2), posterior_attention="window")),
      ("mean_pooled", dict(num_slots=3, posterior_type="mean_pooled")),
  )
  def test_one_sample_iwae_is_the_elbo_estimator(self, kwargs):
    model = make_model(**kwargs)
    batch = batch_of()
    iwae = objectives.iwae_bound(model, batch, 1, seed=SEED)
    single = objectives.evidence_lower_bound(model, batch,
                                             seed=fold_in(SEED, 0))
    self.assertEqual(iwae.shape, (12,))
    self.assertAllClose(iwae, single["log_weight"], atol=1e-5, rtol=0)

  def test_importance_log_weights(self):
    model = make_model(num_slots=(3, 2))
    batch = batch_of(size=5)
    log_weights = objectives.importance_log_weights(model, batch, 6,
                                                    seed=SEED)
    self.assertEqual(log_weights.shape, (6, 5))
    self.assertTrue(np.all(np.isfinite(log_weights.numpy())))
    # Different samples differ; each row is a one-sample estimator.
    self.assertNotAllClose(log_weights[0], log_weights[1])
    one = objectives.importance_log_weights(model, batch, 1, seed=SEED)
    self.assertEqual(one.shape, (1, 5))
    self.assertAllClose(
        one[0], objectives.evidence_lower_bound(model, batch,
                                                seed=SEED)["log_weight"],
        atol=1e-5, rtol=0)

  def test_bound_tightens_with_more_samples(self):
    # Untrained, the posterior is far from the true one: the gaps
    # E[ELBO] < E[IWAE_10] < E[IWAE_100] are ~0.5 nats here while the
    # standard deviations of these batch means over seeds are ~0.05 (measured
    # over 10 seeds), so the ordering does not hinge on the seed.
    model = make_model(num_slots=4, latent_dim=4)
    batch = batch_of(size=512, seed=3)
    elbo_of = tf.function(lambda seed: tf.reduce_mean(
        objectives.evidence_lower_bound(model, batch, seed=seed)["elbo"]))
    elbo = np.mean([float(elbo_of(tf.constant([i, 1]))) for i in range(20)])
    iwae_10 = float(tf.reduce_mean(objectives.iwae_bound(model, batch, 10,
                                                         seed=SEED)))
    iwae_100 = float(tf.reduce_mean(objectives.iwae_bound(model, batch, 100,
                                                          seed=SEED)))
    numbers = (f"mean ELBO {elbo:.3f}, IWAE_10 {iwae_10:.3f}, "
               f"IWAE_100 {iwae_100:.3f}")
    self.assertLess(elbo, iwae_10, numbers)
    self.assertLess(iwae_10, iwae_100, numbers)
    # And every example's bound stays finite.
    self.assertTrue(np.isfinite(iwae_100))

  @parameterized.parameters((7, 3), (10, 4), (5, 5), (5, 64))
  def test_chunks_combine_exactly(self, num_samples, chunk_size):
    model = make_model(num_slots=2)
    batch = batch_of(size=5)
    total = objectives.iwae_bound(model, batch, num_samples, seed=SEED,
                                  chunk_size=chunk_size)
    # Chunk i draws min(chunk_size, S) samples with stateless_fold_in(seed, i);
    # the last chunk's samples beyond S are dropped.
    per_chunk = min(chunk_size, num_samples)
    num_chunks = -(-num_samples // per_chunk)
    weights = [objectives.importance_log_weights(
        model, batch, per_chunk, seed=fold_in(SEED, i)).numpy()
               for i in range(num_chunks)]
    for chunk in weights:
      self.assertEqual(chunk.shape, (per_chunk, 5))
    log_weights = np.concatenate(weights, 0)[:num_samples].astype(np.float64)
    self.assertAllClose(total, numpy_log_mean_exp(log_weights), atol=1e-4,
                        rtol=0)

  def test_tensor_sample_count(self):
    model = make_model(num_slots=2)
    batch = batch_of(size=5)
    bound = tf.function(lambda s: objectives.iwae_bound(
        model, batch, s, seed=SEED, chunk_size=3))
    for num_samples in (1, 3, 7):
      self.assertAllClose(
          bound(tf.constant(num_samples)),
          objectives.iwae_bound(model, batch, num_samples, seed=SEED,
                                chunk_size=3), atol=1e-5, rtol=0)
    with self.assertRaisesRegex(tf.errors.InvalidArgumentError,
                                r"`num_samples` must be a positive"):
      bound(tf.constant(0))

  @parameterized.parameters(1, 4, 100)
  def test_no_latents_gives_the_exact_likelihood(self, num_samples):
    model = make_model(num_slots=0)
    batch = batch_of()
    exact = model(batch)["log_likelihood"]
    self.assertAllClose(
        objectives.iwae_bound(model, batch, num_samples, seed=SEED,
                              chunk_size=32),
        exact, atol=1e-5, rtol=0)

  def test_invalid_arguments(self):
    model = make_model(num_slots=1)
    for num_samples in (0, -3):
      with self.assertRaisesRegex(ValueError,
                                  r"`num_samples` must be a positive"):
        objectives.iwae_bound(model, batch_of(), num_samples, seed=SEED)
    with self.assertRaisesRegex(ValueError, r"`chunk_size` must be positive"):
      objectives.iwae_bound(model, batch_of(), 4, seed=SEED, chunk_size=-1)


if __name__ == "__main__":
  tf.test.main()
