"""BN-VAE (`model.posterior_mean_batchnorm_gamma`,
`slots.PosteriorMeanBatchNorm`): the normalisation against numpy, the moving
statistics, masks, the slot writers, configs, checkpoints, the variables of
gamma = 0 against the release, the KL floor of Zhu et al. 2020 at
initialisation, an export, and training steps in mixed_bfloat16 and on two
replicas."""

import importlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

from configs import ptb_small
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import distribute
from inverse_draw_tf import export
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import optimization
from inverse_draw_tf import serving
from inverse_draw_tf import slots
import test_case

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE_VARIABLES = os.path.join(ROOT, "release", "ptb", "5000", "variables",
                                 "variables")
# The run the release was exported from (tests/export_test.py upgrades it).
RELEASE_RUN = os.path.join(
    ROOT, "results", "runs",
    "ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_frozen")
EPSILON = 1e-10  # PosteriorMeanBatchNorm's default.
SMALL = dict(vocab_size=40, embedding_dim=8, encoder_units=8,
             decoder_units=16, posterior_units=8, prior_units=8, num_slots=3,
             latent_dim=8)
BN_PATHS = ("beta", "moving_mean", "moving_variance", "observed_batches")


def normalized(loc, gamma, beta, mean, variance):
  """The maths by hand: `gamma (loc - mean) / sqrt(variance + eps) + beta`."""
  return gamma * (loc - mean) / np.sqrt(variance + EPSILON) + beta


def moments(values, mask):
  """Mean and (biased) variance over axis 0 of the unmasked rows, float64:
  `values` `(B, K, D)`, `mask` bool `(B, K)`."""
  values = np.asarray(values, np.float64)
  weight = np.asarray(mask, np.float64)[..., None]
  count = weight.sum(0)
  mean = (values * weight).sum(0) / count
  return mean, (np.square(values - mean) * weight).sum(0) / count


def random_tokens(seed, batch_size=64, max_length=9, vocab_size=40):
  """Random sentences of 1 to `max_length - 1` words, `<eos>`, padding."""
  rng = np.random.RandomState(seed)
  tokens = rng.randint(len(data.SPECIAL_TOKENS), vocab_size,
                       size=(batch_size, max_length))
  for row, length in enumerate(rng.randint(1, max_length, size=batch_size)):
    tokens[row, length] = data.EOS_ID
    tokens[row, length + 1:] = data.PAD_ID
  return {"tokens": tf.constant(tokens, tf.int32)}


def build(spec):
  """The config of `--config=configs/<file>.py:arg`."""
  path, _, arg = spec.partition(":")
  return importlib.import_module(
      path[:-len(".py")].replace("/", ".")).get_config(arg)


def bn_model(gamma, seed=0, **kwargs):
  keras.utils.set_random_seed(seed)
  return model_lib.InverseDraw(**dict(
      SMALL, posterior_mean_batchnorm_gamma=gamma, **kwargs))


class PosteriorMeanBatchNormTest(test_case.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.RandomState(0)
    # Each slot and dimension with its own location and spread.
    self.loc = (rng.randn(64, 3, 4) * rng.uniform(0.5, 3, (3, 4)) +
                rng.uniform(-2, 2, (3, 4))).astype(np.float32)
    self.beta = rng.randn(3, 4).astype(np.float32)

  def layer(self, **kwargs):
    layer = slots.PosteriorMeanBatchNorm(**dict(dict(gamma=0.7), **kwargs))
    layer.build(self.loc.shape)
    layer.beta.assign(self.beta)
    return layer

  def test_training_output_has_mean_beta_and_std_gamma(self):
    layer = self.layer()
    out = layer(self.loc, training=True).numpy()
    mean, variance = moments(self.loc, np.ones([64, 3], bool))
    self.assertAllClose(out, normalized(self.loc, 0.7, self.beta, mean,
                                        variance), atol=1e-5)
    self.assertAllClose(out.mean(0), self.beta, atol=1e-5)
    # gamma, up to the factor sqrt(v / (v + eps)) of the epsilon.
    self.assertAllClose(out.std(0), 0.7 * np.sqrt(variance /
                                                  (variance + EPSILON)),
                        atol=1e-6)
    # gamma is a constructor argument, not a weight; beta is learned.
    self.assertEqual([w.path.split("/")[-1] for w in layer.trainable_weights],
                     ["beta"])

  def test_inference_uses_the_debiased_moving_statistics(self):
    layer = self.layer(momentum=0.9)
    other = self.loc[:5] * 2.0 + 1.0
    # Before any training: mean 0, variance 1.
    self.assertAllClose(layer(other), normalized(other, 0.7, self.beta, 0, 1),
                        atol=1e-5)
    batches = [self.loc, self.loc[::2] * 3.0 - 1.0]
    every = np.ones([64, 3], bool)
    (mean_1, variance_1), (mean_2, variance_2) = [
        moments(batch, every[:len(batch)]) for batch in batches]
    # One batch: its statistics exactly, not 10% of them.
    layer(batches[0], training=True)
    self.assertAllClose(layer.moving_mean, mean_1, atol=1e-5)
    self.assertAllClose(layer.moving_variance, variance_1, rtol=1e-5)
    # Two: weights 0.9 and 1, normalised.
    layer(batches[1], training=True)
    self.assertAllClose(layer.moving_mean, (0.9 * mean_1 + mean_2) / 1.9,
                        atol=1e-5)
    self.assertAllClose(layer.moving_variance,
                        (0.9 * variance_1 + variance_2) / 1.9, rtol=1e-5)
    self.assertAllEqual(layer.observed_batches, np.full([3, 1], 2.0))
    moving = (layer.moving_mean.numpy(), layer.moving_variance.numpy())
    out = layer(other, training=False)
    self.assertAllClose(out, normalized(other, 0.7, self.beta, *moving),
                        atol=1e-5)
    # Inference leaves the moving statistics alone, and rows do not interact.
    self.assertAllEqual(layer.moving_mean, moving[0])
    self.assertAllClose(layer(other[:1]), out[:1], atol=1e-6)
    # momentum 0: the moving statistics are the last batch's, and inference
    # on that batch reproduces training.
    last = self.layer(momentum=0.0)
    self.assertAllClose(last(self.loc, training=True),
                        last(self.loc, training=False), atol=1e-5)

  def test_masked_slots_stay_out_of_the_statistics(self):
    mask = np.random.RandomState(1).rand(64, 3) > 0.4
    mask[:, 2] = False  # A slot no example uses.
    loc = np.where(mask[..., None], self.loc, 1e6).astype(np.float32)
    layer = self.layer(momentum=0.5)
    out = layer(loc, slot_mask=mask, training=True).numpy()
    mean, variance = moments(loc[:, :2], mask[:, :2])
    want = normalized(loc[:, :2], 0.7, self.beta[:2], mean, variance)
    self.assertAllClose(out[:, :2][mask[:, :2]], want[mask[:, :2]],
                        atol=1e-5)
    self.assertAllClose(layer.moving_mean[:2], mean, atol=1e-5)
    self.assertAllClose(layer.moving_variance[:2], variance, rtol=1e-5)
    self.assertAllEqual(layer.observed_batches, [[1.0], [1.0], [0.0]])
    # The unused slot keeps its moving statistics and is normalised by them.
    self.assertAllEqual(layer.moving_mean[2], np.zeros(4))
    self.assertAllEqual(layer.moving_variance[2], np.ones(4))
    self.assertAllClose(out[:, 2], normalized(loc[:, 2], 0.7, self.beta[2],
                                              0.0, 1.0), rtol=1e-5)
    # Finite gradients, the unused slot's included.
    loc = tf.constant(loc)
    with tf.GradientTape() as tape:
      tape.watch(loc)
      loss = tf.reduce_sum(tf.square(
          layer(loc, slot_mask=mask, training=True)) * mask[..., None])
    for gradient in tape.gradient(loss, [loc, layer.beta]):
      self.assertAllEqual(tf.math.is_finite(gradient), tf.ones_like(
          gradient, tf.bool))
    # Without the mask the 1e6 entries would dominate the statistics.
    unmasked = self.layer()(loc, training=True).numpy()
    self.assertNotAllClose(unmasked[:, :2][mask[:, :2]],
                           want[mask[:, :2]], atol=1e-2)

  def test_layer_checks_and_config_round_trip(self):
    layer = self.run_layer_test(
        slots.PosteriorMeanBatchNorm,
        dict(gamma=0.5, momentum=0.8, epsilon=1e-4),
        (self.loc,), expected_output_shape=(64, 3, 4),
        call_kwargs=dict(slot_mask=tf.constant(self.loc[..., 0] > 0),
                         training=True),
        expected_num_trainable_weights=1,
        expected_num_non_trainable_weights=3)
    self.assertEqual(layer.get_config()["gamma"], 0.5)
    for kwargs, pattern in ((dict(gamma=0.0), "`gamma` must be positive"),
                            (dict(gamma=1.0, momentum=1.0), "`momentum`"),
                            (dict(gamma=1.0, epsilon=0.0), "`epsilon`")):
      with self.assertRaisesRegex(ValueError, pattern):
        slots.PosteriorMeanBatchNorm(**kwargs)

  def test_float32_statistics_under_mixed_bfloat16(self):
    full = self.layer()
    mixed = self.layer(dtype="mixed_bfloat16")
    self.assertEqual([w.dtype for w in mixed.weights], ["float32"] * 4)
    loc = tf.constant(self.loc, tf.bfloat16)
    out = mixed(loc, training=True)
    self.assertEqual(out.dtype, tf.bfloat16)
    self.assertEqual(mixed.moving_mean.dtype, "float32")
    want = full(tf.cast(loc, tf.float32), training=True)
    self.assertAllClose(tf.cast(out, tf.float32), want, atol=0.05)
    self.assertAllClose(mixed.moving_variance, full.moving_variance,
                        atol=1e-6)


class SlotWriterTest(test_case.TestCase):

  def setUp(self):
    super().setUp()
    self.memory = tf.random.stateless_normal([48, 5, 6], [1, 2])
    self.noise = tf.random.stateless_normal([48, 3, 4], [3, 4])
    self.memory_mask = tf.sequence_mask(
        tf.random.stateless_uniform([48], [5, 6], 1, 6, tf.int32), 5)
    self.slot_mask = tf.sequence_mask(
        tf.random.stateless_uniform([48], [7, 8], 1, 4, tf.int32), 3)

  def twins(self, make):
    """`make(gamma)` with 0.8 and 0 (same weights but the normaliser's)."""
    keras.utils.set_random_seed(0)
    normalizing, plain = make(0.8), make(0.0)
    for writer in (normalizing, plain):  # Builds them.
      writer([(self.memory, self.memory_mask)], self.noise)
    plain.set_weights(normalizing.get_weights()[:len(plain.weights)])
    normalizing.loc_batchnorm.beta.assign(
        tf.random.stateless_normal([3, 4], [9, 9]))
    return normalizing, plain

  def assert_normalizes(self, normalizing, plain, given_slots):
    """The normalising writer's means are the plain one's, normalised over
    the batch's unmasked rows by hand, along the same slots."""
    memories = [(self.memory, self.memory_mask)]
    out = normalizing(memories, self.noise, slot_mask=self.slot_mask,
                      training=True)
    given = out["sample"] if given_slots else None
    raw = plain(memories, self.noise, given_slots=given)["loc"].numpy()
    mask = self.slot_mask.numpy()
    mean, variance = moments(raw, mask)
    beta = normalizing.loc_batchnorm.beta.numpy()
    self.assertAllClose(out["loc"].numpy()[mask],
                        normalized(raw, 0.8, beta, mean, variance)[mask],
                        atol=1e-4)
    # The sample is drawn from the normalised Gaussian.
    self.assertAllClose(out["sample"], out["loc"] + out["scale"] * self.noise,
                        atol=1e-5)
    return out

  def test_slot_writer_normalizes_inside_its_recurrence(self):
    normalizing, plain = self.twins(lambda gamma: slots.SlotWriter(
        3, 4, 8, ["location"], loc_batchnorm_gamma=gamma))
    # Teacher forcing the plain writer along the normalised samples gives
    # it the slots the normalising one fed back, slot after slot.
    out = self.assert_normalizes(normalizing, plain, given_slots=True)
    forced = normalizing([(self.memory, self.memory_mask)], self.noise,
                         given_slots=out["sample"], slot_mask=self.slot_mask,
                         training=True)
    self.assertAllClose(forced["loc"], out["loc"], atol=1e-5)

  def test_mean_pooled_posterior_normalizes_its_means(self):
    normalizing, plain = self.twins(lambda gamma: slots.MeanPooledPosterior(
        3, 4, 8, loc_batchnorm_gamma=gamma))
    self.assert_normalizes(normalizing, plain, given_slots=False)

  def test_slot_writer_layer_checks(self):
    self.run_layer_test(
        slots.SlotWriter,
        dict(num_slots=3, latent_dim=4, units=8, attention=["content"],
             loc_batchnorm_gamma=0.5),
        ([(self.memory, self.memory_mask)], self.noise),
        call_kwargs=dict(slot_mask=self.slot_mask, training=True),
        expected_output_shape=dict(loc=(48, 3, 4), scale=(48, 3, 4),
                                   sample=(48, 3, 4),
                                   read_weights=[(48, 3, 5)]),
        # LSTM, loc and scale kernels and biases, the head's 4, beta.
        expected_num_trainable_weights=6 + 4 + 1,
        expected_num_non_trainable_weights=3)
    with self.assertRaisesRegex(ValueError, "`loc_batchnorm_gamma` must be"):
      slots.SlotWriter(3, 4, 8, ["content"], loc_batchnorm_gamma=-1.0)


class ModelTest(test_case.TestCase):

  def test_gamma_zero_builds_the_released_variables(self):
    stored = dict(tf.train.list_variables(RELEASE_VARIABLES))
    released = [tuple(stored[f"model_variables/{i}/.ATTRIBUTES/"
                             "VARIABLE_VALUE"])
                for i in range(len(stored) - 1)]
    # Recorded before the key existed, read with its ADDED_DEFAULTS value.
    with open(os.path.join(RELEASE_RUN, "config.json")) as f:
      self.assertNotIn("posterior_mean_batchnorm_gamma", json.load(f)["model"])
    config = config_lib.load_workdir_config(RELEASE_RUN)
    self.assertEqual(config.model.posterior_mean_batchnorm_gamma, 0.0)
    model = model_lib.build_model(config.model, 10002)
    model(model_lib.example_batch(model))
    self.assertEqual([tuple(w.shape) for w in model.weights], released)
    self.assertFalse([w.path for w in model.weights if "batchnorm" in w.path])
    # With the option on, each posterior gains exactly its four weights.
    config.model.posterior_mean_batchnorm_gamma = 0.5
    normalizing = model_lib.build_model(config.model, 10002)
    normalizing(model_lib.example_batch(normalizing))
    added = [w for w in normalizing.weights if "loc_batchnorm" in w.path]
    self.assertEqual([w.path for w in added],
                     [f"inverse_draw/posterior_0/loc_batchnorm/{name}"
                      for name in BN_PATHS])
    self.assertEqual([tuple(w.shape) for w in normalizing.weights
                      if "loc_batchnorm" not in w.path], released)

  def test_checkpoint_restores_the_moving_statistics(self):
    model = bn_model(0.6, num_slots=(3, 2), slots_per_token=0.5)
    for seed in range(3):
      model(random_tokens(seed), training=True, seed=tf.constant([seed, 1]))
    norms = [p.loc_batchnorm for p in model.posteriors]
    self.assertTrue(all(np.abs(n.moving_mean.numpy()).max() > 0
                        for n in norms))
    path = tf.train.Checkpoint(model=model).write(
        os.path.join(self.create_tempdir().full_path, "ckpt"))
    saved = [name for name, _ in tf.train.list_variables(path)
             if "loc_batchnorm" in name]
    self.assertLen(saved, 2 * len(BN_PATHS))
    fresh = bn_model(0.6, seed=7, num_slots=(3, 2), slots_per_token=0.5)
    fresh(random_tokens(9))
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    for a, b in zip(model.weights, fresh.weights):
      self.assertAllEqual(a, b)
    batch = random_tokens(10, batch_size=4)
    self.assertAllEqual(model.posterior_mean(batch)["posterior_loc"][0],
                        fresh.posterior_mean(batch)["posterior_loc"][0])

  def test_kl_floor_at_initialisation(self):
    # Zhu et al.: the batch mean of a slot's KL to N(0, I) is at least
    # sum_d (var_b mu^_d + mean_b mu^_d^2) / 2, and var_b mu^_d ~ gamma^2.
    dim = SMALL["latent_dim"]
    for gamma in (0.5, 1.0):
      model = bn_model(gamma)
      out = model(random_tokens(int(10 * gamma)), training=True,
                  seed=tf.constant([5, 6]))
      kl = out["kl"][0].numpy().mean(0)
      loc = out["posterior_loc"][0].numpy()
      self.assertAllClose(loc.var(0), np.full([3, dim], gamma ** 2),
                          rtol=1e-3)
      second_moment = 0.5 * (loc.var(0) + loc.mean(0) ** 2).sum(-1)
      self.assertAllGreaterEqual(kl - second_moment, -1e-5)
      self.assertAllGreaterEqual(kl, dim * gamma ** 2 / 2 * (1 - 1e-3))
    # The floor is not met by itself: without the option the slots sit
    # below the gamma = 1 floor at initialisation.
    kl = bn_model(0.0)(random_tokens(10), training=True,
                       seed=tf.constant([5, 6]))["kl"]
    self.assertAllLess(kl[0].numpy().mean(0), dim / 2)

  def test_an_export_encodes_with_the_moving_statistics(self):
    root = self.create_tempdir().full_path
    path = os.path.join(root, "vocab.txt")
    data.save_vocabulary(data.build_vocabulary(
        [[f"w{i}" for i in range(36)]]), path)
    vocabulary = data.Vocabulary(path)
    model = bn_model(0.7, vocab_size=vocabulary.size)
    for seed in range(3):
      model(random_tokens(seed), training=True, seed=tf.constant([seed, 1]))
    exported = tf.saved_model.load(export.export(
        serving.serving_module(model, vocabulary),
        os.path.join(root, "export"), 1))
    sentences = tf.constant(["w1 w2 w3", "w5 w6"])
    encoded = exported.signatures["encode"](sentences=sentences)
    self.assertAllClose(
        encoded["posterior_mean"],
        model.posterior_mean({"tokens": vocabulary.encode(sentences)})[
            "posterior_loc"][0], atol=1e-6)

  def test_lowest_level_only(self):
    # `posterior_mean_batchnorm_levels=1`: the bottom level's means get the
    # fixed spread gamma, the upper level's keep their own (and no weights).
    model = bn_model(0.6, num_slots=(3, 2), prior_alignment="exact",
                     posterior_mean_batchnorm_levels=1)
    out = model(random_tokens(4), training=True, seed=tf.constant([2, 3]))
    lower, upper = (loc.numpy() for loc in out["posterior_loc"])
    self.assertAllClose(lower.std(0), np.full([3, 8], 0.6), rtol=1e-3)
    self.assertGreater(np.abs(upper.std(0) - 0.6).max(), 0.1)
    self.assertIsNotNone(model.posteriors[0].loc_batchnorm)
    self.assertIsNone(model.posteriors[1].loc_batchnorm)
    self.assertEqual(model.get_config()["posterior_mean_batchnorm_levels"], 1)
    # 0, the default, normalises every level.
    both = bn_model(0.6, num_slots=(3, 2), prior_alignment="exact")
    self.assertTrue(all(p.loc_batchnorm is not None for p in both.posteriors))
    config = build("configs/ptb.py:levels=2,prior_alignment=exact,"
                   "bn_gamma=0.3,bn_levels=1,runlocal")
    self.assertEqual(config.model.posterior_mean_batchnorm_levels, 1)
    config_lib.validate(config)
    for kwargs, message in (
        (dict(posterior_mean_batchnorm_levels=3),
         r"^`posterior_mean_batchnorm_levels` must be an integer from 0 "
         r"\(every level\) to the number of levels \(2\), received 3\.$"),
        (dict(posterior_mean_batchnorm_levels=1, gamma=0.0),
         r"^`posterior_mean_batchnorm_levels` needs BN-VAE on")):
      gamma = kwargs.pop("gamma", 0.6)
      with self.assertRaisesRegex(ValueError, message):
        bn_model(gamma, num_slots=(3, 2), prior_alignment="exact", **kwargs)

  def test_inference_is_per_example_and_training_uses_the_batch(self):
    model = bn_model(0.5)
    batch = random_tokens(3, batch_size=16)
    first = {"tokens": batch["tokens"][:1]}
    loc = lambda b, training: model(
        b, training=training, noise=[tf.zeros([b["tokens"].shape[0], 3, 8])]
    )["posterior_loc"][0][:1]
    self.assertAllClose(loc(first, False), loc(batch, False), atol=1e-6)
    self.assertNotAllClose(loc(first, True), loc(batch, True), atol=1e-3)

  def test_config_keys(self):
    for spec in ("configs/ptb.py", "configs/ptb_vae.py"):
      self.assertEqual(build(spec).model.posterior_mean_batchnorm_gamma, 0.0)
      config = build(f"{spec}:bn_gamma=0.6,runlocal")
      self.assertEqual(config.model.posterior_mean_batchnorm_gamma, 0.6)
      config_lib.validate(config)
      model = model_lib.build_model(config.model, 40)
      self.assertEqual(model.posteriors[0].loc_batchnorm.gamma, 0.6)
      with self.assertRaisesRegex(
          config_lib.ConfigError,
          r"^`config.model.posterior_mean_batchnorm_gamma` must be >= 0 "
          r"\(0 = off\), received -0.5.$"):
        config_lib.validate(build(f"{spec}:bn_gamma=-0.5"))
    with self.assertRaisesRegex(ValueError, r"needs latents \(`num_slots`"):
      bn_model(0.5, num_slots=0)

  def test_training_step_in_mixed_bfloat16(self):
    config = ptb_small.get_config("runlocal")
    config.model.update(posterior_mean_batchnorm_gamma=0.5, num_slots=3)
    keras.utils.set_random_seed(0)
    model = model_lib.build_model(config.model, 40,
                                  precision="mixed_bfloat16")
    model(model_lib.example_batch(model))
    norm = model.posteriors[0].loc_batchnorm
    self.assertEqual(norm.compute_dtype, "bfloat16")
    optimizer = optimization.build_optimizer(config.optimizer, 10)
    optimizer.build(model.trainable_variables)
    before = [w.numpy() for w in norm.weights]
    sums = optimization.train_step(
        model, optimizer, random_tokens(0, batch_size=8),
        step=tf.constant(0, tf.int64), seed=tf.constant([1, 2]),
        config=config, global_batch_size=8)
    self.assertEqual(float(sums["applied"]), 1.0)
    self.assertTrue(np.isfinite(float(sums["loss"])))
    for weight, value in zip(norm.weights, before):
      self.assertEqual(weight.dtype, "float32")
      self.assertNotAllClose(weight, value, atol=1e-7, msg=weight.path)

  def test_replicas_keep_their_own_moving_statistics(self):
    # Each replica normalises with its own half of the batch and moves its
    # own copy of the moving statistics; outside the replicas (checkpoints,
    # evaluation) they read as the copies' mean. The step nests its forward
    # and backward pass in a tf.function, as train_lib.train does: an
    # update that synchronised the replicas would fail there.
    config = ptb_small.get_config("runlocal")
    config.model.update(posterior_mean_batchnorm_gamma=0.5, num_slots=3)
    batch = random_tokens(4, batch_size=8)
    step, seed = tf.constant(2, tf.int64), tf.constant([0, 0])
    step_seed = tf.random.experimental.stateless_fold_in(seed, step)
    halves = []
    for rows in (slice(0, 4), slice(4, 8)):
      keras.utils.set_random_seed(1)
      half_model = model_lib.build_model(config.model, 40)
      half_model(model_lib.example_batch(half_model))
      half_model({"tokens": batch["tokens"][rows]}, training=True,
                 seed=step_seed, sample_rows=(rows.start, 8))
      halves.append([w.numpy() for w in half_model.posteriors[0]
                     .loc_batchnorm.non_trainable_weights])
    strategy = distribute.make_strategy("mirrored")
    with strategy.scope():
      keras.utils.set_random_seed(1)
      model = model_lib.build_model(config.model, 40)
      model(model_lib.example_batch(model))
      optimizer = optimization.build_optimizer(config.optimizer, 10)
      optimizer.build(model.trainable_variables)
    gradient_fn = tf.function(
        lambda b, s: optimization.loss_and_gradients(
            model, b, step=s, seed=seed, config=config, global_batch_size=8,
            num_replicas=2))

    @tf.function
    def train(iterator):
      return strategy.run(lambda b: optimization.train_step(
          model, optimizer, b, step=step, seed=seed, config=config,
          global_batch_size=8, num_replicas=2, gradient_fn=gradient_fn),
                          args=(next(iterator),))

    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch).repeat())
    train(iter(dataset))
    for index, weight in enumerate(
        model.posteriors[0].loc_batchnorm.non_trainable_weights):
      copies = strategy.experimental_local_results(weight.value)
      self.assertLen(copies, 2)
      for copy, half in zip(copies, halves):
        self.assertAllClose(copy, half[index], atol=1e-6)
      if "observed_batches" not in weight.path:  # 1 on both.
        self.assertNotAllClose(copies[0], copies[1], atol=1e-6)
      self.assertAllClose(weight.numpy(),
                          (halves[0][index] + halves[1][index]) / 2,
                          atol=1e-6)
    # A checkpoint holds the mean, and restores on a single device.
    path = tf.train.Checkpoint(model=model).write(
        os.path.join(self.create_tempdir().full_path, "ckpt"))
    single = model_lib.build_model(config.model, 40)
    single(model_lib.example_batch(single))
    tf.train.Checkpoint(model=single).read(path).assert_consumed()
    for restored, weight in zip(
        single.posteriors[0].loc_batchnorm.non_trainable_weights,
        model.posteriors[0].loc_batchnorm.non_trainable_weights):
      self.assertAllClose(restored, weight.numpy(), atol=0)


if __name__ == "__main__":
  tf.test.main()
