"""configs/: every results row's config string reproduces its recorded run."""

import importlib
import os

import tensorflow as tf

from configs import results as results_config
from inverse_draw_tf import config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDED = os.path.join(ROOT, "results")

# Runs stopped before their evaluation, so in no row of configs/results.py,
# whose config.json is kept (RESULTS.md and results/probes/README.md say
# why they stopped): the record's directory and the config string.
STOPPED = (
    ("runs/ptb_exact_window_wd0_input_feeding_mi_fb15_dropout_frozen",
     "configs/ptb.py:alignment=exact,attention=window,window_step=0.33,"
     "posterior_window_step=3.0,word_dropout=0,free_bits=1.5,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.3,budget=frozen"),
    ("runs/ptb_exact_window_wd0_input_feeding_mi_fb0_dropout_warm_lr3e4",
     "configs/ptb.py:alignment=exact,attention=window,window_step=0.33,"
     "posterior_window_step=3.0,word_dropout=0,free_bits=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.3,budget=warm,"
     "learning_rate=3e-4"),
    ("probes/ptb_exact_window_wd0_input_feeding_sharp05_fb05_long",
     "configs/ptb.py:alignment=exact,attention=window,window_step=0.33,"
     "posterior_window_step=3.0,word_dropout=0,free_bits=0.5,"
     "entropy_weight=0.5,budget=long"),
)


def build(spec):
  """The config a `--config=configs/<file>.py[:arg]` flag value names."""
  path, _, arg = spec.partition(":")
  module = importlib.import_module(path[:-len(".py")].replace("/", "."))
  return module.get_config(arg) if arg else module.get_config()


class ReproductionTest(tf.test.TestCase):

  def assertReproduces(self, record, spec):
    # As a resumed run reads it: keys added since it ran get the values
    # that reproduce it (config_lib.ADDED_DEFAULTS).
    recorded = config_lib.load_workdir_config(os.path.join(RECORDED, record))
    self.assertEqual(config_lib.plain(build(spec)),
                     config_lib.plain(recorded), f"{record}: {spec}")

  def test_every_row_reproduces_its_recorded_config(self):
    # One row per evaluated run, and each has its training record.
    names = [row.name for row in results_config.RUNS]
    self.assertCountEqual(names, [
        f[:-len(".json")] for f in os.listdir(os.path.join(ROOT, "results"))
        if f.endswith(".json")])
    for row in results_config.RUNS:
      with self.subTest(row.name):
        self.assertReproduces(os.path.join("runs", row.name), row.config)

  def test_stopped_runs_reproduce_their_recorded_config(self):
    for record, spec in STOPPED:
      with self.subTest(record):
        self.assertReproduces(record, spec)


if __name__ == "__main__":
  tf.test.main()
