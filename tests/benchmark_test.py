"""bin/benchmark runs end to end on a tiny config (it asserts no speed)."""

import json
import os

import tensorflow as tf

import subprocess_utils as sp


class BenchmarkTest(tf.test.TestCase):

  def test_wiring_benchmark_runs(self):
    output = os.path.join(self.create_tempdir().full_path, "bench.json")
    code, log = sp.run("benchmark", [
        "--config=configs/ptb_small.py:runlocal", "--steps=2", "--warmup=1",
        "--repeats=2",
        f"--output={output}"])
    self.assertEqual(code, 0, log)
    with open(output) as f:
      rows = json.load(f)
    self.assertEqual([r["variant"] for r in rows],
                     ["input_feeding", "output_only"])
    for row in rows:
      self.assertGreater(row["elements_per_s"], 0)
      self.assertEqual(row["repeats"], 2)
      self.assertLessEqual(row["ms_per_step_min"], row["ms_per_step"])
      self.assertLessEqual(row["ms_per_step"], row["ms_per_step_max"])
      self.assertBetween(row["model_flops_utilisation"], 0.0, 1.0)
      self.assertGreater(row["parameters"], 0)
    self.assertIn("ms/step", log)


if __name__ == "__main__":
  tf.test.main()


class FlopsTest(tf.test.TestCase):

  def test_language_model_flops_by_hand(self):
    from inverse_draw_tf import benchmark  # pylint: disable=g-import-not-at-top
    from inverse_draw_tf import model as model_lib  # pylint: disable=g-import-not-at-top
    model = model_lib.InverseDraw(vocab_size=30, embedding_dim=8,
                                  decoder_units=16, num_slots=0)
    # Per token: LSTM 2 * (8 + 16) * 64 + 10 * 16 elementwise, output layer
    # 2 * 16 * 30; 2 x 5 tokens; backward twice the forward.
    per_token = 2 * 24 * 64 + 160 + 2 * 16 * 30
    self.assertEqual(benchmark.training_flops(model, 2, 5),
                     3 * 10 * per_token)

  def test_latents_add_encoder_posterior_and_attention(self):
    from inverse_draw_tf import benchmark  # pylint: disable=g-import-not-at-top
    from inverse_draw_tf import model as model_lib  # pylint: disable=g-import-not-at-top
    kwargs = dict(vocab_size=30, embedding_dim=8, decoder_units=16,
                  encoder_units=8, posterior_units=8, latent_dim=4)
    lm = benchmark.training_flops(
        model_lib.InverseDraw(num_slots=0, **kwargs), 2, 5)
    k4 = benchmark.training_flops(
        model_lib.InverseDraw(num_slots=4, **kwargs), 2, 5)
    k8 = benchmark.training_flops(
        model_lib.InverseDraw(num_slots=8, **kwargs), 2, 5)
    self.assertGreater(k4, lm)
    self.assertGreater(k8, k4)
