"""Tests of inverse_draw_tf/report/ and bin/analyze: the figures, the HTML
pieces, the run's metrics, the atomic output, and whole reports of tiny
trained runs (text, images, two levels)."""

import glob
import json
import os
import re
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from inverse_draw_tf import checkpoints
from inverse_draw_tf import report
from inverse_draw_tf.report import collect
from inverse_draw_tf.report import figures
from inverse_draw_tf.report import page
from inverse_draw_tf.report import sections
import subprocess_utils as sp
import test_case

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def train_tiny(workdir, config, steps=4):
  """Trains `config` (a runlocal config) for `steps` steps with bin/train."""
  code, output = sp.run("train", [
      f"--config={config}", f"--config.train.num_steps={steps}",
      f"--config.train.eval_every={steps}", f"--workdir={workdir}"])
  assert code == 0, output
  return workdir


def analyze(workdir, out, *flags):
  return sp.run("analyze", [f"--workdir={workdir}", f"--out={out}",
                            "--split=valid", "--max_examples=32"] + list(flags))


class HtmlTest(test_case.TestCase):

  def test_words_coloured_by_slot_and_changes_highlighted(self):
    html = sections.sentence_html(["the", "<unk>", "fell"], [0, 13, 2],
                                  [False, True, False])
    spans = re.findall(r'<span class="([^"]+)" title="z(\d+)">([^<]*)</span>',
                       html)
    self.assertEqual(spans, [("w s0", "0", "the"),
                             ("w s1 changed", "13", "&lt;unk&gt;"),
                             ("w s2", "2", "fell")])
    self.assertIn(".s1 { color: #d62728; }", page.css())
    self.assertIn("(empty)", sections.sentence_html([], []))


class UpperTraversalTest(test_case.TestCase):

  def test_bottom_means_given_the_upper_slots(self):
    from inverse_draw_tf import model as model_lib  # pylint: disable=g-import-not-at-top
    tf.keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(
        vocab_size=30, embedding_dim=8, encoder_units=8, decoder_units=16,
        posterior_units=8, prior_units=8, num_slots=[4, 3, 2], latent_dim=5,
        prior_alignment="exact")
    batch = {"tokens": tf.constant([[5, 6, 7, 3, 0], [8, 9, 10, 11, 3]])}
    mean = model.posterior_mean(batch)
    # At the sentences' own means: their posterior means, from either level.
    for level in (1, 2):
      self.assertAllClose(
          collect.bottom_means_given(model, batch, mean["latents"][level],
                                     level),
          mean["latents"][0], atol=1e-6)
    moved = mean["latents"][1].numpy()
    moved[:, 1] += 3.0
    self.assertNotAllClose(collect.bottom_means_given(model, batch, moved, 1),
                           mean["latents"][0])


class FiguresTest(test_case.TestCase):

  def test_map_width_grows_with_the_sentence(self):
    sizes = []
    for length in (5, 20, 60):
      weights = np.full([length, 4], 0.25)
      fig = figures.draw_attention_map(
          ["word"] * length, weights, weights.T)
      sizes.append(fig.get_size_inches())
    self.assertEqual(sizes[0][0], 5.0)  # The minimum width.
    self.assertAllClose([s[0] for s in sizes[1:]],
                        [1.8 + 0.24 * 20, 1.8 + 0.24 * 60])
    self.assertEqual(sizes[0][1], sizes[2][1])
    png = figures.figure_png(fig)
    self.assertEqual(png[:8], PNG_SIGNATURE)
    image = tf.io.decode_png(png)
    self.assertEqual(int(image.shape[1]), round(100 * sizes[2][0]))

  def test_tree_edges_by_hand(self):
    # Three words on lower slots 1, 1, 0 of three; slot 2 is unused.
    assignment = np.array([[0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.9, 0.05, 0.05]])
    level_assignment = np.array([[0.2, 0.8], [0.7, 0.3], [0.5, 0.5]])
    words, slots = figures.tree_edges(assignment, level_assignment)
    self.assertEqual(words, [(0, 1, 0.8), (1, 1, 0.6), (2, 0, 0.9)])
    self.assertEqual(slots, [(0, 1, 0.8), (1, 0, 0.7)])
    fig = figures.draw_tree(["a", "b", "<eos>"], assignment, level_assignment)
    ax, = fig.axes
    self.assertLen(ax.lines, 3 + 2)  # One line per edge.
    # Word labels coloured by their lower slot; unused slots greyed.
    texts = {t.get_text(): t.get_color() for t in ax.texts}
    self.assertEqual(texts["a"], figures.slot_color(1))
    self.assertEqual(texts["<eos>"], figures.slot_color(0))
    self.assertEqual(texts["z2"], "#bbbbbb")
    self.assertEqual(figures.figure_png(fig)[:8], PNG_SIGNATURE)

  def test_rotated_labels_coloured_by_argmax_slot(self):
    weights = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    fig = figures.draw_attention_map(["a", "b", "<eos>"], weights, weights.T)
    labels = fig.axes[1].get_xticklabels()
    self.assertEqual([t.get_text() for t in labels], ["a", "b", "<eos>"])
    self.assertEqual([t.get_rotation() for t in labels], [90.0] * 3)
    self.assertEqual([t.get_color() for t in labels],
                     [figures.slot_color(0), figures.slot_color(1),
                      figures.slot_color(0)])


class RunMetricsTest(test_case.TestCase):

  def test_evaluation_file_first_then_metrics_log(self):
    workdir = self.create_tempdir().full_path
    self.assertIsNone(page.run_metrics(workdir, "test"))
    with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
      f.write('{"kind": "train", "step": 5, "loss": 3.0}\n'
              '{"kind": "valid", "step": 5, "elbo": -9.0}\n'
              '{"kind": "train", "step": 10, "loss": 2.0}\n{"kind": "tr')
    metrics = page.run_metrics(workdir, "test")
    self.assertEqual(metrics["source"], "metrics.jsonl")
    records = list(metrics["records"].values())
    self.assertEqual([r["step"] for r in records], [10, 5])
    with open(os.path.join(workdir, "evaluate_valid.json"), "w") as f:
      f.write('{"nll": 100.0, "split": "valid"}\n')
    self.assertEqual(page.run_metrics(workdir, "test")["source"],
                     "evaluate_valid.json")
    with open(os.path.join(workdir, "evaluate_test.json"), "w") as f:
      f.write('{"nll": 90.0, "split": "test"}\n')
    metrics = page.run_metrics(workdir, "test")
    self.assertEqual(metrics["source"], "evaluate_test.json")
    self.assertEqual(list(metrics["records"].values()),
                     [{"nll": 90.0, "split": "test"}])

  def test_old_validation_records_are_shown_under_the_current_names(self):
    workdir = self.create_tempdir().full_path
    old = dict(kind="valid", step=5, elbo=-9.0, ppl_bound=120.0,
               assignment_entropy=0.3, slot_token_share=[0.75, 0.25],
               slots_over_5_percent=2)
    current = dict(kind="valid", step=10, elbo=-8.0, elbo_ppl=110.0,
                   slot_token_share=[0.5, 0.5], slots_over_5_percent=2)
    path = os.path.join(workdir, "metrics.jsonl")
    with open(path, "w") as f:
      f.write(json.dumps(old) + "\n")
    [record] = page.run_metrics(workdir, "test")["records"].values()
    self.assertEqual(record, dict(
        kind="valid", step=5, elbo=-9.0, elbo_ppl=120.0,
        assignment_entropy=0.3, assignment_argmax_share=[0.75, 0.25],
        assignment_slots_over_5_percent=2))
    with open(path, "a") as f:
      f.write(json.dumps(current) + "\n")
    [record] = page.run_metrics(workdir, "test")["records"].values()
    self.assertEqual(record, current)


class _FakeModel:
  num_levels = 1


class AtomicOutputTest(test_case.TestCase):

  def setUp(self):
    super().setUp()
    self.root = self.create_tempdir().full_path
    self.workdir = os.path.join(self.root, "run")
    os.makedirs(self.workdir)
    self.out = os.path.join(self.root, "report")
    restore = mock.patch.object(
        checkpoints, "restore",
        return_value=(None, None, _FakeModel(), "ckpt", 3))
    restore.start()
    self.addCleanup(restore.stop)

  def _write(self, build):
    with mock.patch.object(page, "build_report", side_effect=build):
      return page.write_report(self.workdir, self.out)

  def _fake_build(self, tag):
    def build(directory, **unused_kwargs):
      with open(os.path.join(directory, "summary.json"), "w") as f:
        json.dump(dict(report=page.REPORT_MARKER, tag=tag), f)
      with open(os.path.join(directory, "index.html"), "w") as f:
        f.write(tag)
      return dict(tag=tag)
    return build

  def test_failure_leaves_nothing_and_replaces_an_earlier_report(self):
    def failing(directory, **unused_kwargs):
      with open(os.path.join(directory, "index.html"), "w") as f:
        f.write("half")
      raise RuntimeError("drawing failed")

    with self.assertRaisesRegex(RuntimeError, "drawing failed"):
      self._write(failing)
    self.assertEqual(sorted(os.listdir(self.root)), ["run"])
    self._write(self._fake_build("first"))
    self._write(self._fake_build("second"))
    with open(os.path.join(self.out, "index.html")) as f:
      self.assertEqual(f.read(), "second")
    with self.assertRaisesRegex(RuntimeError, "drawing failed"):
      self._write(failing)
    with open(os.path.join(self.out, "index.html")) as f:
      self.assertEqual(f.read(), "second")  # The old report is intact.
    self.assertEqual(sorted(os.listdir(self.root)), ["report", "run"])

  def test_refuses_a_directory_that_is_not_a_report(self):
    os.makedirs(self.out)
    with open(os.path.join(self.out, "notes.txt"), "w") as f:
      f.write("mine")
    with self.assertRaisesRegex(
        report.ReportError, r"--out `.*report` exists and is not a "
        r"bin/analyze report; pass a new directory"):
      self._write(self._fake_build("x"))
    self.assertEqual(os.listdir(self.out), ["notes.txt"])

  def test_bad_arguments(self):
    for kwargs, pattern in (
        (dict(num_sentences=0), r"`num_sentences` must be an integer >= 1, "
         "received 0"),
        (dict(split="dev"), r"`split` must be one of"),
        (dict(max_examples=-1), r"`max_examples` must be an integer >= 0")):
      with self.assertRaisesRegex(report.ReportError, pattern) as context:
        page.write_report(self.workdir, self.out, **kwargs)
      self.assertNotIn("\n", str(context.exception))
    with self.assertRaisesRegex(report.ReportError, r"workdir `.*nowhere` "
                                "does not exist"):
      page.write_report(os.path.join(self.root, "nowhere"), self.out)

  def test_run_without_latents_is_refused(self):
    no_latents = _FakeModel()
    no_latents.num_levels = 0
    with mock.patch.object(checkpoints, "restore",
                           return_value=(None, None, no_latents, "ckpt", 3)):
      with self.assertRaisesRegex(
          report.ReportError, r"the run has no latents \(`config\.model\."
          r"num_slots` = 0\), so there is no attention to analyze"):
        page.write_report(self.workdir, self.out)
    self.assertEqual(sorted(os.listdir(self.root)), ["run"])


class ReportOfTrainedRunsTest(test_case.TestCase):
  """Whole reports of tiny runs through bin/train and bin/analyze."""

  def assert_report(self, out, expected_sections):
    """Every section has figures that are non-empty PNG files, referenced
    from index.html; every image index.html shows exists."""
    with open(os.path.join(out, "summary.json")) as f:
      summary = json.load(f)
    with open(os.path.join(out, "index.html")) as f:
      index_html = f.read()
    self.assertEqual(summary["report"], page.REPORT_MARKER)
    for section, expected_figures in expected_sections.items():
      self.assertIn(section, summary["sections"])
      self.assertIn(f'<section id="{section}">', index_html)
      section_figures = summary["sections"][section]["figures"]
      self.assertGreaterEqual(len(section_figures), expected_figures, section)
      for figure in section_figures:
        self.assertIn(f'src="{figure}"', index_html)
        self.assertFalse(os.path.isabs(figure))
        with open(os.path.join(out, figure), "rb") as f:
          png = f.read()
        self.assertEqual(png[:8], PNG_SIGNATURE, figure)
        image = tf.io.decode_png(png)
        self.assertGreater(int(image.shape[0]), 50, figure)
        self.assertGreater(int(image.shape[1]), 50, figure)
        # Not one flat colour.
        self.assertGreater(int(tf.reduce_max(image) - tf.reduce_min(image)),
                           0, figure)
    for source in re.findall(r'<img src="([^"]+)"', index_html):
      self.assertTrue(os.path.exists(os.path.join(out, source)), source)
    self.assertEqual(
        sorted(glob.glob(os.path.join(out, "figures", "*.png"))),
        sorted(os.path.join(out, f) for s in summary["sections"].values()
               for f in s["figures"]))
    return summary, index_html

  @pytest.mark.slow  # 68 s on 2 AMD EPYC cores; `make test-all` runs it.
  def test_text_report(self):
    root = self.create_tempdir().full_path
    workdir = train_tiny(os.path.join(root, "run"),
                         "configs/ptb_small.py:runlocal")
    out = os.path.join(root, "report")
    code, output = analyze(workdir, out, "--num_sentences=3",
                           "--num_samples=2")
    self.assertEqual(code, 0, output)
    self.assertIn(f"wrote {out}/index.html", output)
    summary, index_html = self.assert_report(out, dict(
        maps=3, profile=1, rate=2, sharpness=1, reconstructions=0,
        samples=0, interpolations=0, traversals=0))
    self.assertEqual(summary["step"], 4)
    self.assertEqual(summary["num_examples"], 32)
    self.assertEqual(summary["metrics"]["source"], "metrics.jsonl")
    # Window attention: the rate section has the learned step size.
    self.assertIn("figures/window_steps.png",
                  summary["sections"]["rate"]["figures"])
    self.assertGreater(summary["rate"]["window_step_mean"], 0.0)
    slots = summary["slots"]
    self.assertLen(slots, 4)
    self.assertAllClose(sum(s["token_share"] for s in slots), 1.0, atol=1e-5)
    self.assertAllClose(sum(s["argmax_share"] for s in slots), 1.0,
                        atol=1e-5)
    self.assertTrue(all(s["top_by_mass"] for s in slots))
    self.assertLen(summary["reconstructions"], 3)
    # Every analysed sentence reconstructed, by beam search and greedily.
    reconstruction = summary["reconstruction"]
    self.assertEqual([(reconstruction[k]["beam_size"],
                       reconstruction[k]["num_examples"])
                      for k in ("beam", "greedy")], [(4, 32), (1, 32)])
    for result in reconstruction.values():
      self.assertBetween(result["f1"], 0.0, 1.0)
    self.assertIn("reconstruction_f1", summary["sections"])
    self.assertLen(summary["samples"], 2)
    self.assertLen(summary["interpolations"], 1)  # Examples 0 and 1.
    self.assertLen(summary["interpolations"][0]["sentences"],
                   collect.INTERPOLATION_STEPS)
    self.assertLen(summary["traversals"], 2 * 4)  # Two examples, 4 slots.
    self.assertBetween(summary["entropy"]["decoder"]["mean"], 0.0,
                       np.log(4) + 1e-6)
    for text in ("Reconstructions", "Samples from the prior",
                 "Interpolations between posteriors", "Traversals of one slot",
                 "Config</summary>", "last valid record (metrics.jsonl)"):
      self.assertIn(text, index_html)
    original = summary["reconstructions"][0]["original"]
    self.assertIn(original.split()[0].replace("<", "&lt;").replace(">",
                                                                   "&gt;"),
                  index_html)

    # Regenerating replaces the report and leaves no temporary directory.
    code, output = analyze(workdir, out, "--num_sentences=2",
                           "--num_samples=1")
    self.assertEqual(code, 0, output)
    self.assertEqual(sorted(os.listdir(root)), ["report", "run"])
    self.assertLen(glob.glob(os.path.join(out, "figures", "map_*.png")), 2)

  @pytest.mark.slow  # 49 s on 2 idle cores; `make test-all` runs it.
  def test_exact_alignment_report_assigns_words_by_the_posterior(self):
    root = self.create_tempdir().full_path
    workdir = train_tiny(
        os.path.join(root, "run"),
        "configs/ptb.py:alignment=exact,attention=window,window_step=0.33,"
        "posterior_window_step=3.0,wiring=output_only,free_bits=1.25,"
        "budget=results,runlocal", steps=2)
    out = os.path.join(root, "report")
    code, output = analyze(workdir, out, "--num_sentences=2",
                           "--num_samples=1")
    self.assertEqual(code, 0, output)
    summary, index_html = self.assert_report(out, dict(maps=2, profile=1,
                                                 sharpness=1))
    assignment = summary["entropy"]["assignment"]
    self.assertBetween(assignment["mean"], 0.0, np.log(8) + 1e-6)
    self.assertAllClose(assignment["uniform"], np.log(8))
    self.assertIn("alignment_posterior_entropy_mean", index_html)
    self.assertAllClose(sum(s["token_share"] for s in summary["slots"]), 1.0,
                        atol=1e-5)

  @pytest.mark.slow  # 37 s on 2 idle cores; `make test-all` runs it.
  def test_image_report(self):
    root = self.create_tempdir().full_path
    workdir = train_tiny(os.path.join(root, "run"),
                         "configs/mnist.py:runlocal")
    out = os.path.join(root, "report")
    code, output = analyze(workdir, out, "--num_sentences=4",
                           "--num_samples=4")
    self.assertEqual(code, 0, output)
    summary, index_html = self.assert_report(out, dict(
        maps=4, profile=1, rate=1, sharpness=1, images=5))
    self.assertEqual(
        sorted(os.path.basename(f)
               for f in summary["sections"]["images"]["figures"]),
        ["interpolations.png", "reconstructions.png", "samples.png",
         "slots.png", "traversals.png"])
    self.assertIn("Row-to-slot maps", index_html)
    self.assertEqual(summary["slots"][0]["top_by_mass"][0][0][:4], "row ")

  @pytest.mark.slow  # 57 s on 2 idle cores; `make test-all` runs it.
  def test_hierarchical_report(self):
    root = self.create_tempdir().full_path
    workdir = train_tiny(os.path.join(root, "run"),
                         "configs/ptb.py:levels=2,budget=results,runlocal",
                         steps=2)
    out = os.path.join(root, "report")
    code, output = analyze(workdir, out, "--num_sentences=2",
                           "--num_samples=1")
    self.assertEqual(code, 0, output)
    summary, index_html = self.assert_report(out, dict(
        maps=6, profile=1, rate=2, sharpness=1))
    self.assertIn("figures/rate_upper.png",
                  summary["sections"]["rate"]["figures"])
    self.assertIn("figures/levels_000.png",
                  summary["sections"]["maps"]["figures"])
    self.assertIn("figures/tree_000.png",
                  summary["sections"]["maps"]["figures"])
    # Both upper slots of the first two sentences, moved and decoded.
    self.assertEqual([(r["example"], r["slot"])
                      for r in summary["upper_traversals"]],
                     [(0, 0), (0, 1), (1, 0), (1, 1)])
    self.assertIn("Traversals of one upper slot", index_html)
    self.assertEqual(summary["num_slots"], [8, 2])
    self.assertLen(summary["levels"], 2)
    self.assertLen(summary["upper_rate"]["mass_per_slot"], 2)
    # Each of the 8 lower slots is produced by the 2 upper ones.
    self.assertAllClose(sum(summary["upper_rate"]["mass_per_slot"]), 8.0,
                        atol=1e-4)
    self.assertIn("One level up", index_html)

  def test_missing_workdir_is_one_clear_line(self):
    missing = os.path.join(self.create_tempdir().full_path, "nope")
    code, output = sp.run("analyze", [f"--workdir={missing}",
                                      f"--out={missing}_report"])
    self.assertEqual(code, 1)
    self.assertEqual(output.strip().splitlines(), [
        f"bin/analyze: error: workdir `{missing}` does not exist; pass the "
        "--workdir of a run made by bin/train."])
    self.assertFalse(os.path.exists(missing + "_report"))

  def test_workdir_without_a_run(self):
    empty = self.create_tempdir().full_path
    code, output = sp.run("analyze", [f"--workdir={empty}",
                                      f"--out={empty}/report"])
    self.assertEqual(code, 1)
    self.assertIn(f"bin/analyze: error: `{empty}` has no config.json: pass "
                  "the workdir of a run made by bin/train.", output)
    self.assertFalse(os.path.exists(os.path.join(empty, "report")))


if __name__ == "__main__":
  tf.test.main()
