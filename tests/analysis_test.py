"""Tests of inverse_draw_tf/analysis.py against values worked out by hand on
small fixed tensors."""

import math

import numpy as np
import tensorflow as tf

from inverse_draw_tf import analysis
import test_case

# Two sentences, three steps, three slots; the first sentence has two tokens.
WEIGHTS = np.array([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0]],
                    [[0.3, 0.3, 0.4], [0.5, 0.25, 0.25], [0.0, 1.0, 0.0]]])
MASK = np.array([[True, True, False], [True, True, True]])
TOKENS = np.array([[4, 5, 0], [4, 4, 3]])


class AssignmentTest(test_case.TestCase):

  def test_assignments_are_the_argmax_slot(self):
    self.assertAllEqual(analysis.assignments(WEIGHTS), [[0, 2, 0], [2, 0, 1]])
    # Ties go to the lowest slot.
    self.assertAllEqual(analysis.assignments([[[0.5, 0.5]]]), [[0]])


class RateTest(test_case.TestCase):

  def test_tokens_per_latent(self):
    rate = analysis.rate_statistics(WEIGHTS, MASK)
    self.assertAllClose(rate["mass"], [[0.8, 0.3, 0.9], [0.8, 1.55, 0.65]])
    self.assertAllEqual(rate["argmax"], [[1, 0, 1], [1, 1, 1]])
    self.assertAllClose(rate["mass_per_slot"], [0.8, 0.925, 0.775])
    self.assertAllClose(rate["argmax_per_slot"], [1.0, 0.5, 1.0])
    self.assertAllEqual(rate["lengths"], [2, 3])
    self.assertAllEqual(rate["slots_used"], [2, 3])
    self.assertAllClose(rate["tokens_per_used_slot"], [1.0, 1.0])
    self.assertAllClose(rate["mean_tokens_per_used_slot"], 1.0)

  def test_slot_mask_leaves_unused_slots_out_of_the_means(self):
    slot_mask = np.array([[True, True, False], [True, True, True]])
    rate = analysis.rate_statistics(WEIGHTS, MASK, slot_mask)
    self.assertAllClose(rate["mass_per_slot"], [0.8, 0.925, 0.65])
    self.assertAllClose(rate["argmax_per_slot"], [1.0, 0.5, 1.0])
    never = analysis.rate_statistics(WEIGHTS, MASK,
                                     [[True, True, False]] * 2)
    self.assertTrue(np.isnan(never["mass_per_slot"][2]))

  def test_latents_that_cover_stretches(self):
    # Six tokens: slot 0 produces the first four, slot 1 the last two.
    weights = np.zeros([1, 6, 4])
    weights[0, :4, 0] = 1.0
    weights[0, 4:, 1] = 1.0
    rate = analysis.rate_statistics(weights)
    self.assertAllEqual(rate["argmax"], [[4, 2, 0, 0]])
    self.assertAllEqual(rate["slots_used"], [2])
    self.assertAllClose(rate["tokens_per_used_slot"], [3.0])
    self.assertAllClose(rate["mean_tokens_per_used_slot"], 3.0)

  def test_bad_shapes_name_the_argument(self):
    with self.assertRaisesRegex(
        ValueError, r"`weights` must have shape \(batch_size, rows, slots\), "
        r"received shape \(2, 3\)\.$"):
      analysis.rate_statistics(np.ones([2, 3]))
    with self.assertRaisesRegex(
        ValueError, r"`mask` must have shape \(2, 3\) to match the weights, "
        r"received shape \(3, 2\)\.$"):
      analysis.rate_statistics(WEIGHTS, MASK.T)
    with self.assertRaisesRegex(ValueError, r"`slot_mask` must have shape "
                                r"\(2, 3\)"):
      analysis.rate_statistics(WEIGHTS, MASK, np.ones([2, 4], bool))


class EntropyTest(test_case.TestCase):

  def test_entropies_and_uniform_baselines(self):
    weights = np.array([[[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                         [0.25, 0.25, 0.25, 0.25]]])
    entropy, baseline = analysis.attention_entropies(weights)
    self.assertAllClose(entropy, [math.log(2), 0.0, math.log(4)])
    self.assertAllClose(baseline, [math.log(4)] * 3)
    entropy, baseline = analysis.attention_entropies(
        weights, row_mask=[[True, False, True]],
        column_mask=[[True, True, True, False]])
    self.assertAllClose(entropy, [math.log(2), math.log(4)])
    self.assertAllClose(baseline, [math.log(3)] * 2)

  def test_matches_the_training_entropy(self):
    from inverse_draw_tf import attention  # pylint: disable=g-import-not-at-top
    entropy, _ = analysis.attention_entropies(WEIGHTS, MASK)
    reference = attention.entropy(tf.constant(WEIGHTS)).numpy()[MASK]
    self.assertAllClose(entropy, reference)


class WordTest(test_case.TestCase):

  def test_word_slot_matrix(self):
    matrix = analysis.word_slot_matrix(WEIGHTS, MASK, TOKENS, 6)
    expected_mass = np.zeros([6, 3])
    expected_mass[4] = [0.7 + 0.3 + 0.5, 0.2 + 0.3 + 0.25, 0.1 + 0.4 + 0.25]
    expected_mass[5] = [0.1, 0.1, 0.8]
    expected_mass[3] = [0.0, 1.0, 0.0]
    self.assertAllClose(matrix["mass"], expected_mass)
    expected_argmax = np.zeros([6, 3])
    expected_argmax[4] = [2, 0, 1]
    expected_argmax[5] = [0, 0, 1]
    expected_argmax[3] = [0, 1, 0]
    self.assertAllEqual(matrix["argmax"], expected_argmax)

  def test_word_ids_out_of_range(self):
    with self.assertRaisesRegex(ValueError, r"`token_ids` must lie in \[0, 5\) "
                                r"\(`vocab_size`\), received ids from 3 to 5"):
      analysis.word_slot_matrix(WEIGHTS, MASK, TOKENS, 5)

  def test_top_words(self):
    matrix = analysis.word_slot_matrix(WEIGHTS, MASK, TOKENS, 6)
    top = analysis.top_words(matrix["mass"], 2)
    self.assertEqual([[w for w, _ in slot] for slot in top],
                     [[4, 5], [3, 4], [5, 4]])
    self.assertAllClose([v for _, v in top[2]], [0.8, 0.75])
    self.assertEqual([w for w, _ in analysis.top_words(
        matrix["mass"], 2, exclude=[3])[1]], [4, 5])
    # Ties (slot 2: words 4 and 5 once each) go to the smaller id; zero
    # counts are never listed.
    self.assertEqual(analysis.top_words(matrix["argmax"], 3),
                     [[(4, 2.0)], [(3, 1.0)], [(4, 1.0), (5, 1.0)]])

  def test_distinctive_words(self):
    mass = analysis.word_slot_matrix(WEIGHTS, MASK, TOKENS, 6)["mass"]
    # Slot shares of all mass: 1.6 / 5, 1.85 / 5, 1.55 / 5.
    lifts = analysis.distinctive_words(mass, 2, min_count=0.5)
    self.assertEqual([[w for w, _, _ in slot] for slot in lifts],
                     [[4], [3], [5]])
    self.assertAllClose(lifts[0][0][1:], [(1.5 / 3) / 0.32, 3.0])
    self.assertAllClose(lifts[1][0][1:], [1.0 / 0.37, 1.0])
    self.assertAllClose(lifts[2][0][1:], [0.8 / 0.31, 1.0])
    strict = analysis.distinctive_words(mass, 2, min_count=2.0)
    self.assertEqual([[w for w, _, _ in slot] for slot in strict],
                     [[4], [], []])
    self.assertAllClose(strict[0][0][1:], [(1.5 / 3) / 0.32, 3.0])


class WindowTest(test_case.TestCase):

  def test_steps_from_positions(self):
    kappa = np.array([[[0.5, 0.1], [1.5, 0.3], [1.5, 0.4]],
                      [[0.2, 0.2], [0.4, 0.4], [0.9, 0.6]]])
    steps = analysis.window_steps(kappa, [[True, True, False],
                                          [True, True, True]])
    self.assertAllClose(steps, [[0.5, 0.1], [1.0, 0.2],
                                [0.2, 0.2], [0.2, 0.2], [0.5, 0.2]])


class LatentTest(test_case.TestCase):

  def test_active_dimensions_per_slot(self):
    means = np.array([[[0.0, 1.0], [0.0, 0.0]],
                      [[1.0, 1.0], [0.1, 0.0]],
                      [[2.0, 1.0], [0.2, 3.0]]])
    counts, variance = analysis.active_dimensions(means)
    self.assertAllEqual(counts, [1, 1])
    self.assertAllClose(variance, [[2 / 3, 0.0], [0.02 / 3, 2.0]])
    # Slot 1 out of use in the last example: its variance is over two.
    counts, variance = analysis.active_dimensions(
        means, [[True, True], [True, True], [True, False]])
    self.assertAllEqual(counts, [1, 0])
    self.assertAllClose(variance[1], [0.0025, 0.0])
    counts, variance = analysis.active_dimensions(
        means, [[True, False], [True, False], [True, True]])
    self.assertAllEqual(counts, [1, 0])
    self.assertTrue(np.all(np.isnan(variance[1])))

  def test_principal_direction_of_points_on_a_line(self):
    center = np.array([1.0, 2.0])
    axis = np.array([0.6, -0.8])
    points = center + np.array([-2.0, -1.0, 0.0, 1.0, 2.0])[:, None] * axis
    direction, scale, mean = analysis.principal_direction(points)
    # Largest-magnitude entry made positive: -axis.
    self.assertAllClose(direction, [-0.6, 0.8])
    self.assertAllClose(scale, math.sqrt(2.0))
    self.assertAllClose(mean, center)
    with self.assertRaisesRegex(ValueError, r"`points` must have shape \(N, "
                                r"D\) with N >= 2, received shape \(1, 2\)"):
      analysis.principal_direction(points[:1])

  def test_interpolate(self):
    path = analysis.interpolate([0.0, 2.0], [4.0, -2.0], 3)
    self.assertAllClose(path, [[0.0, 2.0], [2.0, 0.0], [4.0, -2.0]])
    self.assertEqual(analysis.interpolate(np.zeros([3, 2]), np.ones([3, 2]),
                                          5).shape, (5, 3, 2))
    with self.assertRaisesRegex(ValueError, r"`start` and `end` must have "
                                r"one shape, received \(2,\) and \(3,\)"):
      analysis.interpolate([0.0, 1.0], [0.0, 1.0, 2.0], 3)
    with self.assertRaisesRegex(ValueError, "`num_steps` must be at least 2"):
      analysis.interpolate([0.0], [1.0], 1)

  def test_traverse_moves_one_slot(self):
    moved = analysis.traverse([[1.0, 1.0], [5.0, 5.0]], 1, [1.0, 0.0],
                              [-1.0, 0.0, 2.0])
    self.assertAllClose(moved, [[[1, 1], [4, 5]], [[1, 1], [5, 5]],
                                [[1, 1], [7, 5]]])
    with self.assertRaisesRegex(ValueError, r"`slot` must be in \[0, 2\), "
                                "received 2"):
      analysis.traverse(np.ones([2, 2]), 2, [1.0, 0.0], [0.0])


class ChangedTokensTest(test_case.TestCase):

  def test_alignment_marks_only_what_changed(self):
    self.assertEqual(analysis.changed_tokens("a b c d".split(),
                                             "a x c d e".split()),
                     [False, True, False, False, True])
    # An insertion marks only the inserted word.
    self.assertEqual(analysis.changed_tokens("the cat sat".split(),
                                             "the big cat sat".split()),
                     [False, True, False, False])
    self.assertEqual(analysis.changed_tokens(["a", "b"], ["a", "b"]),
                     [False, False])
    self.assertEqual(analysis.changed_tokens([], ["a", "b"]), [True, True])
    self.assertEqual(analysis.changed_tokens(["a"], []), [])


if __name__ == "__main__":
  tf.test.main()
