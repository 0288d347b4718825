"""Tests of attention that chooses (issue 9): inverse_draw_tf/alignment.py, the
sparse normalisers of attention.py, and the model, objective, training,
evaluation and config options built on them; maths against hand and NumPy
computations on tiny tensors."""

import math
import os

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from configs import common
from configs import ptb
from configs import ptb_small
from inverse_draw_tf import alignment
from inverse_draw_tf import attention
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import decoder as decoder_lib
from inverse_draw_tf import evaluation
from inverse_draw_tf import export
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import normalizers
from inverse_draw_tf import objectives
from inverse_draw_tf import optimization
from inverse_draw_tf.report import collect
from inverse_draw_tf.report import figures
import test_case

SMALL = dict(vocab_size=30, embedding_dim=8, encoder_units=8, decoder_units=16,
             posterior_units=8, prior_units=8, latent_dim=4)
SMALL_IMAGE = dict(observation="binary_image", embedding_dim=8,
                   encoder_units=8, decoder_units=16, posterior_units=8,
                   prior_units=8, latent_dim=4, image_shape=(4, 6),
                   pixels_per_step=6)
SEED = tf.constant([3, 4])
WIRINGS = ("input_feeding", "output_only")


def text_batch():
  return {"tokens": tf.constant([[5, 6, 7, 8, 9, 3],
                                 [10, 11, 12, 3, 0, 0],
                                 [13, 3, 0, 0, 0, 0]], tf.int32)}


def image_batch():
  rng = np.random.RandomState(0)
  return {"pixels": tf.constant(rng.rand(2, 4, 6) > 0.5, tf.float32)}


def text_model(**kwargs):
  keras.utils.set_random_seed(0)
  model = model_lib.InverseDraw(**dict(SMALL, **kwargs))
  model(text_batch())
  return model


def numpy_log_softmax(logits):
  top = logits.max(-1, keepdims=True)
  return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


def numpy_logsumexp(values, axis=-1):
  top = values.max(axis, keepdims=True)
  return (top + np.log(np.exp(values - top).sum(axis, keepdims=True))
          ).squeeze(axis)


def numpy_entmax15(z):
  """1.5-entmax by bisection on tau: sum_i max(z_i / 2 - tau, 0)^2 = 1."""
  low, high = z.max() / 2 - 1, z.max() / 2
  for _ in range(200):
    tau = (low + high) / 2
    if np.sum(np.maximum(z / 2 - tau, 0) ** 2) > 1:
      low = tau
    else:
      high = tau
  return np.maximum(z / 2 - (low + high) / 2, 0) ** 2


class SparseNormalizerTest(test_case.TestCase, parameterized.TestCase):

  def test_sparsemax_matches_hand_computation(self):
    # Sorted: 1, 0.9, 0.5, -1; 1 + k z_(k) > cumsum holds for k = 1, 2, 3
    # (2 > 1, 2.8 > 1.9, 2.5 > 2.4) and not 4 (-3 > 1.4), so
    # tau = (2.4 - 1) / 3 = 0.4667 and p = max(z - tau, 0).
    weights = normalizers.masked_sparsemax(tf.constant([[1.0, 0.5, -1.0, 0.9]]))
    tau = 1.4 / 3
    self.assertAllClose(weights, [[1 - tau, 0.5 - tau, 0.0, 0.9 - tau]],
                        atol=1e-6)
    self.assertEqual(float(weights[0, 2]), 0.0)  # An exact zero.
    self.assertAllClose(tf.reduce_sum(weights), 1.0, atol=1e-6)
    # Equal logits: uniform; one far ahead: one-hot.
    self.assertAllClose(normalizers.masked_sparsemax(tf.zeros([1, 4])),
                        [[0.25] * 4])
    self.assertAllEqual(normalizers.masked_sparsemax(
        tf.constant([[0.0, 3.0, 1.0]])), [[0.0, 1.0, 0.0]])

  @parameterized.parameters("sparsemax", "entmax15")
  def test_masked_entries_get_exact_zeros(self, normalizer):
    logits = tf.constant([[1.0, 0.5, -1.0, 0.9], [2.0, 9.0, 1.0, 1.5],
                          [0.3, 0.2, 0.1, 0.0]])
    mask = tf.constant([[True, False, True, True], [True, False, True, True],
                        [False, False, False, False]])
    variable = tf.Variable(logits)
    with tf.GradientTape() as tape:
      weights = normalizers.normalize(variable, mask, normalizer)
      loss = tf.reduce_sum(weights * tf.range(4, dtype=tf.float32))
    self.assert_valid_weights(weights, mask)
    # A masked entry is as if absent, however large its logit.
    unmasked = normalizers.normalize(tf.constant([[2.0, 1.0, 1.5]]),
                                   normalizer=normalizer)
    self.assertAllClose(tf.gather(weights[1], [0, 2, 3]), unmasked[0],
                        atol=1e-6)
    gradient = tape.gradient(loss, variable).numpy()
    self.assertTrue(np.all(np.isfinite(gradient)))
    self.assertAllEqual(gradient[~mask.numpy()], np.zeros([6]))

  def test_entmax15_matches_a_bisection_reference(self):
    for z in ([1.0, 0.5, -1.0, 0.9], [3.0, -2.0, 0.0, 0.1, 2.9], [0.0, 0.0]):
      z = np.array(z, np.float32)
      weights = normalizers.masked_entmax15(tf.constant(z[None]))[0].numpy()
      self.assertAllClose(weights, numpy_entmax15(z), atol=1e-5)
      self.assertAllClose(weights.sum(), 1.0, atol=1e-5)
    # Sparse, but less than sparsemax: -1 is dropped by both, 0.5 only by
    # sparsemax at a larger gap.
    self.assertEqual(
        float(normalizers.masked_entmax15(tf.constant([[3.0, -2.0, 0.0]]))[0, 1]),
        0.0)

  def test_gradients_match_the_closed_form_jacobians(self):
    z = tf.Variable([[1.0, 0.5, -1.0, 0.9]])
    with tf.GradientTape(persistent=True) as tape:
      sparse = normalizers.masked_sparsemax(z)
      entmax = normalizers.masked_entmax15(z)
    support = (sparse.numpy()[0] > 0).astype(np.float32)
    jacobian = tape.jacobian(sparse, z).numpy()[0, :, 0, :]
    self.assertAllClose(
        jacobian, np.diag(support) - np.outer(support, support) /
        support.sum(), atol=1e-5)
    # 1.5-entmax, p_i = s_i^2 with s_i = z_i/2 - tau and sum_i s_i^2 = 1:
    # d tau / d z_j = s_j / (2 sum s), so J = diag(s) - s s^T / sum(s)
    # (Peters et al. 2019, proposition 3).
    s = np.sqrt(entmax.numpy()[0])
    expected = np.diag(s) - np.outer(s, s) / s.sum()
    self.assertAllClose(tape.jacobian(entmax, z).numpy()[0, :, 0, :],
                        expected, atol=1e-5)

  @parameterized.product(normalizer=["sparsemax", "entmax15"],
                         kind=["content", "dot_product", "location", "window"])
  def test_every_head_takes_a_normalizer(self, normalizer, kind):
    rng = np.random.RandomState(0)
    memory = tf.constant(rng.randn(3, 5, 4), tf.float32)
    queries = tf.constant(3.0 * rng.randn(3, 6, 7), tf.float32)
    mask = tf.sequence_mask([5, 3, 1], 5)
    head = attention.get({"type": kind, "normalizer": normalizer})
    self.assertEqual(head.get_config()["normalizer"], normalizer)
    reads, weights, _ = head.call_sequence(queries, memory, mask)
    self.assert_valid_weights(weights, mask[:, None, :])
    self.assertAllClose(reads, np.einsum("btk,bkd->btd", weights, memory),
                        atol=1e-6)

  def test_sparse_head_layer(self):
    rng = np.random.RandomState(0)
    memory = tf.constant(rng.randn(3, 5, 4), tf.float32)
    query = tf.constant(rng.randn(3, 7), tf.float32)
    self.run_layer_test(
        attention.ContentAttention,
        dict(normalizer="entmax15", initial_strength=3.0),
        (query, memory), call_kwargs={"memory_mask": tf.sequence_mask(
            [5, 3, 2], 5)},
        expected_output_shape=((3, 4), (3, 5), (3, 0)),
        expected_num_trainable_weights=4)

  def test_bad_normalizer(self):
    with self.assertRaisesRegex(
        ValueError, r"`normalizer` must be one of \('softmax', 'sparsemax', "
        r"'entmax15'\), received 'relu'"):
      attention.ContentAttention(normalizer="relu")
    with self.assertRaisesRegex(ValueError, r"`normalizer` must be one of"):
      normalizers.normalize(tf.zeros([2]), normalizer="relu")


class ExactAlignmentMathTest(test_case.TestCase):

  def test_text_likelihood_is_a_brute_force_logsumexp(self):
    rng = np.random.RandomState(0)
    b, t, k, v = 2, 3, 4, 7
    shared = rng.randn(b, t, v).astype(np.float32)
    slots = rng.randn(b, k, v).astype(np.float32)
    prior = rng.dirichlet(np.ones(k), size=(b, t)).astype(np.float32)
    prior[1, :, 3] = 0.0  # A masked slot.
    prior[1] /= prior[1].sum(-1, keepdims=True)
    targets = rng.randint(0, v, size=(b, t))
    per_slot = alignment.slot_log_likelihoods(
        tf.constant(shared), tf.constant(slots), tf.constant(targets), "text")
    log_marginal, posterior = alignment.exact_alignment(tf.constant(prior),
                                                        per_slot)
    expected_per_slot = np.zeros([b, t, k])
    for i in range(b):
      for j in range(t):
        for s in range(k):
          expected_per_slot[i, j, s] = numpy_log_softmax(
              shared[i, j] + slots[i, s])[targets[i, j]]
    self.assertAllClose(per_slot, expected_per_slot, atol=1e-5)
    with np.errstate(divide="ignore"):
      joint = np.log(prior) + expected_per_slot
    self.assertAllClose(log_marginal, numpy_logsumexp(joint), atol=1e-5)
    # Bayes' rule, and exact zeros where the prior is zero.
    self.assertAllClose(posterior, np.exp(joint - numpy_logsumexp(joint)[
        ..., None]), atol=1e-6)
    self.assert_valid_weights(posterior, prior > 0)

  def test_posterior_by_hand(self):
    # Two slots, prior (0.25, 0.75); the word has probability 0.6 under
    # slot 1 and 0.1 under slot 2: p(x) = 0.15 + 0.075 = 0.225 and the
    # posterior is (0.15, 0.075) / 0.225 = (2/3, 1/3).
    log_marginal, posterior = alignment.exact_alignment(
        tf.constant([[[0.25, 0.75]]]),
        tf.math.log(tf.constant([[[0.6, 0.1]]])))
    self.assertAllClose(log_marginal, [[math.log(0.225)]])
    self.assertAllClose(posterior, [[[2 / 3, 1 / 3]]])

  def test_normalizers_and_gradients_match_autodiff(self):
    rng = np.random.RandomState(1)
    upstream = tf.constant(rng.randn(2, 3, 4).astype(np.float32))
    cases = {
        "factorised": (rng.randn(2, 3, 5), rng.randn(2, 4, 5)),
        # Shared logits 300 nats apart: still the factorised path, exact.
        "wide_shared": (rng.randn(2, 3, 5) * [0, 0, 0, 0, 300.0],
                        rng.randn(2, 4, 5)),
        # One slot's logits spread over 100 and 1,000 nats.
        "wide_slot": (rng.randn(2, 3, 5), rng.randn(2, 4, 5) * [
            1.0, 1.0, 1.0, 1.0, 100.0]),
        "widest_slot": (rng.randn(2, 3, 5), rng.randn(2, 4, 5) * [
            1.0, 1.0, 1.0, 1.0, 1000.0]),
    }
    for name, (shared_value, slots_value) in cases.items():
      shared = tf.Variable(shared_value.astype(np.float32))
      slots = tf.Variable(slots_value.astype(np.float32))
      with tf.GradientTape(persistent=True) as tape:
        fast = alignment.slot_log_normalizers(shared, slots)
        naive = tf.reduce_logsumexp(shared[:, :, None] + slots[:, None], -1)
        fast_loss = tf.reduce_sum(fast * upstream)
        naive_loss = tf.reduce_sum(naive * upstream)
      self.assertAllClose(fast, naive, atol=1e-5, rtol=1e-6, msg=name)
      for a, b in zip(tape.gradient(fast_loss, [shared, slots]),
                      tape.gradient(naive_loss, [shared, slots])):
        self.assertAllClose(a, b, atol=1e-5, msg=name)
    # A slot whose low logit meets the shared logits' high one: every
    # float32 term of the product underflows (log 0 = -inf); 100 nats apart
    # the float64 product keeps exp(-100), 1,000 apart (float64's terms
    # underflow too) the per-slot loop is exact.
    for width in (100.0, 1000.0):
      shared = tf.constant([[[-2 * width, 0.0]]])
      slots = tf.constant([[[width, 0.0]]])
      with tf.GradientTape() as tape:
        tape.watch([shared, slots])
        value = alignment.slot_log_normalizers(shared, slots)
      self.assertAllClose(value, [[[np.logaddexp(-width, 0.0)]]], atol=1e-6)
      # Both gradients are the softmax of the joint logits [-width, 0].
      for gradient in tape.gradient(value, [shared, slots]):
        self.assertAllClose(gradient, [[[np.exp(-width), 1.0]]], atol=1e-6)
    # The fallback on its own (the default path never takes it above).
    shared, slots = (tf.constant(v.astype(np.float32))
                     for v in cases["factorised"])
    self.assertAllClose(alignment._per_slot_normalizers(shared, slots),
                        alignment.slot_log_normalizers(shared, slots),
                        atol=1e-5)

  def test_target_logits_and_gradient_match_a_one_hot_product(self):
    logits = tf.constant(np.random.RandomState(2).randn(2, 3, 5), tf.float32)
    targets = tf.constant([[4, 0, 4], [1, 1, 3]])  # Repeats, both ends.
    upstream = tf.constant([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(logits)
      gathered = alignment.target_logits(logits, targets)
      one_hot = tf.reduce_sum(logits * tf.one_hot(targets, 5), -1)
      losses = [tf.reduce_sum(t * upstream) for t in (gathered, one_hot)]
    self.assertAllClose(gathered, one_hot)
    self.assertAllClose(gathered[1, 2], logits[1, 2, 3])
    self.assertAllClose(tape.gradient(losses[0], logits),
                        tape.gradient(losses[1], logits))

  def test_image_likelihood_is_a_brute_force_sum_of_bernoullis(self):
    rng = np.random.RandomState(2)
    shared = rng.randn(2, 3, 5).astype(np.float32)
    slots = rng.randn(2, 4, 5).astype(np.float32)
    pixels = (rng.rand(2, 3, 5) > 0.5).astype(np.float32)
    per_slot = alignment.slot_log_likelihoods(
        tf.constant(shared), tf.constant(slots), tf.constant(pixels),
        "binary_image")
    logits = shared[:, :, None] + slots[:, None]
    probability = 1 / (1 + np.exp(-logits))
    expected = np.sum(pixels[:, :, None] * np.log(probability) +
                      (1 - pixels[:, :, None]) * np.log(1 - probability), -1)
    self.assertAllClose(per_slot, expected, atol=1e-5)


class ExactAlignmentModelTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.parameters(*WIRINGS)
  def test_model_likelihood_is_the_brute_force_marginal(self, wiring):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring=wiring)
    batch = text_batch()
    out = model(batch, seed=SEED)
    targets, inputs, mask = model.elements(batch)
    decoded = model.decoder(inputs, out["latents"][0], out["slot_mask"][0])
    shared = decoded["shared_logits"].numpy()
    slots = decoded["slot_logits"].numpy()
    weights = out["decoder_weights"].numpy()
    expected = np.zeros(weights.shape[:2])
    for i in range(3):
      for j in range(6):
        per_slot = [numpy_log_softmax(shared[i, j] + slots[i, s])[
            targets[i, j]] for s in range(3)]
        expected[i, j] = numpy_logsumexp(np.log(weights[i, j]) + per_slot)
    expected *= mask.numpy()
    self.assertAllClose(out["element_log_prob"], expected, atol=1e-5)
    self.assertAllClose(out["log_likelihood"], expected.sum(1), atol=1e-4)
    self.assertEqual(out["alignment_posterior"].shape, (3, 6, 3))
    self.assert_valid_weights(out["alignment_posterior"])

  def test_split_output_layer_is_the_soft_models(self):
    # Same weights: the soft model's logits are the shared logits plus the
    # read-weighted slot logits (the output layer is linear in the read).
    exact = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring="output_only")
    soft = text_model(num_slots=3, decoder_wiring="output_only")
    soft.set_weights(exact.get_weights())
    latents = tf.random.stateless_normal([3, 3, 4], [1, 2])
    _, inputs, _ = exact.elements(text_batch())
    split = exact.decoder(inputs, latents)
    whole = soft.decoder(inputs, latents)
    self.assertAllClose(
        whole["logits"], split["shared_logits"] + tf.einsum(
            "btk,bkv->btv", split["read_weights"], split["slot_logits"]),
        atol=1e-5)

  def test_one_slot_is_the_soft_model(self):
    exact = text_model(num_slots=1, decoder_alignment="exact")
    soft = text_model(num_slots=1)
    soft.set_weights(exact.get_weights())
    self.assertAllClose(exact(text_batch(), seed=SEED)["log_likelihood"],
                        soft(text_batch(), seed=SEED)["log_likelihood"],
                        atol=1e-5)

  def test_masked_slots_get_no_posterior(self):
    model = text_model(num_slots=4, decoder_alignment="exact",
                       slots_per_token=0.5)
    out = model(text_batch(), seed=SEED)
    self.assert_valid_weights(out["alignment_posterior"],
                              out["slot_mask"][0][:, None, :])

  def test_image_model(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(num_slots=3, decoder_alignment="exact",
                                  **SMALL_IMAGE)
    out = model(image_batch(), seed=SEED)
    self.assertEqual(out["alignment_posterior"].shape, (2, 4, 3))
    self.assertTrue(np.all(np.isfinite(out["log_likelihood"].numpy())))
    generated = model.generate(out["latents"][0], 4, seed=SEED)
    self.assertEqual(generated["elements"].shape, (2, 4, 6))
    self.assertEqual(generated["alignment"].shape, (2, 4))

  def test_every_variable_gets_a_finite_gradient(self):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring="output_only")
    with tf.GradientTape() as tape:
      loss = objectives.evidence_lower_bound(model, text_batch(),
                                             seed=SEED)["loss"]
    for variable, gradient in zip(
        model.trainable_variables,
        tape.gradient(loss, model.trainable_variables)):
      self.assertIsNotNone(gradient, variable.path)
      self.assertTrue(np.all(np.isfinite(tf.convert_to_tensor(gradient))),
                      variable.path)

  def test_iwae_is_at_least_the_elbo(self):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring="output_only")
    rng = np.random.RandomState(3)
    tokens = rng.randint(4, 30, size=(64, 6))
    tokens[:, -1] = data.EOS_ID
    batch = {"tokens": tf.constant(tokens, tf.int32)}
    elbo = np.mean([float(tf.reduce_mean(objectives.evidence_lower_bound(
        model, batch, seed=tf.constant([i, 1]))["elbo"])) for i in range(10)])
    iwae = float(tf.reduce_mean(objectives.iwae_bound(model, batch, 20,
                                                      seed=SEED)))
    self.assertLess(elbo, iwae)
    # One sample is the ELBO's estimator, exactly.
    self.assertAllClose(
        objectives.iwae_bound(model, batch, 1, seed=SEED),
        objectives.evidence_lower_bound(
            model, batch, seed=tf.random.experimental.stateless_fold_in(
                SEED, 0))["log_weight"], atol=1e-4, rtol=0)

  @parameterized.parameters(*WIRINGS)
  def test_step_reads_the_chosen_slot(self, wiring):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring=wiring)
    tokens = text_batch()["tokens"]
    inputs = tf.concat([tf.fill([3, 1], data.BOS_ID), tokens[:, :-1]], 1)
    latents = tf.random.stateless_normal([3, 3, 4], [1, 1])
    full = model.decoder(inputs, latents)
    carry = model.decoder.initial_carry(latents, None, 3, tf.float32)
    for t in range(6):
      slot = t % 3
      # Noise that makes slot `slot` the Gumbel-max choice.
      noise = 1e4 * tf.one_hot([slot] * 3, 3)
      logits, weights, carry = model.decoder.step(inputs[:, t], carry,
                                                  latents, None, noise)
      self.assertAllEqual(carry["slot"], [slot] * 3)
      self.assertAllClose(weights, full["read_weights"][:, t], atol=1e-5)
      self.assertAllClose(
          logits, full["shared_logits"][:, t] + full["slot_logits"][:, slot],
          atol=1e-5)

  def test_generation(self):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring="output_only")
    bias = model.decoder.output_layer.bias
    boosted = bias.numpy()
    boosted[[data.PAD_ID, data.BOS_ID]] = 50.0  # Make them the likeliest.
    bias.assign(boosted)
    latents = model.sample_prior(4, SEED)[0]
    slot_mask = tf.sequence_mask([3, 2, 1, 3], 3)
    for greedy in (False, True):
      out = model.generate(latents, 10, greedy=greedy, seed=SEED,
                           slot_mask=slot_mask)
      tokens = out["elements"].numpy()[out["element_mask"].numpy()]
      self.assertNotIn(data.PAD_ID, tokens)
      self.assertNotIn(data.BOS_ID, tokens)
      # Slots are drawn among the unmasked ones only; greedy takes the mode.
      chosen = out["alignment"].numpy()
      self.assertTrue(np.all(chosen < np.array([3, 2, 1, 3])[:, None]))
      if greedy:
        self.assertAllEqual(chosen, np.argmax(out["read_weights"], -1))


class ReportAssignmentTest(test_case.TestCase):
  """The analysis report's word-to-latent assignment (issue 9)."""

  def test_exact_model_reports_the_alignment_posterior(self):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring="output_only")
    path = collect.make_mean_path_fn(model)(text_batch())
    noise = [tf.zeros([3, 3, model.latent_dim[0]])]
    out = model(text_batch(), noise=noise)
    self.assertAllClose(path["assignment"], out["alignment_posterior"])
    self.assertAllClose(path["decoder_weights"], out["decoder_weights"])
    # The posterior has seen the word: it is not the decoder's prior (close
    # at initialisation, where the slots barely move the logits).
    self.assertGreater(float(tf.reduce_max(tf.abs(
        path["assignment"] - path["decoder_weights"]))), 1e-5)

  def test_exported_encode_returns_the_alignment_posterior(self):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring="output_only")
    path = os.path.join(self.create_tempdir().full_path, "vocab.txt")
    with open(path, "w") as f:
      f.write("\n".join(list(data.SPECIAL_TOKENS) + [
          f"w{i}" for i in range(30 - len(data.SPECIAL_TOKENS))]) + "\n")
    vocabulary = data.Vocabulary(path)
    module = export.serving_module(model, vocabulary)
    encoded = module.encode(tf.constant(["w1 w2 w3", "w4"]))
    tokens = module._tokens(tf.constant(["w1 w2 w3", "w4"]))
    path = collect.make_mean_path_fn(model)({"tokens": tokens})
    self.assertAllClose(encoded["assignment"], path["assignment"], atol=1e-5)
    self.assertEqual(encoded["assignment"].shape, (2, 4, 3))

  def test_soft_model_reports_the_read_weights(self):
    model = text_model(num_slots=3)
    path = collect.make_mean_path_fn(model)(text_batch())
    self.assertAllClose(path["assignment"], path["decoder_weights"])

  def test_map_draws_the_posterior_and_colours_by_it(self):
    prior = np.array([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4]])
    posterior = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8]])
    fig = figures.draw_attention_map(["a", "b", "<eos>"], prior,
                                     np.full([2, 3], 1 / 3),
                                     alignment_posterior=posterior)
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(
        loc="left")]
    self.assertLen(titles, 3)
    self.assertStartsWith(titles[0], "alignment posterior")
    self.assertStartsWith(titles[1], "decoder's prior")
    colours = [tick.get_color() for tick in fig.axes[2].get_xticklabels()]
    self.assertEqual(colours, [figures.slot_color(0), figures.slot_color(1),
                               figures.slot_color(1)])


class GumbelTest(test_case.TestCase, parameterized.TestCase):

  def test_straight_through_is_one_hot_with_the_soft_gradient(self):
    logits = tf.Variable([[0.3, -1.0, 2.0, 0.5], [1.0, 1.0, 1.0, 1.0]])
    noise = alignment.gumbel_noise([2, 4], [1, 2])
    cost = tf.constant([[1.0, -2.0, 3.0, 0.5], [0.0, 4.0, -1.0, 2.0]])
    with tf.GradientTape(persistent=True) as tape:
      weights = tf.nn.softmax(logits)
      sample = alignment.gumbel_softmax_straight_through(weights, noise, 0.5)
      soft = tf.nn.softmax((tf.math.log(weights) + noise) / 0.5)
      hard_loss = tf.reduce_sum(sample * cost)
      soft_loss = tf.reduce_sum(soft * cost)
    self.assertAllEqual(tf.reduce_sum(sample, -1), [1.0, 1.0])
    self.assertAllEqual(tf.reduce_max(sample, -1), [1.0, 1.0])
    self.assertAllEqual(tf.argmax(sample, -1), tf.argmax(soft, -1))
    self.assertAllClose(tape.gradient(hard_loss, logits),
                        tape.gradient(soft_loss, logits), atol=1e-6)

  def test_gumbel_max_samples_the_weights_and_skips_zeros(self):
    weights = tf.constant([[0.5, 0.0, 0.3, 0.2]])
    noise = alignment.gumbel_noise([20000, 4], [7, 8])
    chosen = alignment.hard_alignment(tf.tile(weights, [20000, 1]), noise)
    frequency = tf.reduce_mean(chosen, 0).numpy()
    self.assertEqual(frequency[1], 0.0)
    self.assertAllClose(frequency, weights[0], atol=0.015)
    self.assertAllEqual(alignment.hard_alignment(weights), [[1, 0, 0, 0]])

  def test_annealed_temperature(self):
    for step, expected in ((0, 1.0), (50, math.sqrt(0.1)), (100, 0.1),
                           (250, 0.1)):
      self.assertAllClose(alignment.annealed_temperature(step, 1.0, 0.1, 100),
                          expected, rtol=1e-6)
    objective = common.get_config().objective
    objective.update(gumbel_temperature_start=2.0, gumbel_temperature_end=0.5,
                     gumbel_anneal_steps=40)
    self.assertAllClose(optimization.read_temperature(20, objective), 1.0)
    self.assertAllClose(optimization.read_temperature(tf.constant(40, tf.int64),
                                                   objective), 0.5)

  @parameterized.parameters(*WIRINGS)
  def test_training_reads_a_sampled_slot_evaluation_the_argmax(self, wiring):
    model = text_model(num_slots=3, decoder_alignment="gumbel",
                       decoder_wiring=wiring)
    _, inputs, _ = model.elements(text_batch())
    latents = tf.random.stateless_normal([3, 3, 4], [1, 1])
    evaluated = model.decoder(inputs, latents)
    self.assertAllEqual(evaluated["alignment"], tf.one_hot(
        tf.argmax(evaluated["read_weights"], -1), 3))
    noise = alignment.gumbel_noise([3, 6, 3], [5, 5])
    with tf.GradientTape() as tape:
      sampled = model.decoder(inputs, latents, read_noise=noise,
                              read_temperature=0.5)
      loss = tf.reduce_sum(sampled["logits"] ** 2)
    self.assertAllEqual(tf.reduce_sum(sampled["alignment"], -1),
                        tf.ones([3, 6]))
    if wiring == "output_only":  # Same weights: a Gumbel-max sample.
      self.assertAllEqual(sampled["alignment"], alignment.hard_alignment(
          sampled["read_weights"], noise))
    head = model.decoder.head.trainable_weights
    for gradient in tape.gradient(loss, head):
      self.assertTrue(np.any(gradient.numpy() != 0))

  def test_model_outputs_and_generation(self):
    model = text_model(num_slots=3, decoder_alignment="gumbel")
    train_out = model(text_batch(), training=True, seed=SEED,
                      read_temperature=0.3)
    eval_out = model(text_batch(), seed=SEED)
    self.assertTrue(np.all(np.isfinite(train_out["log_likelihood"])))
    self.assertNotAllClose(train_out["log_likelihood"],
                           eval_out["log_likelihood"])
    generated = model.generate(eval_out["latents"][0], 5, greedy=True,
                               seed=SEED)
    self.assertAllEqual(generated["alignment"],
                        np.argmax(generated["read_weights"], -1))


class VariationalAlignmentTest(test_case.TestCase):

  def test_categorical_kl(self):
    q = np.array([[0.2, 0.0, 0.8], [0.5, 0.25, 0.25]], np.float32)
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.25, 0.25]], np.float32)
    self.assertAllClose(alignment.categorical_kl(q, p),
                        [0.2 * math.log(0.4) + 0.8 * math.log(4.0), 0.0],
                        atol=1e-6)

  def test_training_and_evaluation_terms(self):
    model = text_model(num_slots=3, decoder_alignment="variational",
                       decoder_wiring="output_only")
    batch = text_batch()
    evaluated = model(batch, seed=SEED)
    mask = evaluated["element_mask"].numpy()
    # Evaluation: the exact marginal, the same model as "exact".
    expected, _ = alignment.exact_alignment(
        evaluated["decoder_weights"], evaluated["slot_log_likelihood"])
    self.assertAllClose(evaluated["element_log_prob"], expected * mask,
                        atol=1e-5)
    self.assert_valid_weights(evaluated["alignment_inference"])
    trained = model(batch, seed=SEED, training=True, read_temperature=0.5)
    q = trained["alignment_inference"].numpy()
    kl = np.sum(q * (np.log(q) - np.log(trained["decoder_weights"].numpy())),
                -1)
    self.assertAllClose(trained["alignment_kl"], kl * mask, atol=1e-5)
    # Training: one sampled slot's log-likelihood minus the KL, per element.
    per_slot = trained["slot_log_likelihood"].numpy()
    estimate = trained["element_log_prob"].numpy() + kl * mask
    candidates = per_slot * mask[..., None]
    self.assertTrue(np.all(np.min(np.abs(
        candidates - estimate[..., None]), -1) < 1e-4))
    # The inference network and the read head both get gradients.
    with tf.GradientTape() as tape:
      loss = objectives.evidence_lower_bound(
          model, batch, seed=SEED, training=True, read_temperature=0.5)["loss"]
    variables = (model.alignment_inference.trainable_weights +
                 model.decoder.head.trainable_weights)
    for variable, gradient in zip(variables,
                                  tape.gradient(loss, variables)):
      self.assertTrue(np.any(gradient.numpy() != 0), variable.path)

  def test_inference_layer(self):
    rng = np.random.RandomState(0)
    self.run_layer_test(
        alignment.AlignmentInference, dict(units=5),
        (tf.constant(rng.randn(2, 6, 7), tf.float32),
         tf.constant(rng.randn(2, 3, 4), tf.float32)),
        call_kwargs={"slot_mask": tf.sequence_mask([3, 2], 3)},
        expected_output_shape=(2, 6, 3), expected_num_trainable_weights=4,
        output_to_loss=lambda q: tf.reduce_sum(
            q * tf.range(3, dtype=tf.float32)))


class LayerAndConfigRoundTripTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.parameters("exact", "gumbel", "variational")
  def test_decoder_layer(self, alignment_name):
    latents = tf.random.stateless_normal([2, 3, 4], [1, 1])
    expected = dict(read_weights=(2, 5, 3), attention_state=(2, 5, 0))
    if alignment_name == "gumbel":
      expected.update(logits=(2, 5, 11), alignment=(2, 5, 3))
    else:
      expected.update(shared_logits=(2, 5, 11), slot_logits=(2, 3, 11))
    self.run_layer_test(
        decoder_lib.Decoder,
        dict(output_dim=11, input_kind="tokens", embedding_dim=6, units=8,
             attention="content", wiring="output_only",
             alignment=alignment_name),
        (tf.constant(np.arange(10).reshape(2, 5) % 11, tf.int32), latents),
        expected_output_shape=expected)

  @parameterized.named_parameters(
      ("exact", dict(decoder_alignment="exact")),
      ("gumbel", dict(decoder_alignment="gumbel")),
      ("variational", dict(decoder_alignment="variational")),
      ("sparsemax_dropout", dict(decoder_normalizer="sparsemax",
                                 slot_dropout=0.25)),
  )
  def test_model_config_round_trip(self, kwargs):
    model = text_model(num_slots=3, **kwargs)
    config = model.get_config()
    for key, value in kwargs.items():
      self.assertEqual(config[key], value)
    clone = model_lib.InverseDraw.from_config(config)
    clone(text_batch())
    self.assertEqual(clone.get_config(), config)
    clone.set_weights(model.get_weights())
    self.assertAllClose(clone(text_batch(), seed=SEED)["log_likelihood"],
                        model(text_batch(), seed=SEED)["log_likelihood"])


class EntropyPenaltyAndSlotDropoutTest(test_case.TestCase):

  def test_penalty_adds_weight_times_mean_entropy(self):
    model = text_model(num_slots=3)
    batch = text_batch()
    plain = objectives.evidence_lower_bound(model, batch, seed=SEED)
    penalised = objectives.evidence_lower_bound(
        model, batch, seed=SEED, attention_entropy_weight=0.3)
    mask = plain["num_elements"]
    del mask
    self.assertAllClose(penalised["loss"] - plain["loss"],
                        0.3 * plain["decoder_entropy"], atol=1e-5)
    self.assertAllClose(penalised["elbo"], plain["elbo"])  # Loss only.
    with self.assertRaisesRegex(ValueError,
                                r"`attention_entropy_weight` must be >= 0"):
      objectives.evidence_lower_bound(model, batch, seed=SEED,
                                      attention_entropy_weight=-1.0)

  def test_balance_subtracts_weight_times_slot_marginal_entropy(self):
    model = text_model(num_slots=3)
    batch = text_batch()
    plain = objectives.evidence_lower_bound(model, batch, seed=SEED)
    balanced = objectives.evidence_lower_bound(
        model, batch, seed=SEED, slot_balance_weight=0.7)
    # The slot shares by hand: reads averaged over the unmasked elements.
    weights = plain["decoder_weights"].numpy()
    mask = (np.arange(weights.shape[1])[None, :] <
            plain["num_elements"].numpy()[:, None])
    shares = weights[mask].mean(axis=0)
    hand = -np.sum(shares * np.log(shares))
    self.assertAllClose(plain["decoder_marginal_entropy"], hand, atol=1e-5)
    self.assertAllClose(plain["loss"] - balanced["loss"], 0.7 * hand,
                        atol=1e-5)
    self.assertAllClose(balanced["elbo"], plain["elbo"])  # Loss only.
    # Equal weights make the pair minus a mutual information: never > 0.
    both = objectives.evidence_lower_bound(
        model, batch, seed=SEED, attention_entropy_weight=1.0,
        slot_balance_weight=1.0)
    self.assertLessEqual(float(both["loss"] - plain["loss"]), 1e-6)
    with self.assertRaisesRegex(ValueError,
                                r"`slot_balance_weight` must be >= 0"):
      objectives.evidence_lower_bound(model, batch, seed=SEED,
                                      slot_balance_weight=-1.0)

  def test_slot_marginal_entropy_of_one_slot_and_of_uniform_use(self):
    one_slot = tf.one_hot([[2, 2], [2, 0]], 4)  # The padded read is slot 0.
    mask = tf.constant([[True, True], [True, False]])
    self.assertAllClose(objectives.slot_marginal_entropy(one_slot, mask), 0.)
    spread = tf.one_hot([[0, 1], [2, 3]], 4)
    self.assertAllClose(
        objectives.slot_marginal_entropy(spread, tf.ones([2, 2], tf.bool)),
        math.log(4))

  def test_slot_dropout_hides_slots_in_training_only(self):
    model = text_model(num_slots=4, slot_dropout=0.5)
    train_weights = model(text_batch(), training=True,
                          seed=SEED)["decoder_weights"].numpy()
    hidden = np.all(train_weights == 0.0, axis=1)  # (B, K): never read.
    self.assertTrue(hidden.any())
    self.assertTrue(np.all(~hidden.all(-1)))  # Every row keeps a slot.
    self.assert_valid_weights(train_weights)
    eval_weights = model(text_batch(), seed=SEED)["decoder_weights"].numpy()
    self.assertTrue(np.all(eval_weights > 0))


class ModelErrorTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("alignment", dict(decoder_alignment="hard"),
       r"`decoder_alignment` must be one of \('soft', 'exact', 'gumbel', "
       r"'variational'\), received 'hard'"),
      ("normalizer", dict(decoder_normalizer="relu"),
       r"`decoder_normalizer` must be one of"),
      ("slot_dropout", dict(slot_dropout=1.0),
       r"`slot_dropout` must be in \[0, 1\)"),
      ("slot_dropout_window", dict(slot_dropout=0.1,
                                   decoder_attention="window"),
       r"`slot_dropout` needs a content or dot_product"),
      ("variational_sparse", dict(decoder_alignment="variational",
                                  decoder_normalizer="sparsemax"),
       r"'variational' needs a softmax decoder head"),
      ("no_latents", dict(decoder_alignment="exact", num_slots=0),
       r"`decoder_alignment`='exact' needs latents"),
      ("contradiction", dict(decoder_normalizer="sparsemax",
                             decoder_attention={"type": "content",
                                                "normalizer": "entmax15"}),
       r"`decoder_normalizer`='sparsemax' contradicts"),
  )
  def test_errors(self, kwargs, pattern):
    with self.assertRaisesRegex(ValueError, pattern) as context:
      model_lib.InverseDraw(**dict(SMALL, **kwargs))
    self.assertNotIn("\n", str(context.exception))


class ConfigTest(parameterized.TestCase, test_case.TestCase):

  def test_combination_errors_name_the_model(self):
    config = ptb.get_config("alignment=variational,wiring=output_only,"
                            "budget=results")
    config.model.decoder_normalizer = "entmax15"
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"config\.model: .*needs a softmax"):
      config_lib.validate(config)

  def test_issue_configs_are_valid(self):
    for arg, key, value in (
        ("alignment=exact", "decoder_alignment", "exact"),
        ("alignment=variational", "decoder_alignment", "variational"),
        ("alignment=gumbel", "decoder_alignment", "gumbel"),
        ("normalizer=sparsemax", "decoder_normalizer", "sparsemax"),
        ("normalizer=entmax15", "decoder_normalizer", "entmax15")):
      arg += ",wiring=output_only,budget=results"
      for local in ("", ",runlocal"):
        config = ptb.get_config(arg + local)
        config_lib.validate(config)
        self.assertEqual(config.model[key], value)
        self.assertEqual(config.model.num_slots, 8)
        self.assertEqual(config.model.decoder_wiring, "output_only")
      self.assertEqual(ptb.get_config(arg + ",runlocal").train.num_steps, 20)
      self.assertIn(f'"{value}"', ptb.__doc__)  # Each value documented.

  def test_defaults_keep_todays_model(self):
    model = common.get_config().model
    self.assertEqual((model.decoder_alignment, model.decoder_normalizer,
                      model.slot_dropout), ("soft", "softmax", 0.0))
    self.assertEqual(common.get_config().objective.attention_entropy_weight,
                     0.0)

  def test_run_recorded_before_the_new_keys_resumes(self):
    workdir = self.create_tempdir().full_path
    config = common.get_config()
    old = config_lib.plain(config)
    for section, keys in config_lib.ADDED_DEFAULTS.items():
      for key in keys:
        del old[section][key]
    config_lib.write_atomic(os.path.join(workdir, "config.json"),
                            config_lib.to_json(old))
    config_lib.check_or_write_workdir_config(config, workdir, write=False)
    self.assertEqual(
        config_lib.load_workdir_config(workdir).model.decoder_alignment,
        "soft")
    config.model.decoder_alignment = "exact"
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"model\.decoder_alignment: 'soft' -> 'exact'"):
      config_lib.check_or_write_workdir_config(config, workdir, write=False)


def random_batch(seed=0, batch_size=8, length=7, vocab_size=30):
  rng = np.random.RandomState(seed)
  tokens = rng.randint(4, vocab_size, size=(batch_size, length))
  tokens[:, -1] = data.EOS_ID
  tokens[: batch_size // 2, length - 2:] = data.PAD_ID
  tokens[: batch_size // 2, length - 3] = data.EOS_ID
  return {"tokens": tf.constant(tokens, tf.int32)}


class TrainingTest(test_case.TestCase, parameterized.TestCase):
  """A few real training steps of every option (ptb_small:runlocal sizes)."""

  @parameterized.named_parameters(
      ("exact", dict(decoder_alignment="exact"), {}),
      ("variational", dict(decoder_alignment="variational"), {}),
      ("gumbel", dict(decoder_alignment="gumbel"), {}),
      ("sparsemax_entropy_penalty", dict(decoder_normalizer="sparsemax"),
       dict(attention_entropy_weight=0.1)),
      ("window_mutual_information", dict(decoder_alignment="exact",
                                         decoder_attention="window"),
       dict(attention_entropy_weight=0.5, slot_balance_weight=0.5)),
      ("entmax", dict(decoder_normalizer="entmax15"), {}),
      ("slot_dropout", dict(slot_dropout=0.25, decoder_attention="content"),
       {}),
      ("decoder_dropout", dict(decoder_dropout=0.3,
                               decoder_attention="window",
                               decoder_alignment="exact"), {}),
  )
  def test_train_steps_are_finite(self, model_fields, objective_fields):
    config = ptb_small.get_config("runlocal")
    common.replace_model_fields(config, **model_fields)
    config.objective.update(objective_fields)
    config_lib.validate(config)
    keras.utils.set_random_seed(1)
    model = model_lib.build_model(config.model, 30)
    model(model_lib.example_batch(model))
    optimizer = optimization.build_optimizer(config.optimizer,
                                          config.train.num_steps)
    step_fn = tf.function(lambda batch, step: optimization.train_step(
        model, optimizer, batch, step=step, seed=tf.constant([0, 0]),
        config=config, global_batch_size=8))
    before = [v.numpy() for v in model.trainable_variables]
    for step in range(3):
      sums = step_fn(random_batch(step), tf.constant(step, tf.int64))
      self.assertTrue(np.isfinite(float(sums["loss"])), sums)
      self.assertEqual(float(sums["applied"]), 1.0)
    self.assertAllClose(
        sums["read_temperature"],
        optimization.read_temperature(2, config.objective))
    self.assertTrue(any(np.any(a != v.numpy()) for a, v in
                        zip(before, model.trainable_variables)))


class EvaluationTest(test_case.TestCase):

  def test_alignment_statistics(self):
    model = text_model(num_slots=3, decoder_alignment="exact",
                       decoder_wiring="output_only")
    batches = [random_batch(seed) for seed in range(2)]
    result = evaluation.evaluate(model, batches, num_samples=3, chunk_size=3,
                                 seed=1, mi_batches=1)
    self.assertAllClose(sum(result["alignment_slot_share"]), 1.0, atol=1e-5)
    self.assertAllClose(sum(result["alignment_argmax_share"]), 1.0,
                        atol=1e-5)
    self.assertBetween(result["alignment_entropy"], 0.0, math.log(3) + 1e-6)
    self.assertBetween(result["alignment_slots_over_5_percent"], 1, 3)
    self.assertLess(result["nll"], -result["elbo"] + 1e-3)
    self.assertIn("alignment posterior entropy",
                  evaluation.format_table(result))
    # By hand from the model on the same mean path.
    zero_noise = [tf.zeros_like(n) for n in model.sample_noise(8, SEED)]
    posteriors, masks = [], []
    for batch in batches:
      out = model(batch, noise=zero_noise)
      posteriors.append(out["alignment_posterior"].numpy())
      masks.append(out["element_mask"].numpy())
    posterior = np.concatenate(posteriors)[np.concatenate(masks)]
    self.assertAllClose(result["alignment_slot_share"], posterior.mean(0),
                        atol=1e-5)
    entropy = -np.sum(np.where(posterior > 0, posterior * np.log(
        np.where(posterior > 0, posterior, 1.0)), 0.0), -1)
    self.assertAllClose(result["alignment_entropy"], entropy.mean(),
                        atol=1e-5)

  def test_soft_model_has_no_alignment_statistics(self):
    model = text_model(num_slots=3)
    result = evaluation.evaluate(model, [random_batch()], num_samples=2,
                                 mi_batches=0)
    self.assertNotIn("alignment_entropy", result)


if __name__ == "__main__":
  tf.test.main()
