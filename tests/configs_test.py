"""configs/: the arg parser, the budgets, and the sweep of configs/results.py,
whose every row's config string reproduces the config its run recorded."""

import importlib
import os
import re

import tensorflow as tf

from configs import common
from configs import ptb
from configs import results as results_config
from inverse_draw_tf import config_lib
from inverse_draw_tf import model as model_lib

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
    # Row 3's second phase on the BN-VAE autoencoder, stopped at epoch 10
    # when its session ended (RESULTS.md, row 3).
    ("runs/ptb_li_bn05_sgd",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.5,precision=mixed_bfloat16,optimizer=sgd,"
     "clip_separately=true,init_inference_from=runs/ptb_li_ae_bn05"),
    # The same with BN-VAE's gamma at 0.3 in both phases (a 5.8-nat floor
    # in all, not 16), stopped at epoch 10 to be scored in its session,
    # resumed for two epochs at KL weight 1 the next (flat), then stopped.
    ("runs/ptb_li_bn03_sgd",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,precision=mixed_bfloat16,optimizer=sgd,"
     "clip_separately=true,init_inference_from=runs/ptb_li_ae_bn03"),
    # Its entropy and balance weights at 4, stopped at epoch 3 (a probe of
    # the soft assignment, in the session's last minutes).
    ("runs/ptb_li_bn03_ent4_sgd",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=4,balance_weight=4,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,precision=mixed_bfloat16,optimizer=sgd,"
     "clip_separately=true,init_inference_from=runs/ptb_li_ae_bn03"),
    # Its second phase again, in float32 on that autoencoder, the rate
    # halved after two stale validations from epoch 10 (RESULTS.md, row 3);
    # its session ended it.
    ("runs/ptb_li_bn03_sgd_plateau10",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,optimizer=sgd,clip_separately=true,"
     "init_inference_from=runs/ptb_li_ae_bn03_f32,plateau_patience=2,"
     "plateau_start_epoch=10"),
    # The same with both windows' precision floored (RESULTS.md, row 3,
    # "why the fresh decoder's assignment is uniform"), stopped at epoch 12
    # 4.2 nats behind the run above, to give that run the cores.
    ("runs/ptb_li_bn03_sgd_minwidth",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,optimizer=sgd,clip_separately=true,"
     "init_inference_from=runs/ptb_li_ae_bn03_f32,plateau_patience=2,"
     "plateau_start_epoch=10,window_min_width=0.5,"
     "posterior_window_min_width=0.25"),
    # The same with the local encoder and its autoencoder, stopped at step
    # 1,650: by step 400 every posterior window had run off the sentence's
    # end (RESULTS.md, row 3, "a local encoder").
    ("runs/ptb_li_bn03_sgd_local2",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,encoder_context=2,optimizer=sgd,clip_separately=true,"
     "init_inference_from=runs/ptb_li_ae_bn03_local2,plateau_patience=2,"
     "plateau_start_epoch=10,window_min_width=0.5,"
     "posterior_window_min_width=0.25"),
    # Its second phase with Adam instead (the literature budget's schedule
    # over 10 epochs), run to its end; not scored on the test split.
    ("runs/ptb_li_bn03_adam_local2",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,encoder_context=2,"
     "init_inference_from=runs/ptb_li_ae_bn03_local2,window_min_width=0.5,"
     "posterior_window_min_width=0.25,epochs=10"),
    # Row 1 retrained on a fresh machine as the decoder source of the run
    # below, stopped at epoch 47, after its third plateau.
    ("runs/ptb_lm_literature_sgd_retrain",
     "configs/ptb_lm.py:budget=literature,optimizer=sgd,decoder_dropout=0.5,"
     "precision=mixed_bfloat16"),
    # Row 3's second phase from both pretrained halves: the decoder from
    # that LM, the inference network from the gamma-0.3 autoencoder, SGD
    # at 0.25; stopped at epoch 6 (its KL held just above BN's floor).
    ("runs/ptb_lm_bn03_sgd",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,precision=mixed_bfloat16,optimizer=sgd,learning_rate=0.25,"
     "clip_separately=true,init_inference_from=runs/ptb_li_ae_bn03,"
     "init_from=runs/ptb_lm_literature_sgd"),
    # The same with BN's floor raised (gamma 0.5: 2 nats a slot) and the
    # gamma-0.5 autoencoder; stopped at epoch 12 (KL at that floor).
    ("runs/ptb_lm_bn05_sgd",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.5,precision=mixed_bfloat16,optimizer=sgd,learning_rate=0.25,"
     "clip_separately=true,init_inference_from=runs/ptb_li_ae_bn05,"
     "init_from=runs/ptb_lm_literature_sgd"),
    # Issue 27 at the literature scale: the run above (gamma 0.3) with two
    # levels, BN on the lowest only; its 6 epochs, evaluated at S=100, not
    # a results row (RESULTS.md, "Two levels at the literature scale").
    ("runs/ptb_levels2_lm_bn03_lower",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,precision=mixed_bfloat16,optimizer=sgd,learning_rate=0.25,"
     "clip_separately=true,init_from=runs/ptb_lm_literature_sgd,levels=2,"
     "prior_alignment=exact,prior_window_step=0.25,bn_levels=1,"
     "level_balance=2,level_entropy=2,kl_level_delay=0.25,epochs=6"),
    # BN-VAE against the upper level's collapse (RESULTS.md, "A hierarchy
    # of levels"), trained with --config.model.posterior_mean_batchnorm_gamma
    # before the key existed.
    ("probes/mnist_exact_window_levels2_bn05",
     "configs/mnist.py:variant=exact_window,levels=2,prior_alignment=exact,"
     "prior_window_step=0.25,bn_gamma=0.5"),
    # The upper level's KL annealed later, without and with the upper
    # slots' balance (RESULTS.md, "A hierarchy of levels").
    ("probes/mnist_exact_window_levels2_delay05",
     "configs/mnist.py:variant=exact_window,levels=2,prior_alignment=exact,"
     "prior_window_step=0.25,kl_level_delay=0.5"),
    ("probes/mnist_exact_window_levels2_step0125_delay05_balance2",
     "configs/mnist.py:variant=exact_window,levels=2,prior_alignment=exact,"
     "prior_window_step=0.125,kl_level_delay=0.5,level_balance=2"),
    # The inference side at 256 units (RESULTS.md, the MNIST literature
    # row's levers), at the results budget.
    ("probes/mnist_exact_window_inference256",
     "configs/mnist.py:variant=exact_window,inference_units=256"),
    # Each row's pixels autoregressive (RESULTS.md, the MNIST literature
    # rows), with and without the latents, at the results budget.
    ("probes/mnist_exact_window_row_autoregression128",
     "configs/mnist.py:variant=exact_window,row_autoregression=128"),
    ("probes/mnist_rows_row_autoregression128",
     "configs/mnist.py:variant=rows,row_autoregression=128"),
    # The mutual-information term for a sharp assignment of rows to slots,
    # one level (trained with --config.objective overrides before the keys
    # existed) and two (results/probes/README.md).
    ("probes/mnist_exact_window_mi2",
     "configs/mnist.py:variant=exact_window,entropy_weight=2,"
     "balance_weight=2"),
    ("probes/mnist_exact_window_mi4",
     "configs/mnist.py:variant=exact_window,entropy_weight=4,"
     "balance_weight=4"),
    ("probes/mnist_exact_window_mi8",
     "configs/mnist.py:variant=exact_window,entropy_weight=8,"
     "balance_weight=8"),
    ("probes/mnist_exact_window_levels2_delay05_balance2_mi4",
     "configs/mnist.py:variant=exact_window,levels=2,prior_alignment=exact,"
     "prior_window_step=0.25,kl_level_delay=0.5,level_balance=2,"
     "entropy_weight=4,balance_weight=4"),
    ("probes/ptb_exact_window_wd0_input_feeding_levels2_delay05_balance2",
     "configs/ptb.py:alignment=exact,attention=window,window_step=0.33,"
     "posterior_window_step=3.0,word_dropout=0,free_bits=1.25,"
     "budget=results,levels=2,prior_alignment=exact,prior_window_step=0.25,"
     "kl_level_delay=0.5,level_balance=2"),
    ("probes/ptb_exact_window_wd0_input_feeding_levels2_delay05_balance2_"
     "mi2_level_entropy2",
     "configs/ptb.py:alignment=exact,attention=window,window_step=0.33,"
     "posterior_window_step=3.0,word_dropout=0,free_bits=1.25,"
     "budget=results,levels=2,prior_alignment=exact,prior_window_step=0.25,"
     "kl_level_delay=0.5,level_balance=2,entropy_weight=2,balance_weight=2,"
     "level_entropy=2"),
)

# The first phase of a two-phase row (Li et al. 2019): autoencoders
# (`kl_schedule=zero`) whose encoder and posterior a row's run copies
# (`init_inference_from`). Their bound means nothing, so they are not rows;
# their config.json and metrics are kept.
PRETRAINED = tuple(
    (os.path.join("runs", row.first_phase[0]), row.first_phase[1])
    for row in results_config.RUNS if row.first_phase) + (
    # Inverse DRAW's, trained with Adam: SGD at learning rate 1 diverged.
    ("runs/ptb_li_ae",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,kl_schedule=zero,"
     "precision=mixed_bfloat16,epochs=10"),
    # The same with BN-VAE's bounded means and a floor on the scales.
    ("runs/ptb_li_ae_bn05",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.5,precision=mixed_bfloat16,kl_schedule=zero,epochs=6"),
    ("runs/ptb_li_ae_bn03",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,precision=mixed_bfloat16,kl_schedule=zero,epochs=6"),
    # The same in float32 (2026-12-07's AVX2 kind has no bf16 hardware).
    ("runs/ptb_li_ae_bn03_f32",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,kl_schedule=zero,epochs=6"),
    # The same with the local encoder (2 words a side; RESULTS.md, row 3).
    ("runs/ptb_li_ae_bn03_local2",
     "configs/ptb.py:budget=literature,alignment=exact,attention=window,"
     "window_step=0.33,posterior_window_step=3.0,word_dropout=0,"
     "entropy_weight=2,balance_weight=2,decoder_dropout=0.5,min_scale=0.1,"
     "bn_gamma=0.3,encoder_context=2,kl_schedule=zero,epochs=6"),
)


def build(spec):
  """The config a `--config=configs/<file>.py[:arg]` flag value names."""
  path, _, arg = spec.partition(":")
  module = importlib.import_module(path[:-len(".py")].replace("/", "."))
  return module.get_config(arg) if arg else module.get_config()


def runlocal(spec):
  """`spec` with `runlocal` added to its arg."""
  return spec + ("," if ":" in spec else ":") + "runlocal"


class ParseArgTest(tf.test.TestCase):

  def test_values_are_read_as_the_defaults_types(self):
    arg = common.parse_arg("budget=long,free_bits=0.25,word_dropout=0,"
                           "levels=2,freeze=true,name=x1",
                           budget="default", free_bits=0.0, word_dropout=0.3,
                           levels=1, freeze=False, name="", unset=7)
    self.assertEqual(arg.to_dict(), dict(
        budget="long", free_bits=0.25, word_dropout=0.0, levels=2,
        freeze=True, name="x1", unset=7, runlocal=False))
    self.assertIsInstance(arg.word_dropout, float)  # An int for a float.
    self.assertEqual(common.parse_arg("learning_rate=3e-4",
                                      learning_rate=0.0).learning_rate, 3e-4)

  def test_no_arg_gives_the_defaults(self):
    for arg in (None, "", ","):
      self.assertEqual(common.parse_arg(arg, budget="results").to_dict(),
                       dict(budget="results", runlocal=False))

  def test_runlocal_is_a_bare_flag(self):
    self.assertTrue(common.parse_arg("runlocal").runlocal)
    arg = common.parse_arg("budget=long,runlocal", budget="results")
    self.assertEqual((arg.budget, arg.runlocal), ("long", True))
    self.assertTrue(common.parse_arg("runlocal=True").runlocal)

  def test_an_unknown_key_names_the_known_ones(self):
    with self.assertRaisesRegex(
        ValueError, r"^unknown config key `wd` in 'wd=0'; known keys: "
        r"budget, word_dropout, runlocal\.$"):
      common.parse_arg("wd=0", budget="results", word_dropout=0.3)
    with self.assertRaisesRegex(ValueError, "unknown config key `long`"):
      common.parse_arg("long", budget="results")

  def test_a_value_of_another_type_is_refused(self):
    for arg, pattern in (
        ("levels=two",
         r"`levels` takes an integer \(default 1\), received 'two' in "),
        ("word_dropout=O.3", r"`word_dropout` takes a number"),
        ("budget", r"`budget` takes a string .*received no value"),
        ("runlocal=1", r"`runlocal` takes true or false")):
      with self.assertRaisesRegex(ValueError, pattern) as context:
        common.parse_arg(arg, budget="results", word_dropout=0.3, levels=1)
      self.assertNotIn("\n", str(context.exception))


class ConfigFilesTest(tf.test.TestCase):

  def test_at_most_twelve_files(self):
    self.assertLessEqual(len(os.listdir(os.path.join(ROOT, "configs"))), 12)

  def test_ptb_defaults_are_the_base_config(self):
    self.assertEqual(config_lib.plain(ptb.get_config()),
                     config_lib.plain(common.get_config()))
    self.assertEqual(config_lib.plain(ptb.get_config("runlocal")),
                     config_lib.plain(common.get_config(runlocal=True)))

  def test_every_file_and_its_smoke_test_validate(self):
    for name in ("ptb", "ptb_small", "ptb_lm", "ptb_vae", "mnist"):
      for spec in (f"configs/{name}.py", f"configs/{name}.py:runlocal"):
        with self.subTest(spec):
          config_lib.validate(build(spec))
          self.assertIn(spec.split(":")[0],
                        importlib.import_module(f"configs.{name}").__doc__)

  def test_bad_values_are_one_line_errors(self):
    for spec, pattern in (
        ("configs/ptb.py:budget=longer", r"`budget` must be one of"),
        ("configs/ptb.py:attention=lstm", r"`attention` must be one of"),
        ("configs/ptb.py:window_step=0.5", r"need `attention=window`"),
        ("configs/ptb.py:levels=4", r"`levels` must be 1, 2 or 3"),
        ("configs/mnist.py:variant=soft", r"`variant` must be one of"),
        ("configs/mnist.py:budget=warm", r"`budget` must be one of"),
        ("configs/mnist.py:inference_units=-1",
         r"`inference_units` must be >= 0"),
        ("configs/ptb_small.py:budget=long", r"unknown config key `budget`")):
      with self.subTest(spec):
        with self.assertRaisesRegex(ValueError, pattern) as context:
          build(spec)
        self.assertNotIn("\n", str(context.exception))

  def test_budgets(self):
    results = build("configs/ptb.py:budget=results")
    self.assertEqual((results.train.num_steps, results.model.latent_dim,
                      results.optimizer.learning_rate), (3000, 16, 2e-3))
    long = build("configs/ptb.py:budget=long")
    self.assertEqual((long.train.num_steps, long.objective.kl_warmup_steps),
                     (12000, 6000))
    warm = build("configs/ptb.py:budget=warm")
    self.assertEqual((warm.train.num_steps, warm.optimizer.learning_rate,
                      warm.train.init_from, warm.train.freeze_init_from),
                     (6000, 1e-3, common.WARM_START_RUN, False))
    frozen = build("configs/ptb.py:budget=frozen,learning_rate=3e-4")
    self.assertEqual((frozen.train.init_from, frozen.train.freeze_init_from,
                      frozen.optimizer.learning_rate),
                     (common.WARM_START_RUN, True, 3e-4))
    # A smoke test cannot depend on a trained run.
    small = build("configs/ptb.py:budget=frozen,runlocal")
    self.assertEqual((small.train.init_from, small.train.freeze_init_from,
                      small.train.num_steps), ("", False, 20))

  def test_mnist_budgets_stretch_steps_and_annealing_together(self):
    for budget, steps in (("results", 3000), ("long", 12000),
                          ("literature", 30000)):
      with self.subTest(budget):
        config = build(f"configs/mnist.py:variant=exact_window,budget={budget}")
        # The KL warm-up stays half of training at every budget.
        self.assertEqual((config.train.num_steps,
                          config.objective.kl_warmup_steps),
                         (steps, steps // 2))

  def test_mnist_fine_tune_starts_from_the_run_and_changes_only_training(self):
    trained = build("configs/mnist.py:variant=exact_window,budget=literature,"
                    "row_autoregression=128")
    tuned = build("configs/mnist.py:variant=exact_window,budget=fine_tune,"
                  "row_autoregression=128,init_model_from=runs/trained,"
                  "iwae_samples=5")
    self.assertEqual((tuned.train.init_model_from, tuned.train.num_steps,
                      tuned.optimizer.learning_rate,
                      tuned.objective.kl_schedule,
                      tuned.objective.training_samples),
                     ("runs/trained", 3000, 3e-4, "none", 5))
    # The same model, so every weight copies (warm_start.warm_start_model).
    self.assertEqual(tuned.model.to_dict(), trained.model.to_dict())
    for arg in ("budget=fine_tune", "init_model_from=runs/trained"):
      with self.subTest(arg), self.assertRaisesRegex(
          ValueError, r"^`budget=fine_tune` and `init_model_from` go "
          r"together: pass both \(a trained run's workdir\) or neither.$"):
        build(f"configs/mnist.py:variant=exact_window,{arg}")

  def test_mnist_entropy_and_balance_weights_change_only_the_objective(self):
    default = build("configs/mnist.py:variant=exact_window")
    weighted = build("configs/mnist.py:variant=exact_window,"
                     "entropy_weight=8,balance_weight=2")
    self.assertEqual((default.objective.attention_entropy_weight,
                      default.objective.slot_balance_weight), (0.0, 0.0))
    self.assertEqual((weighted.objective.attention_entropy_weight,
                      weighted.objective.slot_balance_weight), (8.0, 2.0))
    weighted.objective.update(attention_entropy_weight=0.0,
                              slot_balance_weight=0.0)
    self.assertEqual(weighted.to_dict(), default.to_dict())

  def test_mnist_inference_units_size_the_encoder_and_posterior_only(self):
    default = build("configs/mnist.py:variant=exact_window")
    wide = build("configs/mnist.py:variant=exact_window,inference_units=256")
    self.assertEqual((default.model.encoder_units,
                      default.model.posterior_units), (128, 128))
    self.assertEqual((wide.model.encoder_units, wide.model.posterior_units,
                      wide.model.decoder_units), (256, 256, 256))
    wide.model.update(encoder_units=128, posterior_units=128)
    self.assertEqual(config_lib.plain(wide), config_lib.plain(default))

  def test_li_et_al_recipe_keys(self):
    # Phase 1 an autoencoder, phase 2 from its inference network with free
    # bits (docs/options.md), in the sentence VAE and in ptb.py.
    phase_1 = build("configs/ptb_vae.py:budget=literature,kl_schedule=zero")
    self.assertEqual((phase_1.objective.kl_schedule, phase_1.model.num_slots,
                      phase_1.train.init_inference_from),
                     ("zero", 1, ""))
    phase_2 = build(
        "configs/ptb_vae.py:budget=literature,init_inference_from=runs/li_ae,"
        "free_bits=4,word_dropout=0,decoder_dropout=0.3,"
        "precision=mixed_bfloat16")
    self.assertEqual(
        (phase_2.train.init_inference_from, phase_2.objective.free_bits,
         phase_2.model.word_dropout, phase_2.model.decoder_dropout,
         phase_2.train.precision, phase_2.objective.kl_schedule,
         phase_2.train.num_steps, phase_2.model.latent_dim),
        ("runs/li_ae", 4.0, 0.0, 0.3, "mixed_bfloat16", "linear", 52600, 32))
    for config in (phase_1, phase_2):
      config_lib.validate(config)
    ptb_phase_2 = build("configs/ptb.py:init_inference_from=runs/li_ae")
    self.assertEqual(ptb_phase_2.train.init_inference_from, "runs/li_ae")
    # The decoder from a language model as well (warm_start.py).
    both = build("configs/ptb.py:budget=literature,init_inference_from="
                 "runs/li_ae,init_from=runs/lm")
    self.assertEqual((both.train.init_from, both.train.init_inference_from,
                      both.train.freeze_init_from),
                     ("runs/lm", "runs/li_ae", False))
    config_lib.validate(both)
    self.assertEqual(build("configs/ptb.py:budget=frozen").train.init_from,
                     common.WARM_START_RUN)
    # The keys' defaults leave the sentence VAE as it was.
    vae = build("configs/ptb_vae.py")
    self.assertEqual(
        (vae.model.word_dropout, vae.model.decoder_dropout,
         vae.objective.free_bits, vae.objective.kl_schedule,
         vae.train.precision, vae.train.init_inference_from),
        (0.3, 0.0, 0.0, "linear", "float32", ""))
    # A smoke test trains from scratch, whatever the arg names.
    for spec in ("configs/ptb_vae.py", "configs/ptb.py"):
      small = build(f"{spec}:init_inference_from=runs/li_ae,runlocal")
      self.assertEqual(small.train.init_inference_from, "", spec)
    self.assertEqual(
        build("configs/ptb.py:init_from=runs/lm,runlocal").train.init_from, "")
    bad = build("configs/ptb_vae.py:kl_schedule=sometimes")
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"^`config.objective.kl_schedule` must be one of \('none', 'linear', "
        r"'cyclical', 'zero'\), received 'sometimes'.$"):
      config_lib.validate(bad)


  def test_clip_separately_key(self):
    config = build("configs/ptb.py:optimizer=sgd,clip_separately")
    self.assertEqual((config.optimizer.clip_separately,
                      config.optimizer.clip_norm), (True, 5.0))
    config_lib.validate(config)
    self.assertFalse(build("configs/ptb.py").optimizer.clip_separately)

  def test_plateau_keys(self):
    recipe = build("configs/ptb.py:budget=literature,optimizer=sgd")
    epoch = recipe.train.eval_every
    self.assertEqual((recipe.optimizer.plateau_patience,
                      recipe.optimizer.plateau_start_step), (5, 15 * epoch))
    config = build("configs/ptb.py:budget=literature,optimizer=sgd,"
                   "plateau_patience=2,plateau_start_epoch=10")
    self.assertEqual((config.optimizer.plateau_patience,
                      config.optimizer.plateau_start_step), (2, 10 * epoch))
    config_lib.validate(config)
    # Each key alone leaves the other at the recipe's; 0 is the first epoch.
    first_epoch = build("configs/ptb.py:budget=literature,optimizer=sgd,"
                        "plateau_start_epoch=0")
    self.assertEqual((first_epoch.optimizer.plateau_patience,
                      first_epoch.optimizer.plateau_start_step), (5, 0))
    self.assertEqual(
        build("configs/ptb.py:budget=literature,optimizer=sgd,"
              "plateau_patience=3").optimizer.plateau_start_step, 15 * epoch)
    with self.assertRaisesRegex(
        ValueError, r"^`plateau_patience` and `plateau_start_epoch` set the "
        r"plateau schedule: add `optimizer=sgd`.$"):
      build("configs/ptb.py:plateau_patience=2")
    with self.assertRaisesRegex(ValueError, r"received -1 and 10.$"):
      build("configs/ptb.py:optimizer=sgd,plateau_patience=-1,"
            "plateau_start_epoch=10")

  def test_window_min_width_keys(self):
    window = ("configs/ptb.py:alignment=exact,attention=window,"
              "window_step=0.33,posterior_window_step=3.0,")
    config = build(window + "window_min_width=0.5,"
                   "posterior_window_min_width=0.1,runlocal")
    config_lib.validate(config)
    model = model_lib.build_model(config.model, 50)
    model(model_lib.example_batch(model))
    self.assertEqual(model.decoder.head.min_width, 0.5)
    self.assertEqual(model.posteriors[0].heads[0].min_width, 0.1)
    unfloored = model_lib.build_model(build(window + "runlocal").model, 50)
    unfloored(model_lib.example_batch(unfloored))
    self.assertEqual(unfloored.decoder.head.min_width, 0.0)
    self.assertEqual(unfloored.posteriors[0].heads[0].min_width, 0.0)
    with self.assertRaisesRegex(
        ValueError, r"^`window_step`, `window_min_width` and `window_kernel` "
        r"need `attention=window`, received 'content'.$"):
      build("configs/ptb.py:window_min_width=0.5")
    with self.assertRaisesRegex(
        ValueError, r"^`posterior_window_min_width` floors the posterior's "
        r"window: it needs `posterior_window_step` > 0.$"):
      build("configs/ptb.py:posterior_window_min_width=0.1")

  def test_min_scale_key(self):
    config = build("configs/ptb.py:kl_schedule=zero,min_scale=0.1")
    self.assertEqual(config.model.min_scale, 0.1)
    self.assertEqual(build("configs/ptb.py").model.min_scale, 1e-4)
    model = model_lib.build_model(build(
        "configs/ptb.py:min_scale=0.1,runlocal").model, 50)
    outputs = model(model_lib.example_batch(model))
    self.assertAllGreaterEqual(outputs["posterior_scale"][0], 0.1)

  def test_iwae_samples_key(self):
    config = build("configs/ptb.py:budget=literature,iwae_samples=5")
    self.assertEqual(config.objective.training_samples, 5)
    config_lib.validate(config)
    self.assertEqual(build("configs/ptb.py").objective.training_samples, 1)
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"^`config.objective.training_samples` must be 1 when a free-bits "
        r"floor is set \(the IWAE objective has none\), received 5.$"):
      config_lib.validate(build("configs/ptb.py:iwae_samples=5,free_bits=1"))
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"^`config.objective.training_samples` must be a positive integer, "
        r"received 0.$"):
      config_lib.validate(build("configs/ptb.py:iwae_samples=0"))

  def test_kl_level_delay_key(self):
    # In KL warm-ups, so it stretches and shrinks with the budget.
    for spec, delay in (("configs/ptb.py:budget=results,levels=2", 0),
                        ("configs/ptb.py:budget=results,levels=2,"
                         "kl_level_delay=0.5", 750),
                        ("configs/ptb.py:budget=long,levels=3,"
                         "kl_level_delay=1", 6000),
                        ("configs/mnist.py:levels=2,kl_level_delay=1,"
                         "runlocal", 20)):
      config = build(spec)
      self.assertEqual(config.objective.kl_level_delay_steps, delay, spec)
      config_lib.validate(config)
    with self.assertRaisesRegex(ValueError, r"needs `levels` of 2 or 3"):
      build("configs/mnist.py:kl_level_delay=1")
    config = build("configs/ptb.py:levels=2,kl_level_delay=1,"
                   "kl_schedule=cyclical")
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"^`config.objective.kl_level_delay_steps` must be 0 unless "
        r"objective.kl_schedule='linear' \(it delays that ramp\), "
        r"received 5000.$"):
      config_lib.validate(config)

  def test_level_balance_and_entropy_need_two_levels(self):
    for spec in ("configs/ptb.py:levels=2,level_balance=2,level_entropy=1",
                 "configs/mnist.py:variant=exact_window,levels=2,"
                 "level_balance=2,level_entropy=1"):
      config = build(spec)
      config_lib.validate(config)
      self.assertEqual((config.objective.level_balance_weight,
                        config.objective.level_entropy_weight), (2.0, 1.0))
    # One level, given as an int or as a one-element tuple: nothing above
    # the slots to balance or sharpen, so a weight is refused, not ignored.
    for key, what in (("level_balance_weight", "balances"),
                      ("level_entropy_weight", "sharpens the reads of")):
      for num_slots in (8, (8,)):
        with self.subTest(key=key, num_slots=num_slots):
          config = common.replace_model_fields(
              build("configs/ptb.py"), num_slots=num_slots)
          config.objective[key] = 2.0
          with self.assertRaisesRegex(
              config_lib.ConfigError,
              rf"^`config.objective.{key}` must be 0 with one level \(it "
              rf"{what} the upper slots of a hierarchy\), received 2.0.$"):
            config_lib.validate(config)
      config = build("configs/ptb.py:levels=2")
      config.objective[key] = -1.0
      with self.assertRaisesRegex(
          config_lib.ConfigError,
          rf"^`config.objective.{key}` must be >= 0 \(0 disables it\), "
          r"received -1.0.$"):
        config_lib.validate(config)


class ResultsRunsTest(tf.test.TestCase):

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

  def test_results_md_lists_each_rows_config_string(self):
    with open(os.path.join(ROOT, "RESULTS.md")) as f:
      document = f.read()
    table = document[document.index("<!-- runs -->"):
                     document.index("<!-- /runs -->")]
    listed = re.findall(r"^\| (\S+) \| `([^`]+)` \| (\d+) \|", table, re.M)
    self.assertEqual(listed, [(row.name, row.config, str(row.samples))
                              for row in results_config.RUNS])

  def test_stopped_and_pretrained_runs_reproduce_their_recorded_config(self):
    for record, spec in STOPPED + PRETRAINED:
      with self.subTest(record):
        self.assertReproduces(record, spec)

  def test_every_row_and_its_smoke_test_validate_and_build(self):
    names = [row.name for row in results_config.RUNS]
    self.assertLen(set(names), len(names))
    for name, spec, samples, baselines, _ in results_config.RUNS:
      with self.subTest(name):
        config = build(spec)
        config_lib.validate(config)
        self.assertGreaterEqual(samples, 1)
        # Models without latents are scored exactly: one sample.
        self.assertEqual(samples == 1, config.model.num_slots == 0, name)
        # Every text row with latents has a language model to compare with.
        self.assertEqual(bool(baselines), config.model.num_slots != 0 and
                         config.model.observation == "text", name)
        self.assertContainsSubset(baselines, names)
        small = build(runlocal(spec))
        config_lib.validate(small)
        model = model_lib.build_model(small.model, 50)
        outputs = model(model_lib.example_batch(model))
        self.assertAllEqual(tf.math.is_finite(outputs["log_likelihood"]),
                            [True, True])

  def test_stopped_runs_validate(self):
    for _, spec in STOPPED:
      for variant in (spec, runlocal(spec)):
        config_lib.validate(build(variant))


if __name__ == "__main__":
  tf.test.main()
