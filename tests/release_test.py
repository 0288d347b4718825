"""The released PTB model (release/ptb/<version>/): within the size bound,
loadable by a process that imports only TensorFlow and TF Text, and its
signatures give what README promises."""

import glob
import os

import numpy as np
import tensorflow as tf

from inverse_draw_tf import serving
import export_test
import subprocess_utils as sp

RELEASE = os.path.join(sp.REPO_ROOT, "release", "ptb")
MAX_BYTES = 20 * 1024 * 1024
SENTENCES = ["the company said it expects sales to rise",
             "prices of bonds were mixed in early trading"]


def _version_dir():
  versions = [p for p in glob.glob(os.path.join(RELEASE, "*"))
              if os.path.basename(p).isdigit()]
  assert len(versions) == 1, f"release/ptb must hold one version: {versions}"
  return versions[0]


class ReleaseTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.path = _version_dir()
    cls.client = export_test.run_client(cls.path, {
        "score_with_options": {"sentences": [SENTENCES, "string"],
                               "num_samples": [[10], "int32"],
                               "seed": [[], "int32"]},
        "score": {"sentences": [SENTENCES[:1] * 3, "string"]},
        "encode": {"sentences": [SENTENCES, "string"]},
        "reconstruct": {"sentences": [SENTENCES[:1], "string"]},
        "sample": {"num_samples": [2, "int32"]},
        "score#many": {"sentences": [SENTENCES[:1] * 1001, "string"]},
        # 201 sentences at the default 100 samples: over today's limit, so
        # a release exported with older limits fails here.
        "score#work": {"sentences": [SENTENCES[:1] * 201, "string"]},
    }, tf.compat.v1.test.get_temp_dir())

  def test_at_most_20_mb(self):
    total = sum(os.path.getsize(os.path.join(root, name))
                for root, _, names in os.walk(self.path) for name in names)
    self.assertLessEqual(total, MAX_BYTES)

  def test_loads_without_our_package(self):
    self.assertEqual(self.client["modules"], [])
    self.assertEqual(self.client["signatures"],
                     export_test.TEXT_SIGNATURES)

  def test_scores_are_plausible_sentence_nlls(self):
    score = self.client["score_with_options"]
    self.assertEqual(score["num_tokens"]["value"],
                     [len(s.split()) + 1 for s in SENTENCES])
    nll = np.array(score["nll"]["value"])
    # Between 1 and 12 nats a token: far better than uniform over the
    # 10,002 words (9.2 nats) would be at the low end, never worse than 12.
    per_token = nll / np.array(score["num_tokens"]["value"])
    self.assertAllInRange(per_token, 1.0, 12.0)
    # The IWAE bound is at least as tight as the one-sample ELBO on average.
    self.assertLessEqual(nll.mean(), -np.mean(score["elbo"]["value"]) + 0.5)

  def test_every_word_is_assigned_to_the_latents(self):
    encoded = self.client["encode"]
    batch, width, slots = encoded["assignment"]["shape"]
    self.assertEqual((batch, slots), (2, 8))
    assignment = np.array(encoded["assignment"]["value"]).reshape(
        batch, width, slots)
    length = len(SENTENCES[0].split()) + 1
    self.assertAllClose(assignment[0, :length].sum(-1), np.ones(length),
                        atol=1e-4)

  def test_reconstruct_and_sample_return_sentences_ending_in_eos(self):
    reconstruct = self.client["reconstruct"]
    self.assertNotEmpty(reconstruct["reconstructions"]["value"][0].split())
    self.assertIn("<eos>", reconstruct["tokens"]["value"])
    sample = self.client["sample"]
    width = sample["tokens"]["shape"][1]
    tokens = np.array(sample["tokens"]["value"]).reshape(2, width)
    self.assertEqual([("<eos>" in row) for row in tokens.tolist()],
                     [True, True])

  def test_a_score_depends_on_the_sentence_alone_and_requests_are_bounded(
      self):
    nll = self.client["score"]["nll"]["value"]
    self.assertEqual(nll, [nll[0]] * 3)
    self.assertIn("`sentences` holds at most 1000 sentences a call",
                  self.client["score#many"]["error"])
    self.assertIn("examples x `num_samples` must be at most "
                  f"{serving.LIMITS['scored_samples']} a call",
                  self.client["score#work"]["error"])


if __name__ == "__main__":
  tf.test.main()
