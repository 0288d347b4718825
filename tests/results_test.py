"""RESULTS.md tables and curves from hand-made evaluation files."""

import json
import math
import os

import pytest
import tensorflow as tf

from configs import results as results_config
from inverse_draw_tf import results
import subprocess_utils as sp

LOG8 = math.log(8)


def _inverse_draw(**fields):
  result = dict(num_samples=500, nll=99.0, ppl=110.0, kl=12.0,
                mutual_information=4.0, active_units=200,
                latent_dimensions=256, active_unit_fraction=200 / 256,
                decoder_attention_entropy=0.4 * LOG8,
                uniform_attention_entropy=LOG8, slots_over_5_percent=6)
  result.update(fields)
  return result


class TargetsTest(tf.test.TestCase):

  def test_a_row_meeting_every_target(self):
    self.assertEqual(results.check_targets(_inverse_draw(), 100.0), [])

  def test_each_missed_target_is_named(self):
    missed = results.check_targets(_inverse_draw(
        nll=101.5, kl=2.0, active_unit_fraction=0.25,
        decoder_attention_entropy=0.9 * LOG8), 100.0)
    self.assertEqual(missed, [
        "NLL 101.50 > LM 100.00", "KL 2.0 < 10", "active 25% < 50%",
        f"entropy {0.9 * LOG8:.2f} > 0.5 log K = {0.5 * LOG8:.2f}"])
    self.assertEqual(results.check_targets(_inverse_draw(), None),
                     ["no LM baseline yet"])

  def test_the_alignment_posterior_is_the_assignment_when_present(self):
    row = _inverse_draw(decoder_attention_entropy=LOG8,
                        alignment_entropy=0.1)
    self.assertEqual(results.assignment_entropy(row), 0.1)
    self.assertEqual(results.check_targets(row, 100.0), [])

  def test_the_assignment_target_sets_no_kl_floor(self):
    row = _inverse_draw(kl=2.0, active_unit_fraction=0.1)
    self.assertEqual(results.check_assignment_target(row, 100.0), [])
    self.assertEqual(results.check_targets(row, 100.0),
                     ["KL 2.0 < 10", "active 10% < 50%"])

  def test_each_missed_part_of_the_assignment_target_is_named(self):
    row = _inverse_draw(nll=100.25, alignment_entropy=0.6 * LOG8,
                        alignment_slots_over_5_percent=3)
    self.assertEqual(results.check_assignment_target(row, 100.0), [
        "NLL 100.25 > LM 100.00", "3 slots >= 5% < 4",
        f"entropy {0.6 * LOG8:.2f} > 0.5 log K = {0.5 * LOG8:.2f}"])
    # Four slots are enough; the alignment's count wins over the reads'.
    self.assertEqual(results.check_assignment_target(
        _inverse_draw(alignment_entropy=0.1, slots_over_5_percent=1,
                      alignment_slots_over_5_percent=4), 100.0), [])
    self.assertEqual(results.check_assignment_target(
        _inverse_draw(decoder_attention_entropy=None), 100.0),
                     ["no attention"])


class RelativeRunPathsTest(tf.test.TestCase):

  def test_workdirs_under_the_runs_dir_become_runs_slash_name(self):
    root = self.create_tempdir().full_path
    real = os.path.join(root, "elsewhere")
    os.makedirs(real)
    link = os.path.join(root, "runs")
    os.symlink(real, link)
    text = json.dumps({"init_inference_from": f"{real}/ae",
                       "init_from": f"{link}/lm", "other": "/data/ptb"})
    self.assertEqual(
        json.loads(results.relative_run_paths(text, link)),
        {"init_inference_from": "runs/ae", "init_from": "runs/lm",
         "other": "/data/ptb"})


class KeptRecordTest(tf.test.TestCase):

  def test_a_resumed_run_extends_its_record_and_a_retrain_does_not(self):
    kept = '{"step": 50, "elbo": -120.0}\n{"step": 100, "elbo": -110.0}\n'
    resumed = kept + '{"step": 150, "elbo": -105.0}\n'
    retrained = '{"step": 50, "elbo": -121.5}\n{"step": 100, "elbo": -109.0}\n'
    self.assertTrue(results.extends_record(kept, kept))
    self.assertTrue(results.extends_record(kept, resumed))
    self.assertFalse(results.extends_record(kept, retrained))
    self.assertFalse(results.extends_record(resumed, kept))


class TablesTest(tf.test.TestCase):

  def test_rows_in_order_then_the_published_anchors(self):
    found = {
        "ptb_lm": dict(num_samples=1, nll=100.5, ppl=118.2, kl=0.0),
        "ptb_exact_alignment": _inverse_draw(nll=101.0),
        "mnist": dict(num_samples=1000, nll=84.2, kl=20.0, active_units=10,
                      latent_dimensions=128),
    }
    text = results.markdown_tables(found, speeds={"ptb_lm": 101.4,
                                                  "mnist": 80.0})
    lines = text.splitlines()
    lm = next(l for l in lines if l.startswith("| ptb_lm |"))
    self.assertIn("| 100.50 | 118.2 |", lm)
    self.assertTrue(lm.endswith("| 101 | baseline | baseline |"))
    row = next(l for l in lines if l.startswith("| ptb_exact_alignment |"))
    self.assertIn("| missed: NLL 101.00 > LM 100.50 | "
                  "missed: NLL 101.00 > LM 100.50 |", row)
    self.assertIn(f"| 200/256 | {0.4 * LOG8:.2f} / {LOG8:.2f} | 6 |  |", row)
    self.assertLess(lines.index(lm), lines.index(row))
    self.assertLess(lines.index(row), next(
        i for i, l in enumerate(lines) if "*published:* LSTM" in l))
    mnist = next(l for l in lines if l.startswith("| mnist |"))
    self.assertEqual(mnist,
                     "| mnist | 1000 | 84.20 | 20.00 | 10/128 | 80 | met | "
                     "missed: NLL 84.20 > 80.97 |")
    self.assertIn("| missed: NLL 87.69 >= 85 |", results.markdown_tables(
        {"mnist": dict(num_samples=1000, nll=87.69, kl=8.0)}))
    # DRAW's own number counts as reached (at or below).
    self.assertIn("| met | met |", results.markdown_tables(
        {"mnist": dict(num_samples=1000, nll=80.97, kl=8.0)}))
    self.assertIn("| *published:* DRAW with attention (Gregor et al. 2015) | "
                  "| 80.97 |", text)

  def test_a_long_row_compares_against_the_long_baseline(self):
    found = {
        "ptb_lm": dict(num_samples=1, nll=100.5, ppl=118.2, kl=0.0),
        "ptb_lm_long": dict(num_samples=1, nll=98.0, ppl=105.0, kl=0.0),
        "ptb_exact_window": _inverse_draw(nll=99.0),
        "ptb_exact_window_long": _inverse_draw(nll=99.0),
    }
    self.assertEqual(results.baseline_nll(results_config.LM_LONG, found),
                     98.0)
    self.assertEqual(results.baseline_nll(results_config.LM, found), 100.5)
    self.assertIsNone(results.baseline_nll(results_config.LM_LONG,
                                           {"ptb_lm": found["ptb_lm"]}))
    self.assertIsNone(results.baseline_nll((), found))
    # A row with decoder dropout compares against the LM with it.
    found["ptb_lm_dropout_long"] = dict(num_samples=1, nll=97.0, ppl=101.0,
                                        kl=0.0)
    self.assertEqual(results.baseline_nll(results_config.LM_DROPOUT, found),
                     97.0)
    self.assertEqual(results.baseline_nll(results_config.LM_LONG, found),
                     98.0)
    # A warm-started row must beat both the LM it started from and that
    # LM's continuation under the same schedule.
    found["ptb_lm_dropout_warm"] = dict(num_samples=1, nll=97.4, ppl=103.0,
                                        kl=0.0)
    self.assertEqual(results.baseline_nll(results_config.LM_WARM, found),
                     97.0)
    found["ptb_lm_dropout_warm"]["nll"] = 96.5
    self.assertEqual(results.baseline_nll(results_config.LM_WARM, found),
                     96.5)
    self.assertIsNone(results.baseline_nll(results_config.LM_WARM_LR3E4,
                                           found))
    found["ptb_lm_dropout_warm_lr3e4"] = dict(num_samples=1, nll=97.2,
                                              ppl=102.0, kl=0.0)
    self.assertEqual(results.baseline_nll(results_config.LM_WARM_LR3E4,
                                          found), 97.0)
    # A frozen decoder is the LM itself: only the LM it started from counts
    # (96.5, the continuation's, would be the wrong bar).
    frozen = {row.name: row.baselines for row in results_config.RUNS}[
        "ptb_exact_window_wd0_input_feeding_mi_fb025_dropout_frozen"]
    self.assertEqual(results.baseline_nll(frozen, found), 97.0)
    for name in ("ptb_lm_dropout_long", "ptb_lm_dropout_warm",
                 "ptb_lm_dropout_warm_lr3e4"):
      found.pop(name)
    lines = results.markdown_tables(found, baselines={
        "ptb_exact_window_long": results_config.LM_LONG}).splitlines()
    short = next(l for l in lines if l.startswith("| ptb_exact_window |"))
    long = next(l for l in lines if l.startswith("| ptb_exact_window_long |"))
    self.assertTrue(short.endswith("| met | met |"), short)
    self.assertIn("missed: NLL 99.00 > LM 98.00", long)

  def test_load_results_skips_runs_not_done(self):
    directory = self.create_tempdir().full_path
    with open(os.path.join(directory, "ptb_lm.json"), "w") as f:
      f.write(json.dumps(dict(nll=1.0)) + "\n")
    self.assertEqual(results.load_results(directory, ["ptb_lm", "ptb_vae"]),
                     {"ptb_lm": dict(nll=1.0)})


class CurvesTest(tf.test.TestCase):

  def test_training_speed_is_the_median_step_time_in_ms(self):
    records = [dict(step=50, seconds_per_step=2.0),
               dict(step=100, seconds_per_step=0.1),
               dict(step=150, seconds_per_step=0.3),
               dict(step=200, seconds_per_step=0.2),
               dict(step=250)]
    self.assertAlmostEqual(results.training_speed(records), 250.0)
    self.assertAlmostEqual(results.training_speed(records[1:]), 200.0)
    self.assertIsNone(results.training_speed([dict(step=1)]))

  def test_four_figures_from_metrics_files(self):
    directory = self.create_tempdir().full_path
    path = os.path.join(directory, "metrics.jsonl")
    with open(path, "w") as f:
      for step in (50, 100, 150):
        f.write(json.dumps(dict(kind="train", step=step, kl_per_slot=[
            0.1 * step, 0.2], decoder_attention_entropy=0.6)) + "\n")
      f.write(json.dumps(dict(kind="valid", step=100, elbo=-120.0)) + "\n")
    one_slot_path = os.path.join(directory, "vae_metrics.jsonl")
    with open(one_slot_path, "w") as f:
      f.write(json.dumps(dict(kind="train", step=50, kl_per_slot=[2.0],
                              decoder_attention_entropy=0.0)) + "\n")
    image_path = os.path.join(directory, "image_metrics.jsonl")
    with open(image_path, "w") as f:
      f.write(json.dumps(dict(kind="valid", step=100, elbo=-90.0)) + "\n")
    train, valid = results.read_metrics(path)
    self.assertEqual([r["step"] for r in train], [50, 100, 150])
    self.assertEqual(valid, [dict(kind="valid", step=100, elbo=-120.0)])
    written = results.draw_curves({"run": path, "vae": one_slot_path,
                                   "images": image_path},
                                  os.path.join(directory, "figures"),
                                  image_runs={"images"})
    self.assertEqual([os.path.basename(p) for p in written],
                     ["elbo.png", "elbo_images.png", "kl_per_slot.png",
                      "entropy.png"])
    # Longer-budget text rows get their own ELBO figure; long image rows
    # stay with the images.
    written = results.draw_curves({"run": path, "run_long": path,
                                   "images_long": image_path},
                                  os.path.join(directory, "long"),
                                  image_runs={"images_long"},
                                  long_runs={"run_long", "images_long"})
    self.assertEqual([os.path.basename(p) for p in written],
                     ["elbo.png", "elbo_long.png", "elbo_images.png",
                      "kl_per_slot.png", "entropy.png"])
    for figure_path in written:
      with open(figure_path, "rb") as f:
        self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
      self.assertGreater(os.path.getsize(figure_path), 5000)

  def test_a_long_legend_beside_the_axes_gets_a_taller_figure(self):
    self.assertEqual(results.beside_legend_size(3), (11.0, 4.0))
    self.assertEqual(results.beside_legend_size(24), (11.0, 4.0))
    # 55 lines of 0.16 inches, and the target's line.
    width, height = results.beside_legend_size(55)
    self.assertEqual(width, 11.0)
    self.assertAlmostEqual(height, 8.96)


def _train_record(step, kl_per_slot, kl_weight, entropy=None):
  record = dict(kind="train", step=step, kl_per_slot=kl_per_slot,
                kl=sum(kl_per_slot), kl_weight=kl_weight)
  if entropy is not None:
    record["decoder_attention_entropy"] = entropy
  return record


class CollapseTest(tf.test.TestCase):

  # Two slots, log K = log 2 = 0.693; uniform means entropy >= 0.658.
  RECORDS = [_train_record(50, [4.0, 4.0], 0.01, 0.5),
             _train_record(100, [1.0, 0.5], 0.1, 0.6),
             _train_record(150, [0.2, 0.2], 0.2, 0.67),   # 0.2 per slot
             _train_record(200, [0.3, 0.1], 0.3, 0.60),   # not uniform
             _train_record(250, [0.4, 0.6], 0.4, 0.66),
             _train_record(300, [0.5, 0.7], 0.5, 0.69)]

  def test_collapse_points_by_hand(self):
    points = results.collapse_points(self.RECORDS, math.log(2))
    self.assertEqual(points, dict(
        first_step=50, first_kl=8.0, collapse_step=150,
        collapse_kl_weight=0.2, lowest_kl=0.4, lowest_step=150,
        final_kl=1.2, final_slot_kl=(0.5, 0.7), uniform_step=250))

  def test_never_collapsed_never_uniform_and_one_slot(self):
    held = [_train_record(50, [3.0, 3.0], 0.0, 0.1),
            _train_record(100, [0.3, 0.3], 1.0, 0.69),
            _train_record(150, [0.3, 0.2], 1.0, 0.2)]
    points = results.collapse_points(held, math.log(2))
    self.assertIsNone(points["collapse_step"])
    self.assertIsNone(points["collapse_kl_weight"])
    self.assertIsNone(points["uniform_step"])
    one_slot = [_train_record(50, [0.1], 0.0, 0.0)]
    points = results.collapse_points(one_slot, 0.0)
    self.assertEqual(points["collapse_step"], 50)
    self.assertIsNone(points["uniform_step"])

  def test_a_run_without_latents_is_an_error(self):
    with self.assertRaisesRegex(ValueError, "no training record has a "
                                "`kl_per_slot`"):
      results.collapse_points([dict(kind="train", step=50, kl=0.0)], 0.0)

  def test_table_rows_only_for_text_runs_with_latents_and_curves(self):
    found = {
        "ptb_lm": dict(num_samples=1, nll=100.0, ppl=110.0, kl=0.0),
        "ptb_content": _inverse_draw(uniform_attention_entropy=math.log(2)),
        "ptb_vae": _inverse_draw(uniform_attention_entropy=0.0),
        "ptb_location": _inverse_draw(),
        "mnist": dict(num_samples=1000, nll=84.0, kl=9.0, active_units=9),
    }
    table = results.collapse_table(found, {
        "ptb_lm": [dict(kind="train", step=50, kl=0.0)],
        "ptb_content": self.RECORDS, "ptb_vae": self.RECORDS[:1],
        "mnist": self.RECORDS})
    rows = [line for line in table.splitlines() if line.startswith("| ptb")]
    self.assertEqual(rows, [
        "| ptb_content | 8.00 (step 50) | 150 | 0.200 | 0.40 (150) | 1.20 | "
        "0.50-0.70 | 250 |",
        "| ptb_vae | 8.00 (step 50) | never |  | 8.00 (50) | 8.00 | "
        "4.00-4.00 | one slot |"])
    self.assertNotIn("mnist", table)


class BinResultsTest(tf.test.TestCase):

  @pytest.mark.slow  # 23 s on 2 idle cores; `make test-all` runs it.
  def test_runs_without_an_evaluation_are_left_out_of_tables_and_curves(self):
    root = self.create_tempdir().full_path
    results_dir, runs_dir = os.path.join(root, "results"), os.path.join(
        root, "runs")
    os.makedirs(results_dir)
    with open(os.path.join(results_dir, "ptb_lm.json"), "w") as f:
      json.dump(dict(num_samples=1, nll=111.0, ppl=160.0, kl=0.0), f)
    # ptb_lm is done; ptb_vae is still training (no evaluation JSON).
    for name in ("ptb_lm", "ptb_vae"):
      os.makedirs(os.path.join(runs_dir, name))
      with open(os.path.join(runs_dir, name, "config.json"), "w") as f:
        json.dump(dict(model=dict(observation="text"),
                       train=dict(num_steps=100)), f)
      with open(os.path.join(runs_dir, name, "metrics.jsonl"), "w") as f:
        for step in (50, 100):
          f.write(json.dumps(dict(kind="train", step=step, kl_per_slot=[],
                                  seconds_per_step=0.2)) + "\n")
        f.write(json.dumps(dict(kind="valid", step=100, elbo=-120.0)) + "\n")
    def bin_results(*flags):
      return sp.run("results", [f"--results_dir={results_dir}",
                                f"--runs_dir={runs_dir}", *flags])

    code, log = bin_results()
    self.assertEqual(code, 0, log)
    self.assertIn("(1 runs)", log)
    kept = os.path.join(results_dir, "runs")
    self.assertEqual(sorted(os.listdir(kept)), ["ptb_lm"])
    with open(os.path.join(results_dir, "tables.md")) as f:
      tables = f.read()
    self.assertIn("| ptb_lm |", tables)
    self.assertNotIn("ptb_vae", tables)
    self.assertIn("### Collapse points (PTB training curves)", tables)

    # A retrain in ptb_lm's workdir leaves its kept record alone; more
    # epochs of the same training replace it.
    workdir_metrics = os.path.join(runs_dir, "ptb_lm", "metrics.jsonl")
    kept_metrics = os.path.join(kept, "ptb_lm", "metrics.jsonl")
    with open(workdir_metrics) as f:
      first_training = f.read()
    retrain = json.dumps(dict(kind="train", step=50, kl_per_slot=[],
                              seconds_per_step=0.3)) + "\n"
    resumed = first_training + retrain.replace('"step": 50', '"step": 150')
    for workdir_text, kept_text in ((retrain, first_training),
                                    (resumed, resumed)):
      with open(workdir_metrics, "w") as f:
        f.write(workdir_text)
      code, log = bin_results()
      self.assertEqual(code, 0, log)
      self.assertEqual(
          "bin/results: kept results/runs/ptb_lm as it is: " in log,
          workdir_text == retrain, log)
      with open(kept_metrics) as f:
        self.assertEqual(f.read(), kept_text)

    document = os.path.join(root, "RESULTS.md")
    with open(document, "w") as f:
      f.write(f"intro\n{results.TABLES_BEGIN}\nstale\n{results.TABLES_END}\n")
    code, log = bin_results(f"--splice_into={document}")
    self.assertEqual(code, 0, log)
    with open(document) as f:
      self.assertEqual(f.read(), f"intro\n{results.TABLES_BEGIN}\n"
                       f"{tables.strip()}\n{results.TABLES_END}\n")

    os.remove(os.path.join(results_dir, "tables.md"))
    with open(document, "w") as f:
      f.write("no markers\n")
    code, log = bin_results(f"--splice_into={document}")
    self.assertEqual(code, 1, log)
    self.assertIn(f"bin/results: error: --splice_into={document}: the "
                  "document has no", log)
    self.assertFalse(os.path.exists(os.path.join(results_dir, "tables.md")))
    code, log = bin_results(f"--splice_into={document}.missing")
    self.assertEqual(code, 1, log)
    self.assertIn(f"bin/results: error: --splice_into={document}.missing: "
                  "No such file or directory", log)
    self.assertNotIn("Traceback", log)


class SpliceTest(tf.test.TestCase):

  def test_only_the_section_between_the_markers_is_replaced(self):
    document = (f"# Results\nprose\n{results.TABLES_BEGIN}\nold | table\n"
                f"{results.TABLES_END}\nmore prose\n")
    self.assertEqual(
        results.splice_tables(document, "| new |\n\n"),
        f"# Results\nprose\n{results.TABLES_BEGIN}\n| new |\n"
        f"{results.TABLES_END}\nmore prose\n")

  def test_missing_markers_name_the_fix(self):
    for document in ("no markers", f"{results.TABLES_END}\n"
                     f"{results.TABLES_BEGIN}\n"):
      with self.assertRaisesRegex(ValueError, "add the two marker lines"):
        results.splice_tables(document, "| t |")

  def test_results_md_holds_the_committed_tables(self):
    # RESULTS.md shows what bin/results wrote, not a hand-edited copy.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "results", "tables.md")) as f:
      tables = f.read()
    with open(os.path.join(root, "RESULTS.md")) as f:
      document = f.read()
    self.assertEqual(results.splice_tables(document, tables), document)

  def test_committed_tables_are_what_bin_results_writes(self):
    # From the committed evaluations and records alone (no workdirs), with
    # each row's baselines as configs/results.py names them.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(self.create_tempdir().full_path, "tables.md")
    code, log = sp.run("results", [f"--runs_dir={out}.no_runs",
                                   f"--out={out}"])
    self.assertEqual(code, 0, log)
    with open(out) as f, open(os.path.join(root, "results",
                                           "tables.md")) as g:
      self.assertEqual(f.read(), g.read())


if __name__ == "__main__":
  tf.test.main()
