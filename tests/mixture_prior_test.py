"""The exact-choice prior of a lower level (`mixture_prior.py`,
`model.prior_alignment="exact"`): the mixture against numpy, its reduction
to the soft prior with one upper slot, sampling, the assignment per level,
the Monte Carlo KL, configs, and training of two and three levels."""

import keras
import numpy as np
import tensorflow as tf

from configs import mnist
from configs import ptb
from inverse_draw_tf import config_lib
from inverse_draw_tf import mixture_prior
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import slots
import test_case

SEED = tf.constant([5, 6])
HIERARCHY = dict(vocab_size=30, embedding_dim=8, encoder_units=8,
                 decoder_units=16, posterior_units=8, prior_units=8,
                 num_slots=[4, 2], latent_dim=[3, 5], prior_alignment="exact")


def tokens(batch_size=3, length=6, seed=0):
  rng = np.random.RandomState(seed)
  ids = rng.randint(4, 30, size=(batch_size, length)).astype(np.int32)
  ids[:, -1] = 3  # <eos>
  ids[0, 3:] = 0  # A shorter sentence: <eos>, then padding.
  ids[0, 2] = 3
  return {"tokens": tf.constant(ids)}


def numpy_normal_log_prob(x, loc, scale):
  return np.sum(-0.5 * np.square((x - loc) / scale) - np.log(scale) -
                0.5 * np.log(2 * np.pi), -1)


class MixtureSlotPriorTest(test_case.TestCase):

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(0)
    self.prior = mixture_prior.MixtureSlotPrior(4, 3, 8, ["content"])
    self.upper = tf.random.normal([2, 5, 6], seed=1)
    self.upper_mask = tf.constant([[True] * 5, [True] * 3 + [False] * 2])
    self.lower = tf.random.normal([2, 4, 3], seed=2)

  def test_layer(self):
    # Unmasked: a masked upper slot's log-weight is -inf (tested below).
    self.run_layer_test(
        mixture_prior.MixtureSlotPrior,
        dict(num_slots=4, latent_dim=3, units=8, attention=["content"]),
        ([(self.upper, None)], tf.zeros([2, 4, 3])),
        dict(mixture_logits=(2, 4, 5), loc=(2, 4, 5, 3), scale=(2, 4, 5, 3),
             sample=(2, 4, 3), choice=(2, 4), read_weights=[(2, 4, 5)]),
        call_kwargs=dict(given_slots=self.lower),
        output_to_loss=lambda out: tf.reduce_sum(
            mixture_prior.mixture_slots(out["mixture_logits"], out["loc"],
                                        out["scale"]).log_prob(self.lower)))

  def test_mixture_and_assignment_match_numpy(self):
    out = self.prior([(self.upper, self.upper_mask)], tf.zeros([2, 4, 3]),
                     given_slots=self.lower)
    weights = out["read_weights"][0].numpy()
    self.assert_valid_weights(weights, self.upper_mask[:, None, :])
    loc, scale = out["loc"].numpy(), out["scale"].numpy()
    self.assertTrue(np.all(scale > 0))
    components = numpy_normal_log_prob(self.lower.numpy()[:, :, None], loc,
                                       scale)  # (B, K, K')
    with np.errstate(divide="ignore"):
      joint = np.log(weights) + components
    expected = np.logaddexp.reduce(joint, -1)
    got = mixture_prior.mixture_slots(out["mixture_logits"], loc,
                                      scale).log_prob(self.lower)
    self.assertAllClose(got, expected, rtol=1e-5, atol=1e-5)
    log_prob, posterior = mixture_prior.log_prob_and_assignment(
        out["mixture_logits"], loc, scale, self.lower)
    self.assertAllClose(log_prob, expected, rtol=1e-5, atol=1e-5)
    posterior = posterior.numpy()
    self.assertAllClose(posterior, np.exp(joint - expected[..., None]),
                        atol=1e-5)
    self.assert_valid_weights(posterior, self.upper_mask[:, None, :])
    self.assertAllEqual(out["mixture_logits"][1, :, 3:],
                        np.full([4, 2], -np.inf))
    # Finite gradients despite the -inf log-weights.
    with tf.GradientTape() as tape:
      out = self.prior([(self.upper, self.upper_mask)], tf.zeros([2, 4, 3]),
                       given_slots=self.lower)
      log_prob = mixture_prior.mixture_slots(
          out["mixture_logits"], out["loc"], out["scale"]).log_prob(self.lower)
    gradients = tape.gradient(log_prob, self.prior.trainable_variables)
    self.assertTrue(all(np.all(np.isfinite(g.numpy())) for g in gradients))

  def test_one_upper_slot_is_the_soft_prior(self):
    # With one slot above, the read is that slot and its weight 1: the
    # mixture is the soft writer's Gaussian, weight for weight.
    soft = slots.SlotWriter(4, 3, 8, ["content"])
    upper = [(self.upper[:, :1], None)]
    soft(upper, tf.zeros([2, 4, 3]), given_slots=self.lower)
    self.prior(upper, tf.zeros([2, 4, 3]), given_slots=self.lower)
    self.prior.set_weights(soft.get_weights())
    ours = self.prior(upper, tf.zeros([2, 4, 3]), given_slots=self.lower)
    theirs = soft(upper, tf.zeros([2, 4, 3]), given_slots=self.lower)
    self.assertAllClose(ours["loc"][:, :, 0], theirs["loc"], atol=1e-6)
    self.assertAllClose(ours["scale"][:, :, 0], theirs["scale"], atol=1e-6)
    self.assertAllClose(
        mixture_prior.mixture_slots(ours["mixture_logits"], ours["loc"],
                                    ours["scale"]).log_prob(self.lower),
        slots.gaussian_slots(theirs["loc"], theirs["scale"]).log_prob(
            self.lower), atol=1e-5)

  def test_sampling_takes_the_slot_the_uniform_names(self):
    noise = tf.random.normal([2, 4, 3], seed=3)
    uniform = tf.constant([[0.0, 0.3, 0.7, 0.999], [0.1, 0.5, 0.9, 0.2]])
    out = self.prior([(self.upper, self.upper_mask)], noise,
                     choice_noise=uniform)
    weights = out["read_weights"][0].numpy()
    expected = np.minimum((np.cumsum(weights, -1) <= uniform.numpy()[..., None]
                           ).sum(-1), 4)
    self.assertAllEqual(out["choice"], expected)
    # Never a masked upper slot.
    self.assertAllEqual(out["choice"][1] < 3, [True] * 4)
    picked = lambda t: np.take_along_axis(
        t.numpy(), expected[:, :, None, None], 2)[:, :, 0]
    self.assertAllClose(out["sample"],
                        picked(out["loc"]) + picked(out["scale"]) * noise,
                        atol=1e-6)
    # Teacher forcing along the sample gives the same conditionals.
    forced = self.prior([(self.upper, self.upper_mask)], noise,
                        given_slots=out["sample"])
    self.assertAllClose(forced["loc"], out["loc"], atol=1e-6)
    self.assertAllEqual(forced["choice"], -np.ones([2, 4]))

  def test_errors(self):
    with self.assertRaisesRegex(ValueError, r"sampling needs `choice_noise`"):
      self.prior([(self.upper, None)], tf.zeros([2, 4, 3]))
    with self.assertRaisesRegex(ValueError, r"reads one memory"):
      mixture_prior.MixtureSlotPrior(4, 3, 8, ["content", "content"])
    with self.assertRaisesRegex(ValueError, r"no normalisation of its means"):
      mixture_prior.MixtureSlotPrior(4, 3, 8, ["content"],
                                     loc_batchnorm_gamma=0.5)


class HierarchyWithMixturePriorTest(test_case.TestCase):

  def test_outputs_and_monte_carlo_kl(self):
    model = model_lib.InverseDraw(**HIERARCHY)
    batch = tokens()
    out = model(batch, seed=SEED)
    assignment, = out["level_assignment"]
    self.assertEqual(assignment.shape, (3, 4, 2))
    self.assertAllClose(tf.reduce_sum(assignment, -1), tf.ones([3, 4]),
                        atol=1e-5)
    # The mixture level's KL is log q - log p at the sample; the top's is
    # analytic against N(0, I).
    self.assertAllClose(out["kl"][0], out["kl_monte_carlo"][0])
    self.assertIsNone(out["kl_per_dimension"][0])
    self.assertEqual(out["kl_per_dimension"][1].shape, (3, 2, 5))
    self.assertNotAllClose(out["kl"][1], out["kl_monte_carlo"][1])
    # The IWAE bound is at least the ELBO's estimate (Burda et al.).
    elbo = objectives.evidence_lower_bound(model, batch, seed=SEED)["elbo"]
    iwae = objectives.iwae_bound(model, batch, 50, seed=SEED)
    self.assertGreater(float(tf.reduce_mean(iwae)),
                       float(tf.reduce_mean(elbo)))
    # The posterior mean path returns the same kind of assignment.
    mean = model.posterior_mean(batch)
    self.assertEqual(mean["level_assignment"][0].shape, (3, 4, 2))

  def upper_reads(self):
    """A two-level model with a short sentence, its plain ELBO, and the
    prior's reads of the upper slots at each example's unmasked lower slots
    `(num_unmasked, K_2)`."""
    model = model_lib.InverseDraw(**dict(HIERARCHY, slots_per_token=0.5))
    batch = tokens()
    plain = objectives.evidence_lower_bound(model, batch, seed=SEED)
    out = model(batch, seed=SEED)
    weights, = out["prior_read_weights"]
    self.assertEqual(weights.shape, (3, 4, 2))
    self.assertAllClose(tf.reduce_sum(weights, -1), tf.ones([3, 4]),
                        atol=1e-5)
    mask = out["slot_mask"][0].numpy()
    self.assertFalse(mask.all())  # The short sentence has fewer slots.
    return model, batch, plain, weights.numpy()[mask]

  def test_level_balance_subtracts_the_upper_shares_entropy(self):
    # objective.level_balance_weight: the slot balance one level up, on the
    # prior's read weights over each example's unmasked lower slots.
    model, batch, plain, reads = self.upper_reads()
    balanced = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                               level_balance_weight=0.7)
    shares = reads.mean(0)
    hand = -np.sum(shares * np.log(shares))
    self.assertAllClose(plain["upper_marginal_entropy"], hand, atol=1e-5)
    self.assertAllClose(plain["loss"] - balanced["loss"], 0.7 * hand,
                        atol=1e-4)
    self.assertAllClose(balanced["elbo"], plain["elbo"])  # Loss only.
    self.assertOnlyForHierarchies("level_balance_weight",
                                  "upper_marginal_entropy")

  def test_level_entropy_adds_the_mean_entropy_of_the_upper_reads(self):
    # objective.level_entropy_weight: the attention entropy penalty one
    # level up, averaged over each example's unmasked lower slots.
    model, batch, plain, reads = self.upper_reads()
    sharpened = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                                level_entropy_weight=0.7)
    hand = np.mean(-np.sum(reads * np.log(reads), axis=-1))
    self.assertAllClose(plain["upper_entropy"], hand, atol=1e-5)
    self.assertAllClose(sharpened["loss"] - plain["loss"], 0.7 * hand,
                        atol=1e-4)
    self.assertAllClose(sharpened["elbo"], plain["elbo"])  # Loss only.
    # With the balance at the same weight the pair is minus the mutual
    # information between a lower slot and its upper slot.
    both = objectives.evidence_lower_bound(
        model, batch, seed=SEED, level_entropy_weight=0.7,
        level_balance_weight=0.7)
    self.assertAllClose(
        both["loss"] - plain["loss"],
        -0.7 * (plain["upper_marginal_entropy"] - plain["upper_entropy"]),
        atol=1e-4)
    self.assertOnlyForHierarchies("level_entropy_weight", "upper_entropy")

  def assertOnlyForHierarchies(self, weight, term):
    # One level has no upper slots: the term is 0 and so changes nothing.
    one_level = model_lib.InverseDraw(**dict(
        HIERARCHY, num_slots=4, latent_dim=3, prior_alignment="soft"))
    self.assertEqual(float(objectives.evidence_lower_bound(
        one_level, tokens(), seed=SEED, **{weight: 0.7})[term]), 0.0)
    with self.assertRaisesRegex(ValueError, rf"`{weight}` must be >= 0"):
      objectives.evidence_lower_bound(
          model_lib.InverseDraw(**HIERARCHY), tokens(), seed=SEED,
          **{weight: -1.0})

  def test_soft_hierarchy_reports_the_priors_read_weights(self):
    model = model_lib.InverseDraw(**dict(HIERARCHY, prior_alignment="soft"))
    out = model.posterior_mean(tokens())
    expected = model.priors[0](
        [(out["latents"][1], out["slot_mask"][1])], tf.zeros([3, 4, 3]),
        given_slots=out["latents"][0])["read_weights"][0]
    self.assertAllClose(out["level_assignment"][0], expected, atol=1e-6)

  def test_three_levels_train_and_sample(self):
    model = model_lib.InverseDraw(**dict(HIERARCHY, num_slots=[4, 3, 2],
                                         latent_dim=4))
    batch = tokens()
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    for step in range(6):
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(objectives.evidence_lower_bound(
            model, batch, seed=SEED, training=True)["loss"])
      variables = model.trainable_variables
      gradients = tape.gradient(loss, variables)
      if step == 0:
        prior_gradients = [g for g, v in zip(gradients, variables)
                           if "prior_" in v.path]
        self.assertNotEmpty(prior_gradients)
        self.assertTrue(all(g is not None and
                            float(tf.reduce_max(tf.abs(g))) > 0
                            for g in prior_gradients))
      optimizer.apply_gradients(zip(gradients, variables))
      losses.append(float(loss))
    self.assertLess(losses[-1], losses[0])
    self.assertLen(model(batch, seed=SEED)["level_assignment"], 2)
    first = model.sample_prior(5, SEED)
    self.assertEqual([z.shape for z in first], [(5, 4, 4), (5, 3, 4),
                                                (5, 2, 4)])
    self.assertAllClose(model.sample_prior(5, SEED)[0], first[0])
    self.assertNotAllClose(model.sample_prior(5, SEED + 1)[0], first[0])

  def test_mixed_bfloat16(self):
    model = model_lib.build_model(HIERARCHY, vocab_size=30,
                                  precision="mixed_bfloat16")
    out = model(tokens(), seed=SEED)
    self.assertEqual(out["level_assignment"][0].dtype, tf.float32)
    self.assertTrue(np.all(np.isfinite(out["kl"][0].numpy())))

  def test_image_hierarchy_from_the_mnist_config(self):
    # Issue 27's MNIST row: 8 row-rate slots under 2 image-rate slots, each
    # lower slot chosen from one upper slot through a window.
    config = mnist.get_config("variant=exact_window,levels=2,"
                              "prior_alignment=exact,prior_window_step=0.25,"
                              "runlocal")
    config_lib.validate(config)
    self.assertEqual((list(config.model.num_slots),
                      list(config.model.latent_dim)), ([8, 2], [16, 16]))
    self.assertEqual(config.model.prior_attention["initial_step"], 0.25)
    model = model_lib.build_model(config.model)
    rng = np.random.RandomState(0)
    batch = {"pixels": tf.constant(
        rng.binomial(1, 0.3, size=(3, 28, 28)).astype(np.float32))}
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    for _ in range(4):
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(objectives.evidence_lower_bound(
            model, batch, seed=SEED, training=True)["loss"])
      optimizer.apply_gradients(zip(
          tape.gradient(loss, model.trainable_variables),
          model.trainable_variables))
      losses.append(float(loss))
    self.assertLess(losses[-1], losses[0])
    assignment, = model.posterior_mean(batch)["level_assignment"]
    self.assertEqual(assignment.shape, (3, 8, 2))
    self.assertAllClose(tf.reduce_sum(assignment, -1), tf.ones([3, 8]),
                        atol=1e-5)
    self.assertEqual(list(mnist.get_config("levels=3").model.num_slots),
                     [8, 4, 2])
    for arg, pattern in (
        ("variant=rows,levels=2", r"^`variant=rows` has no slots"),
        ("levels=4", r"^`levels` must be 1, 2 or 3"),
        ("prior_window_step=0.5", r"^`prior_window_step` needs `levels`")):
      with self.assertRaisesRegex(ValueError, pattern):
        mnist.get_config(arg)
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"needs two or more levels"):
      config_lib.validate(mnist.get_config("prior_alignment=exact"))

  def test_config_round_trip_and_errors(self):
    model = model_lib.InverseDraw(**HIERARCHY)
    self.assertEqual(model.get_config()["prior_alignment"], "exact")
    with self.assertRaisesRegex(ValueError,
                                r"^`prior_alignment` must be one of"):
      model_lib.InverseDraw(**dict(HIERARCHY, prior_alignment="hard"))
    with self.assertRaisesRegex(ValueError, r"needs two or more levels"):
      model_lib.InverseDraw(**dict(HIERARCHY, num_slots=4, latent_dim=3))
    config = ptb.get_config("levels=2,prior_alignment=exact,runlocal")
    self.assertEqual(config.model.prior_alignment, "exact")
    config_lib.validate(config)
    self.assertEqual(ptb.get_config("levels=2").model.prior_alignment, "soft")
    # Windows over the upper slots, in the prior and the top-down posterior.
    windowed = ptb.get_config("levels=2,prior_alignment=exact,"
                              "prior_window_step=0.25,runlocal")
    self.assertEqual(dict(windowed.model.prior_attention),
                     dict(type="window", kernel="gaussian", initial_step=0.25))
    config_lib.validate(windowed)
    model = model_lib.build_model(windowed.model, 50)
    weights = model(model_lib.example_batch(model))["level_assignment"][0]
    self.assertAllClose(tf.reduce_sum(weights, -1), tf.ones([2, 8]),
                        atol=1e-5)
    with self.assertRaisesRegex(ValueError, r"needs `levels` of 2 or 3"):
      ptb.get_config("prior_window_step=0.25")
    # Three levels from the config: 8 under 4 under 2.
    deep = ptb.get_config("levels=3,prior_alignment=exact,runlocal")
    config_lib.validate(deep)
    self.assertEqual(list(deep.model.num_slots), [8, 4, 2])
    model = model_lib.build_model(deep.model, 50)
    shapes = [w.shape for w in model(model_lib.example_batch(model))[
        "level_assignment"]]
    self.assertEqual(shapes, [(2, 8, 4), (2, 4, 2)])
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"needs two or more levels"):
      config_lib.validate(ptb.get_config("prior_alignment=exact"))
    config.objective.free_bits_per_dimension = 0.1
    config.objective.free_bits = 0.0
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"model.prior_alignment='exact'"):
      config_lib.validate(config)
    with self.assertRaisesRegex(ValueError, r"no per-dimension KL"):
      objectives.evidence_lower_bound(model, tokens(), seed=SEED,
                                      free_bits_per_dimension=0.1)


if __name__ == "__main__":
  tf.test.main()
