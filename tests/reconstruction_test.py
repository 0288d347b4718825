"""Tests of inverse_draw_tf/reconstruction.py: unigram F1 against hand
computations, and the split-wide reconstruction score against the model's
own decoding (beam search from the posterior mean; a language model's
greedy output)."""

import numpy as np
import tensorflow as tf

from inverse_draw_tf import data
from inverse_draw_tf import reconstruction
import generation_test
import test_case

EOS, PAD = data.EOS_ID, data.PAD_ID


def _batches():
  ids = np.array([[5, 6, 7, EOS, PAD], [8, 9, 5, 6, EOS], [10, EOS, PAD, PAD,
                                                           PAD]], np.int32)
  return [{"tokens": tf.constant(ids[:2])}, {"tokens": tf.constant(ids[2:])}]


class UnigramF1Test(test_case.TestCase):

  def test_hand_computed_scores(self):
    f1 = reconstruction.unigram_f1
    self.assertEqual(f1(["a", "b"], ["a", "b"]), 1.0)
    self.assertEqual(f1(["a", "b"], ["c"]), 0.0)
    # Overlap 1 of 2 hypothesis and 4 reference words: P 1/2, R 1/4.
    self.assertAlmostEqual(f1(["a", "b", "c", "d"], ["a", "x"]), 2 / 6)
    # Clipped counts: "the" twice in the reference matches two of three.
    # Overlap 2 ("the" x2) + 1 ("cat") = 3; P 3/4, R 3/3.
    self.assertAlmostEqual(f1(["the", "cat", "the"],
                              ["the", "the", "the", "cat"]), 6 / 7)
    self.assertEqual(f1([], []), 1.0)
    self.assertEqual(f1(["a"], []), 0.0)

  def test_words_stop_at_eos_and_drop_specials(self):
    self.assertEqual(reconstruction.words_of(
        [5, data.UNK_ID, 6, EOS, 7, PAD]), [5, data.UNK_ID, 6])
    self.assertEqual(reconstruction.words_of([data.BOS_ID, 5, PAD]), [5])


class EvaluateReconstructionsTest(test_case.TestCase):

  def test_beam_reconstructions_of_the_posterior_mean(self):
    model = generation_test.tiny_model(eos_bias=3.0)
    result = reconstruction.evaluate_reconstructions(
        model, _batches(), beam_size=3, max_length=6)
    self.assertEqual(result["num_examples"], 3)
    # By hand: the posterior mean decoded with the same beam.
    expected = []
    for batch in _batches():
      latents = model.posterior_mean(batch)["posterior_loc"][0]
      decoded = model.beam_search(latents, 6, 3)["elements"].numpy()
      for original, ids in zip(batch["tokens"].numpy(), decoded):
        expected.append((reconstruction.words_of(original),
                         reconstruction.words_of(ids)))
    self.assertEqual([(e["original"], e["reconstruction"])
                      for e in result["examples"]], expected)
    scores = [reconstruction.unigram_f1(a, b) for a, b in expected]
    self.assertAllClose(result["f1"], np.mean(scores))
    self.assertEqual(result["exact"],
                     np.mean([a == b for a, b in expected]))
    self.assertEqual(expected[2][0], [10])

  def test_a_language_model_reconstructs_with_its_greedy_output(self):
    model = generation_test.tiny_model(num_slots=0, eos_bias=3.0)
    result = reconstruction.evaluate_reconstructions(
        model, _batches(), beam_size=1, max_length=6, max_examples=2)
    self.assertEqual(result["num_examples"], 2)
    greedy = model.generate(None, 6, greedy=True, batch_size=1)["elements"]
    words = reconstruction.words_of(greedy[0].numpy())
    # The same output whatever the input: it carries nothing of it.
    self.assertEqual([e["reconstruction"] for e in result["examples"]],
                     [words, words])

  def test_bad_arguments(self):
    with self.assertRaisesRegex(ValueError, r"`beam_size` must be >= 1"):
      reconstruction.make_reconstruct_fn(generation_test.tiny_model(), 5, 0)
    with self.assertRaisesRegex(ValueError, r"no sentences to reconstruct"):
      reconstruction.evaluate_reconstructions(generation_test.tiny_model(),
                                              [], beam_size=2)


if __name__ == "__main__":
  tf.test.main()
