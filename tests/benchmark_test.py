"""bin/benchmark end to end on tiny configs, and the arithmetic behind it.

Nothing here asserts a speed: benchmarks report, tests check they work.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import subprocess_utils as sp
from inverse_draw_tf import benchmark
from inverse_draw_tf import comparison
from inverse_draw_tf import data
from inverse_draw_tf import flops
from inverse_draw_tf import model as model_lib


class BenchmarkScriptTest(tf.test.TestCase):

  @pytest.mark.slow  # 119 s on 2 idle cores; `make test-all` runs it.
  def test_quick_mode_runs_every_section(self):
    output = os.path.join(self.create_tempdir().full_path, "bench.json")
    code, log = sp.run("benchmark", [
        "--quick", "--config=configs/ptb_small.py:runlocal",
        "--image_config=configs/mnist.py:runlocal", f"--output={output}"])
    self.assertEqual(code, 0, log)
    with open(output) as f:
      results = json.load(f)
    self.assertGreater(results["machine"]["matmul_ceiling_gflops_per_s"], 0)
    self.assertIn("amx_bf16", results["machine"]["cpu"])
    for section in benchmark.SECTIONS:
      self.assertNotEmpty(results[section], section)
      for row in results[section]:
        self.assertGreater(row["elements_per_s"], 0, row["name"])
        self.assertBetween(row["mfu"], 0.0, 1.0)
        self.assertGreater(row["peak_rss_mib"], 0)
    training = results["training"][0]
    self.assertGreater(training["input_batches_per_s"], 0)
    self.assertLessEqual(training["ms_per_step_min"], training["ms_per_step"])
    self.assertLessEqual(training["ms_per_step"], training["ms_per_step_max"])
    self.assertAlmostEqual(sum(training["flop_shares"].values()), 1.0,
                           places=6)
    self.assertEqual([r["length"] for r in results["length"]], [16, 64])
    self.assertEqual([r["slots"] for r in results["slots"]], [8, 64])
    self.assertEqual(results["evaluation"][-1]["num_samples"], 1000)
    attention = results["attention"][0]
    self.assertGreater(attention["attention_share"], 0.0)
    # 5 of the default config, 2 of the released recipe's row, and the ratio
    # to the PyTorch reference where this CPU kind has its speed on record.
    has_reference = comparison.reference_speed(results["machine"]["cpu"])
    self.assertLen(results["targets"], 8 if has_reference else 7)
    self.assertEqual([r["name"] for r in results["comparison"]], [
        "reference_sized/float32", "reference_sized/mixed_bfloat16",
        "released_li_sizes/float32", "released_li_sizes/mixed_bfloat16"])
    for name in ("training MFU", "IWAE evaluation MFU", "peak memory"):
      self.assertIn(name, log)

  def test_unknown_section_is_a_one_line_error(self):
    code, log = sp.run("benchmark", ["--quick", "--sections=training,gpu"])
    self.assertNotEqual(code, 0)
    self.assertIn("unknown --sections ['gpu']", log)


class FlopsTest(tf.test.TestCase):

  def test_language_model_flops_by_hand(self):
    model = model_lib.InverseDraw(vocab_size=30, embedding_dim=8,
                                  decoder_units=16, num_slots=0)
    # Per token: LSTM 2 * (8 + 16) * 64 + 10 * 16 elementwise, output layer
    # 2 * 16 * 30; 2 x 5 tokens; backward twice the forward.
    per_token = 2 * 24 * 64 + 160 + 2 * 16 * 30
    self.assertEqual(flops.training_flops(model, 2, 5),
                     3 * 10 * per_token)
    parts = flops.forward_flops(model, 2, 5)
    self.assertEqual(parts["output_layer"], 10 * 2 * 16 * 30)
    self.assertEqual(parts["encoder"], 0.0)

  def test_group_autoregression_adds_its_network_to_the_output_layer(self):
    kwargs = dict(observation="binary_image", image_shape=(2, 6),
                  pixels_per_step=6, embedding_dim=8, decoder_units=16,
                  num_slots=0)
    plain = flops.forward_flops(model_lib.InverseDraw(**kwargs), 2, 2)
    ordered = flops.forward_flops(model_lib.InverseDraw(
        group_autoregressive_units=5, **kwargs), 2, 2)
    # Per step: x (6) and h (16) into 5 hidden units, 5 hidden units and
    # x again to 6 offsets; 2 x 2 steps.
    self.assertEqual(ordered["output_layer"] - plain["output_layer"],
                     4 * 2 * (6 * 5 + 16 * 5 + 5 * 6 + 6 * 6))
    self.assertEqual(ordered["decoder_lstm"], plain["decoder_lstm"])

  def test_latents_add_encoder_posterior_and_attention(self):
    kwargs = dict(vocab_size=30, embedding_dim=8, decoder_units=16,
                  encoder_units=8, posterior_units=8, latent_dim=4)
    lm = flops.training_flops(
        model_lib.InverseDraw(num_slots=0, **kwargs), 2, 5)
    k4 = flops.training_flops(
        model_lib.InverseDraw(num_slots=4, **kwargs), 2, 5)
    k8 = flops.training_flops(
        model_lib.InverseDraw(num_slots=8, **kwargs), 2, 5)
    self.assertGreater(k4, lm)
    self.assertGreater(k8, k4)

  def test_evaluation_encodes_once_and_repeats_the_rest(self):
    model = model_lib.InverseDraw(vocab_size=30, embedding_dim=8,
                                  decoder_units=16, encoder_units=8,
                                  posterior_units=8, latent_dim=4,
                                  num_slots=4)
    parts = flops.forward_flops(model, 3, 7)
    rest = sum(v for k, v in parts.items() if k != "encoder")
    self.assertEqual(flops.evaluation_flops(model, 3, 7, 10),
                     parts["encoder"] + 10 * rest)
    self.assertGreater(parts["encoder"], 0)


class PeakMemoryTest(tf.test.TestCase):

  def test_sees_an_allocation_inside_the_block(self):
    with benchmark.PeakMemory() as memory:
      block = np.ones(64 * 2 ** 20 // 8)  # 64 MiB, touched.
      del block
    self.assertGreater(memory.peak_mib, memory.start_mib + 60)
    if memory.per_block:  # The mark was reset: the next block starts lower.
      with benchmark.PeakMemory() as quiet:
        pass
      self.assertLess(quiet.peak_mib, memory.peak_mib)


class TargetsTest(tf.test.TestCase):

  def _row(self, **fields):
    return dict(fields)

  def test_targets_from_hand_made_rows(self):
    results = dict(
        training=[dict(name="input_feeding", mfu=0.4)],
        evaluation=[dict(mfu=0.7, num_samples=100, peak_rss_mib=1000.0),
                    dict(mfu=0.7, num_samples=1000, peak_rss_mib=5000.0)],
        slots=[dict(wiring="output_only", slots=8, elements_per_s=1000.0),
               dict(wiring="output_only", slots=64, elements_per_s=900.0)],
        length=[dict(wiring="output_only", length=16, elements_per_s=100.0),
                dict(wiring="output_only", length=32, elements_per_s=200.0),
                dict(wiring="output_only", length=64, elements_per_s=160.0)])
    targets = {t["name"]: t for t in benchmark.check_targets(results)}
    self.assertFalse(targets["training MFU (default config)"]["met"])
    self.assertTrue(targets["IWAE evaluation MFU"]["met"])
    self.assertFalse(targets["peak memory, IWAE S=1000"]["met"])
    slots = targets["throughput lost from K=8 to K=64 (output_only)"]
    self.assertAllClose(slots["measured"], 0.1)
    self.assertTrue(slots["met"])
    # Cost per token 1/100, 1/200, 1/160: falling, then up 25% (32 -> 64).
    growth = targets["growth of cost per token with length (output_only)"]
    self.assertAllClose(growth["measured"], 0.25)
    self.assertFalse(growth["met"])
    self.assertIn("MISSED by 10.0% points",
                  benchmark.format_targets(benchmark.check_targets(results)))


class ComparisonTest(tf.test.TestCase):

  def test_rows_are_the_reference_and_literature_sizes(self):
    configs = comparison.configs()
    reference = configs["reference_sized"]
    self.assertEqual((reference.model.num_slots, reference.model.latent_dim,
                      reference.model.embedding_dim,
                      reference.model.encoder_units,
                      reference.model.decoder_units,
                      reference.input.batch_size), (1, 16, 300, 256, 256, 32))
    released = configs["released_li_sizes"]
    self.assertEqual(released.model.decoder_alignment, "exact")
    self.assertEqual(released.model.decoder_attention["type"], "window")
    self.assertEqual((released.model.num_slots, released.model.latent_dim,
                      released.model.embedding_dim,
                      released.model.decoder_units,
                      released.input.batch_size), (8, 16, 256, 256, 32))
    # 40 epochs of 1,315 batches of 32 (42,068 sentences).
    self.assertEqual(released.train.num_steps, 40 * 1315)
    self.assertEqual(released.train.init_from, "")

  def test_reference_speed_is_chosen_by_cpu_kind(self):
    xeon = dict(model="Intel(R) Xeon(R) Platinum 8481C CPU", amx_bf16=True)
    self.assertEqual(comparison.reference_speed(xeon)["tokens_per_s"], 2818)
    # A Xeon without AMX is another kind, with no reference on record.
    self.assertIsNone(comparison.reference_speed(dict(xeon, amx_bf16=False)))
    epyc = dict(model="AMD EPYC", amx_bf16=False)
    self.assertEqual(comparison.reference_speed(epyc)["tokens_per_s"], 1880)
    # The AMD kind with AVX-512 runs PyTorch faster: no reference on record.
    self.assertIsNone(comparison.reference_speed(dict(epyc, avx512f=True)))
    self.assertIsNone(comparison.reference_speed(dict(model=None)))

  def test_targets_from_hand_made_rows(self):
    rows = [dict(name="reference_sized/float32", elements_per_s=5640.0),
            dict(name="reference_sized/mixed_bfloat16", elements_per_s=5000.0),
            dict(name="released_li_sizes/float32", elements_per_s=3000.0),
            dict(name="released_li_sizes/mixed_bfloat16",
                 elements_per_s=3098.63)]
    targets = {t["name"]: t for t in comparison.check_targets(
        rows, dict(model="AMD EPYC"))}
    # The faster precision of each row counts.
    ratio = targets["reference_sized/float32 over the PyTorch reference "
                    "(1,880 tokens/s)"]
    self.assertAllClose(ratio["measured"], 3.0)
    self.assertTrue(ratio["met"])
    self.assertFalse(
        targets["released_li_sizes/mixed_bfloat16 tokens/s"]["met"])
    # 40 x 929,589 tokens at 3,098.63 tokens/s: 200 minutes.
    minutes = targets["its 40 PTB epochs at that speed"]
    self.assertAllClose(minutes["measured"], 200.0, atol=0.01)
    self.assertFalse(minutes["met"])
    printed = benchmark.format_targets(list(targets.values()))
    self.assertIn("3.00x  target >= 3x", printed)
    self.assertIn("200 min  target <= 100 min", printed)
    # No reference on record for this CPU: no ratio, the rest stays.
    self.assertLen(comparison.check_targets(rows, dict(model="Other")), 2)


class FixedLengthBatchesTest(tf.test.TestCase):

  def test_rows_are_the_corpus_stream_without_padding(self):
    from configs import ptb_small  # pylint: disable=g-import-not-at-top
    from inverse_draw_tf import train_lib  # pylint: disable=g-import-not-at-top
    inputs = data.Input(ptb_small.get_config("runlocal").input)
    batches = benchmark.fixed_length_batches(inputs, 3, 16, 2, split="valid")
    self.assertLen(batches, 2)
    tokens = np.stack([b["tokens"].numpy() for b in batches])
    self.assertEqual(tokens.shape, (2, 3, 16))
    self.assertFalse(np.any(tokens == data.PAD_ID))
    first = next(iter(inputs.eval_dataset("valid", 256)))["tokens"].numpy()
    stream = first[first != data.PAD_ID]
    self.assertAllEqual(tokens.reshape(-1), stream[:96])


if __name__ == "__main__":
  tf.test.main()
