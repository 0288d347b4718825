"""Tests of inverse_draw_tf/metrics.py: the one implementation of the batch
statistics, against hand computations."""

import math

import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import analysis
from inverse_draw_tf import metrics
from inverse_draw_tf import model as model_lib
import test_case

# Two sentences, three steps, three slots; the first sentence has two tokens.
WEIGHTS = np.array([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0]],
                    [[0.3, 0.3, 0.4], [0.5, 0.25, 0.25], [0.0, 1.0, 0.0]]])
MASK = np.array([[True, True, False], [True, True, True]])


class SlotTokenSharesTest(test_case.TestCase):

  def test_mass_argmax_and_count_by_hand(self):
    mass, counts, total = metrics.slot_token_shares(
        tf.constant(WEIGHTS, tf.float32), tf.constant(MASK))
    self.assertAllClose(mass, [0.7 + 0.1 + 0.3 + 0.5 + 0.0,
                               0.2 + 0.1 + 0.3 + 0.25 + 1.0,
                               0.1 + 0.8 + 0.4 + 0.25 + 0.0])
    self.assertAllEqual(counts, [2, 1, 2])
    self.assertEqual(float(total), 5.0)

  def test_accepts_numpy_arrays(self):
    mass, counts, total = metrics.slot_token_shares(WEIGHTS, MASK)
    self.assertEqual(mass.dtype, tf.float64)
    self.assertAllEqual(counts, [2, 1, 2])
    self.assertEqual(float(total), 5.0)
    # Ties go to the lowest slot.
    _, counts, _ = metrics.slot_token_shares([[[0.5, 0.5]]], [[True]])
    self.assertAllEqual(counts, [1, 0])

  def test_bad_shapes_name_the_argument(self):
    with self.assertRaisesRegex(ValueError, "at least one slot"):
      metrics.slot_token_shares(np.ones([2, 3, 0]), np.ones([2, 3], bool))
    with self.assertRaisesRegex(
        ValueError, r"`weights` must have shape \(batch_size, rows, slots\)"):
      metrics.slot_token_shares(np.ones([2, 3]), np.ones([2, 3], bool))
    with self.assertRaisesRegex(
        ValueError, r"`element_mask` must have shape \(2, 3\) to match the "
        r"weights, received shape \(3, 2\)\.$"):
      metrics.slot_token_shares(WEIGHTS, MASK.T)


class ActiveUnitsTest(test_case.TestCase):

  def test_active_units(self):
    means = np.array([[0.0, 1.0, 5.0], [0.0, -1.0, 5.05], [0.0, 1.0, 4.95]])
    count, variance = analysis.active_units(means)
    # Variances: 0, 8/9 and 0.0016667: only the middle one exceeds 0.01.
    self.assertEqual(count, 1)
    self.assertAllClose(variance, [0.0, 8 / 9, 0.005 / 3])


def _batch(seed, length, batch_size=4):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(4, 30, size=[batch_size, length]).astype(np.int32)
  for row in range(batch_size):
    n = rng.integers(2, length + 1)
    tokens[row, n:] = 0
    tokens[row, n - 1] = 3
  return {"tokens": tf.constant(tokens)}


class BatchSumsTest(test_case.TestCase):

  def _model(self, **kwargs):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(
        vocab_size=30, embedding_dim=8, encoder_units=8, decoder_units=16,
        posterior_units=8, num_slots=3, latent_dim=4, **kwargs)
    model(model_lib.example_batch(model))
    return model

  def test_sums_are_the_model_outputs_summed(self):
    model = self._model(decoder_alignment="exact")
    batch = _batch(1, 7)
    seed = tf.constant([5, 6])
    sums = metrics.batch_sums(model, batch, seed=seed)
    sampled = model(batch, seed=seed)
    mean = model.posterior_mean(batch)
    mask = mean["element_mask"].numpy()
    self.assertAllClose(
        sums["elbo"], np.sum(sampled["log_likelihood"] -
                             tf.reduce_sum(sampled["kl"][0], -1)), atol=1e-4)
    self.assertAllClose(sums["kl_per_slot"],
                        np.sum(sampled["kl"][0], 0), atol=1e-5)
    self.assertEqual(float(sums["num_elements"]), mask.sum())
    self.assertEqual(float(sums["num_examples"]), 4.0)
    posterior = mean["alignment_posterior"].numpy()
    entropy = -np.sum(posterior * np.log(np.maximum(posterior, 1e-30)), -1)
    self.assertAllClose(sums["assignment_entropy"], entropy[mask].sum(),
                        atol=1e-4)
    self.assertAllClose(sums["alignment_entropy"], sums["assignment_entropy"])
    self.assertAllEqual(
        sums["assignment_argmax"],
        np.bincount(posterior.argmax(-1)[mask], minlength=3))
    # The posterior means are the mean path's locations, one row a sentence.
    self.assertAllClose(sums["posterior_means"],
                        mean["posterior_loc"][0].numpy().reshape(4, -1))

  def test_soft_reads_are_the_assignment(self):
    model = self._model()
    sums = metrics.batch_sums(model, _batch(2, 6), seed=tf.constant([0, 1]))
    self.assertNotIn("alignment_entropy", sums)
    self.assertAllClose(sums["assignment_entropy"], sums["decoder_entropy"])
    self.assertAllClose(sums["assignment_argmax"], sums["slot_argmax"])

  def test_a_model_without_latents_has_only_the_elbo(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(vocab_size=30, embedding_dim=8,
                                  decoder_units=16, num_slots=0)
    sums = metrics.batch_sums(model, _batch(3, 5), seed=tf.constant([0, 0]))
    self.assertEqual(sorted(sums), ["distortion", "elbo", "kl", "kl_per_slot",
                                    "num_elements", "num_examples"])
    self.assertAllClose(sums["elbo"], -sums["distortion"])


class LevelStatisticsTest(test_case.TestCase):

  def test_used_slot_rates_by_hand(self):
    # Row 0: 2 elements on slots 0 and 2 (rate 1); row 1: 3 elements on
    # slots 2, 0, 1 (rate 1); a row without elements does not count.
    rates, rows = metrics.used_slot_rates(
        np.concatenate([WEIGHTS, WEIGHTS[:1]], 0).astype(np.float32),
        np.concatenate([MASK, [[False] * 3]], 0))
    self.assertEqual((float(rates), float(rows)), (2.0, 2.0))
    # Everything on one slot: the rate is the number of elements.
    one_slot = np.zeros([2, 3, 3], np.float32)
    one_slot[..., 1] = 1.0
    rates, rows = metrics.used_slot_rates(one_slot, MASK)
    self.assertEqual((float(rates), float(rows)), (5.0, 2.0))

  def test_a_hierarchy_sums_each_levels_assignment(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(
        vocab_size=30, embedding_dim=8, encoder_units=8, decoder_units=16,
        posterior_units=8, prior_units=8, num_slots=[4, 3, 2], latent_dim=4,
        prior_alignment="exact")
    batch = _batch(1, 7)
    sums = metrics.batch_sums(model, batch, seed=tf.constant([5, 6]))
    mean = model.posterior_mean(batch)
    for level, weights in ((2, mean["level_assignment"][0]),
                           (3, mean["level_assignment"][1])):
      weights = weights.numpy()
      name = f"assignment_level_{level}"
      self.assertEqual(float(sums[f"{name}_slots"]), 4 * weights.shape[1])
      self.assertAllEqual(sums[f"{name}_argmax"], np.bincount(
          weights.argmax(-1).ravel(), minlength=weights.shape[-1]))
      self.assertAllClose(sums[f"{name}_entropy"], -np.sum(
          weights * np.log(np.maximum(weights, 1e-30))), atol=1e-4)
      used = [len(set(row)) for row in weights.argmax(-1)]
      self.assertAllClose(sums[f"{name}_rate"],
                          sum(weights.shape[1] / u for u in used), atol=1e-5)
    self.assertEqual(sums["kl_per_level"].shape, (3,))
    self.assertAllClose(np.sum(sums["kl_per_level"]), sums["kl"], atol=1e-3)
    self.assertNotIn("assignment_level_4_slots", sums)

  def test_summarize_levels_by_hand(self):
    totals = dict(
        num_examples=2.0, num_elements=10.0, elbo=-40.0, distortion=36.0,
        kl=4.0, kl_per_slot=np.array([1.0, 1.0, 1.0, 1.0]), nll=38.0,
        slot_mass=np.array([5.0, 5.0]), slot_argmax=np.array([5.0, 5.0]),
        decoder_entropy=0.0, posterior_entropy=0.0, num_posterior_reads=4.0,
        assignment_argmax=np.array([5.0, 5.0]), assignment_entropy=0.0,
        kl_per_level=np.array([3.0, 1.0]), token_rate=8.0, rate_rows=2.0,
        assignment_level_2_slots=4.0,
        assignment_level_2_argmax=np.array([3.0, 1.0, 0.0]),
        assignment_level_2_entropy=2.0, assignment_level_2_rate=3.0)
    result = metrics.summarize(totals, [np.zeros([2, 2])], num_slots=2,
                               text=True)
    self.assertEqual(result["kl_per_level"], [1.5, 0.5])
    self.assertEqual(result["tokens_per_used_slot"], 4.0)
    self.assertEqual(result["level_assignment_entropy"], [0.5])
    self.assertAllClose(result["level_uniform_entropy"], [math.log(3)])
    self.assertEqual(result["level_assignment_argmax_share"],
                     [[0.75, 0.25, 0.0]])
    self.assertEqual(result["level_slots_over_10_percent"], [2])
    self.assertEqual(result["lower_per_used_upper"], [1.5])


class SummarizeTest(test_case.TestCase):

  def test_statistics_by_hand(self):
    totals = dict(
        num_examples=2.0, num_elements=10.0, elbo=-40.0, distortion=36.0,
        kl=4.0, kl_per_slot=np.array([3.0, 1.0]), nll=38.0,
        slot_mass=np.array([9.5, 0.5]), slot_argmax=np.array([10.0, 0.0]),
        decoder_entropy=2.0, posterior_entropy=1.0, num_posterior_reads=4.0,
        assignment_argmax=np.array([6.0, 4.0]), assignment_entropy=3.0)
    means = [np.array([[0.0, 1.0], [0.0, -1.0]])]
    result = metrics.summarize(totals, means, num_slots=2, text=True)
    self.assertEqual(result["num_examples"], 2)
    self.assertEqual(result["nll"], 19.0)
    self.assertAllClose(result["ppl"], math.exp(38.0 / 10))
    self.assertAllClose(result["elbo_ppl"], math.exp(4.0))
    self.assertEqual(result["kl_per_slot"], [1.5, 0.5])
    self.assertEqual(result["active_units"], 1)
    self.assertEqual(result["latent_dimensions"], 2)
    self.assertAllClose(result["decoder_attention_entropy"], 0.2)
    self.assertAllClose(result["posterior_attention_entropy"], 0.25)
    self.assertAllClose(result["uniform_attention_entropy"], math.log(2))
    self.assertAllClose(result["slot_token_share"], [0.95, 0.05])
    self.assertEqual(result["slots_over_5_percent"], 2)
    self.assertAllClose(result["assignment_argmax_share"], [0.6, 0.4])
    self.assertEqual(result["assignment_slots_over_5_percent"], 2)
    self.assertAllClose(result["assignment_entropy"], 0.3)
    self.assertNotIn("alignment_entropy", result)

  def test_no_batches_is_an_error(self):
    with self.assertRaisesRegex(ValueError, "yielded no batches"):
      metrics.summarize({}, [], num_slots=0, text=True)


if __name__ == "__main__":
  tf.test.main()
