"""Tests of inverse_draw_tf/evaluation.py: statistics on hand-made tensors,
mutual information, and a whole evaluation of a tiny model, in process and
through bin/evaluate."""

import json
import math
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from inverse_draw_tf import evaluation
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import reconstruction as reconstruction_lib
import subprocess_utils as sp
import test_case

SMALL = dict(vocab_size=40, embedding_dim=8, encoder_units=8, decoder_units=16,
             posterior_units=8, latent_dim=3)


def batches(count=3, size=6, seed=0):
  rng = np.random.RandomState(seed)
  out = []
  for _ in range(count):
    tokens = np.zeros([size, 6], np.int32)
    for row in range(size):
      n = rng.randint(2, 7)
      tokens[row, :n - 1] = rng.randint(4, 40, size=n - 1)
      tokens[row, n - 1] = 3
    out.append({"tokens": tf.constant(tokens)})
  return out


class MutualInformationTest(test_case.TestCase):

  def test_posterior_that_ignores_x_has_zero_information(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(num_slots=2, posterior_type="mean_pooled",
                                  **SMALL)
    batch = batches(1)[0]
    model(batch)
    hidden = model.posteriors[0].hidden
    hidden.kernel.assign(tf.zeros_like(hidden.kernel))
    self.assertAllClose(
        evaluation.mutual_information(model, batch, tf.constant([1, 2])), 0.0,
        atol=1e-5)

  def test_estimate_is_between_zero_and_log_batch_size(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(num_slots=(3, 2), **SMALL)
    batch = batches(1, size=8)[0]
    mi = float(evaluation.mutual_information(model, batch,
                                             tf.constant([1, 2])))
    self.assertBetween(mi, -0.05, math.log(8))


class EvaluateTest(test_case.TestCase):

  def test_whole_evaluation(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(num_slots=4, **SMALL)
    data = batches()
    result = evaluation.evaluate(model, data, num_samples=7, chunk_size=3,
                                 seed=1, mi_batches=2)
    tokens = sum(int(np.sum(b["tokens"].numpy() != 0)) for b in data)
    self.assertEqual(result["num_examples"], 18)
    self.assertEqual(result["num_elements"], tokens)
    self.assertAllClose(result["ppl"],
                        math.exp(result["nll"] * 18 / tokens), rtol=1e-6)
    # The IWAE estimate is a tighter bound than the ELBO.
    self.assertLess(result["nll"], -result["elbo"])
    self.assertAllClose(sum(result["kl_per_slot"]), result["kl"], rtol=1e-5)
    self.assertAllClose(sum(result["slot_token_share"]), 1.0, atol=1e-5)
    self.assertBetween(result["decoder_attention_entropy"], 0.0,
                       math.log(4) + 1e-6)
    self.assertEqual(result["latent_dimensions"], 12)
    self.assertIsNotNone(result["mutual_information"])
    again = evaluation.evaluate(model, data, num_samples=7, chunk_size=3,
                                seed=1, mi_batches=2)
    self.assertEqual(result["nll"], again["nll"])  # Deterministic in seed.

  def test_max_examples(self):
    model = model_lib.InverseDraw(num_slots=0, **SMALL)
    result = evaluation.evaluate(model, batches(), num_samples=1,
                                 max_examples=7)
    self.assertEqual(result["num_examples"], 12)  # Whole batches of 6.
    self.assertNotIn("active_units", result)

  def test_interrupted_evaluation_resumes_to_the_same_result(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(num_slots=4, **SMALL)
    data = batches(count=4)
    kwargs = dict(num_samples=5, chunk_size=5, seed=3, mi_batches=3)
    whole = evaluation.evaluate(model, data, **kwargs)

    def stopped_after(count):
      for index, batch in enumerate(data):
        if index == count:
          raise KeyboardInterrupt
        yield batch

    path = os.path.join(self.create_tempdir().full_path, "progress.npz")
    with self.assertRaises(KeyboardInterrupt):
      evaluation.evaluate(model, stopped_after(2), progress_path=path,
                          progress_key="run", save_every_seconds=0, **kwargs)
    self.assertTrue(os.path.exists(path))
    logs = []
    resumed = evaluation.evaluate(model, data, progress_path=path,
                                  progress_key="run", log_fn=logs.append,
                                  **kwargs)
    self.assertIn("2 batches (12 examples", logs[0])
    self.assertLen(logs, 3)  # The resume line, then batches 3 and 4 only.
    # Every statistic, including the posterior means behind the active units
    # and the mutual information of batches before and after the stop.
    for key, value in whole.items():
      if key != "seconds":
        self.assertAllClose(resumed[key], value, rtol=1e-6, msg=key)
    self.assertFalse(os.path.exists(path))  # Deleted once complete.

  @pytest.mark.slow  # 22 s on 2 idle cores; `make test-all` runs it.
  def test_progress_of_another_evaluation_is_not_resumed(self):
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(num_slots=4, **SMALL)
    data = batches(count=2)
    path = os.path.join(self.create_tempdir().full_path, "progress.npz")
    fresh = evaluation.evaluate(model, data, num_samples=3, seed=2)

    def stopped_after_one():
      yield data[0]
      raise KeyboardInterrupt

    for key, seed in (("other weights", 2), ("run", 1)):
      with self.assertRaises(KeyboardInterrupt):
        evaluation.evaluate(model, stopped_after_one(), num_samples=3,
                            seed=seed, progress_path=path, progress_key=key,
                            save_every_seconds=0)
      logs = []
      result = evaluation.evaluate(model, data, num_samples=3, seed=2,
                                   progress_path=path, progress_key="run",
                                   log_fn=logs.append)
      self.assertNotIn("resuming", logs[0])
      self.assertEqual(result["nll"], fresh["nll"])

  def test_table_compares_with_a_reference_run(self):
    run = dict(num_examples=3761, split="test", nll=101.25, num_samples=500,
               ppl=101.2, elbo=-104.0, kl=11.0, mutual_information=5.5,
               active_units=32, latent_dimensions=32,
               decoder_attention_entropy=0.0, uniform_attention_entropy=0.0,
               slots_over_5_percent=1)
    language_model = dict(num_examples=3761, split="test", nll=99.91,
                          num_samples=1, ppl=95.5, elbo=-99.91, kl=0.0)
    lines = evaluation.format_table(run, language_model, "lm").splitlines()
    self.assertEqual(re.split(r"\s{2,}", lines[0].strip()), ["this run", "lm"])
    rows = {cells[0]: cells[1:] for cells in
            (re.split(r"\s{2,}", line) for line in lines[1:])}
    self.assertEqual(rows["NLL (nats/example, IWAE)"],
                     ["101.25 (S=500)", "99.91 (S=1)"])
    self.assertEqual(rows["mutual information"], ["5.50", "n/a"])
    self.assertEqual(rows["NLL difference"], ["+1.34 nats (worse)"])
    better = evaluation.format_table(language_model, run, "vae")
    self.assertIn("-1.34 nats (better)", better)
    # No difference across different data.
    subset = dict(language_model, num_examples=384)
    self.assertIn("not comparable", evaluation.format_table(run, subset))
    # Without a reference: one column, as before.
    self.assertNotIn("this run", evaluation.format_table(run))
    self.assertIn("+0.00 nats (equal)", evaluation.format_table(run, run))
    # A hierarchy's levels: one row each, n/a where the other run has none.
    hierarchy = dict(run, kl_per_level=[9.0, 2.0], tokens_per_used_slot=3.5,
                     level_assignment_entropy=[0.25],
                     level_uniform_entropy=[math.log(2)],
                     level_slots_over_10_percent=[2],
                     lower_per_used_upper=[4.0])
    rows = {cells[0]: cells[1:] for cells in (
        re.split(r"\s{2,}", line) for line in
        evaluation.format_table(hierarchy, run).splitlines()[1:])}
    self.assertEqual(rows["KL per level (bottom first)"], ["9.00, 2.00", "n/a"])
    self.assertEqual(rows["level 2 assignment entropy"],
                     ["0.250 (uniform 0.693)", "n/a"])
    self.assertEqual(rows["level 2 slots with >= 10% of level 1's"],
                     ["2", "n/a"])
    self.assertEqual(rows["level 1 slots per level 2 slot in use"],
                     ["4.00", "n/a"])

  def test_bin_evaluate_refuses_a_bad_reference_at_once(self):
    missing = os.path.join(self.create_tempdir().full_path, "none.json")
    code, output = sp.run("evaluate", ["--workdir=/nonexistent", "--table",
                                       f"--compare_with={missing}"])
    self.assertEqual(code, 1, output)
    self.assertIn(f"bin/evaluate: error: --compare_with={missing} is not an "
                  "evaluation JSON (FileNotFoundError", output)

  @pytest.mark.slow  # 47 s on 2 idle cores; `make test-all` runs it.
  def test_bin_evaluate_on_a_trained_run(self):
    workdir = os.path.join(self.create_tempdir().full_path, "run")
    code, output = sp.run("train", [
        "--config=configs/ptb_small.py:runlocal", "--config.train.num_steps=4",
        "--config.train.eval_every=4", f"--workdir={workdir}"])
    self.assertEqual(code, 0, output)
    code, output = sp.run("evaluate", [
        f"--workdir={workdir}", "--split=valid", "--num_samples=3",
        "--max_examples=16", "--table", "--reconstruction_beam_size=2"])
    self.assertEqual(code, 0, output)
    with open(os.path.join(workdir, "evaluate_valid.json")) as f:
      result = json.load(f)
    self.assertIn(json.dumps(result, sort_keys=True), output)
    self.assertEqual(result["step"], 4)
    self.assertEqual(result["num_samples"], 3)
    self.assertTrue(result["checkpoint"].endswith("best/ckpt-4"))
    for key in ("nll", "ppl", "elbo", "kl", "mutual_information",
                "active_units", "decoder_attention_entropy", "num_elements"):
      self.assertIn(key, result)
    self.assertIn("perplexity", output)
    reconstruction = result["reconstruction"]
    self.assertEqual((reconstruction["num_examples"],
                      reconstruction["beam_size"]), (16, 2))
    self.assertBetween(reconstruction["f1"], 0.0, 1.0)
    # Sentences as words, the score of each its F1 against the original.
    for example in reconstruction["examples"]:
      self.assertAllClose(example["f1"], reconstruction_lib.unigram_f1(
          example["original"].split(), example["reconstruction"].split()))
    self.assertFalse(os.path.exists(
        os.path.join(workdir, "evaluate_valid.progress.npz")))

    code, output = sp.run("evaluate", [f"--workdir={workdir}x"])
    self.assertEqual(code, 1)
    self.assertIn("bin/evaluate: error: `" + workdir + "x` has no config.json",
                  output)


if __name__ == "__main__":
  tf.test.main()
