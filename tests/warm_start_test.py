"""Tests of warm-starting a decoder from a language model (warm_start.py):
the warm-started model scores as the language model does whatever its
latents, for every wiring and alignment; size and vocabulary mismatches are
one-line errors; `train.init_from` warm-starts a fresh run, not a resumed
one; `train.freeze_init_from` keeps the copied weights fixed while the read
rows and the latent parts train. And of copying an inference network (Li et
al. 2019's autoencoder pretraining): exactly the encoder and posteriors are
copied, everything else keeps its fresh initialisation, mismatches are
one-line errors, `train.init_inference_from` copies into a fresh run only,
and the recipe's two runs work through bin/train. And of fine-tuning
(`train.init_model_from`): every weight copied, the model's function
unchanged, other arguments refused, and a run on the IWAE bound keeping
its best validation bound."""

import json
import os
import sys
from unittest import mock

from absl.testing import parameterized
import keras
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import common  # pylint: disable=g-import-not-at-top
from inverse_draw_tf import checkpoints
from inverse_draw_tf import config_lib
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import optimization
from inverse_draw_tf import train_lib
from inverse_draw_tf import warm_start
import subprocess_utils as sp

VOCAB_SIZE = 40
SENTENCES = ["the company said it expects sales to rise",
             "stocks fell sharply in heavy trading",
             "mr. smith is chairman of the board",
             "prices of bonds were mixed"]


def tokens(seed=0, batch_size=6, length=9):
  rng = np.random.RandomState(seed)
  ids = rng.randint(4, VOCAB_SIZE, size=(batch_size, length))
  ids[:, -1] = 3  # <eos>
  ids[:2, -3:] = 0  # Padding after an earlier <eos>.
  ids[:2, -4] = 3
  return {"tokens": tf.constant(ids, tf.int32)}


def model_config(**model_fields):
  config = common.get_config()
  config.model.update(embedding_dim=12, encoder_units=10, decoder_units=16,
                      posterior_units=10, prior_units=10, num_slots=4,
                      latent_dim=6, word_dropout=0.0)
  return common.replace_model_fields(config, **model_fields)


def build(config, seed, vocab_size=VOCAB_SIZE):
  keras.utils.set_random_seed(seed)
  model = model_lib.build_model(config.model, vocab_size)
  model(model_lib.example_batch(model))
  return model


WINDOW = dict(type="window", kernel="gaussian", initial_step=0.5)


class WarmStartDecoderTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ("language_model", dict(num_slots=0)),
      ("input_feeding_exact_window",
       dict(decoder_wiring="input_feeding", decoder_attention=WINDOW,
            decoder_alignment="exact")),
      ("input_feeding_soft_content", dict(decoder_wiring="input_feeding")),
      ("output_only_soft_content", dict(decoder_wiring="output_only")),
      ("output_only_variational",
       dict(decoder_wiring="output_only", decoder_alignment="variational")),
      ("input_feeding_gumbel",
       dict(decoder_wiring="input_feeding", decoder_alignment="gumbel")),
      ("hierarchical", dict(num_slots=(4, 2), latent_dim=(6, 6))),
  )
  def test_scores_as_the_language_model_whatever_the_latents(self, fields):
    language_model = build(model_config(num_slots=0), seed=1)
    model = build(model_config(**fields), seed=2)
    batch = tokens()
    expected = language_model(batch)["log_likelihood"]
    before = model(batch, seed=tf.constant([1, 2]))["log_likelihood"]
    self.assertGreater(float(tf.reduce_max(tf.abs(before - expected))), 1e-3)

    warm_start.warm_start_decoder(model.decoder, language_model.decoder)
    for seed in ([1, 2], [7, 9]):  # Other latents, same likelihood.
      self.assertAllClose(
          model(batch, seed=tf.constant(seed))["log_likelihood"], expected,
          atol=1e-4)

  def test_copied_and_zeroed_rows(self):
    language_model = build(model_config(num_slots=0), seed=1)
    model = build(model_config(decoder_wiring="input_feeding"), seed=2)
    warm_start.warm_start_decoder(model.decoder, language_model.decoder)
    source, decoder = language_model.decoder, model.decoder
    cell = source.lstm.cell
    # Fused gate kernel rows: [embedding (12); read (6); hidden (16)].
    self.assertAllEqual(decoder.kernel[:12], cell.kernel)
    self.assertAllEqual(decoder.kernel[12:18], tf.zeros([6, 64]))
    self.assertAllEqual(decoder.kernel[18:], cell.recurrent_kernel)
    self.assertAllEqual(decoder.bias, cell.bias)
    # Output rows: [hidden (16); read (6)].
    self.assertAllEqual(decoder.output_layer.kernel[:16],
                        source.output_layer.kernel)
    self.assertAllEqual(decoder.output_layer.kernel[16:],
                        tf.zeros([6, VOCAB_SIZE]))
    self.assertAllEqual(decoder.embed.embeddings, source.embed.embeddings)
    # The rest of the model (encoder, posterior, read head) is untouched.
    fresh = build(model_config(decoder_wiring="input_feeding"), seed=2)
    self.assertAllEqual(model.decoder.head.weights[0],
                        fresh.decoder.head.weights[0])

  def test_source_that_reads_latents_is_refused(self):
    source = build(model_config(), seed=1)
    model = build(model_config(), seed=2)
    with self.assertRaisesRegex(ValueError, r"reads latents.*num_slots=0"):
      warm_start.warm_start_decoder(model.decoder, source.decoder)

  @parameterized.named_parameters(
      ("units", dict(decoder_units=24), "units=24"),
      ("embedding", dict(embedding_dim=8), "embedding_dim=8"),
  )
  def test_size_mismatch_names_the_size(self, fields, pattern):
    source = build(model_config(num_slots=0, **fields), seed=1)
    model = build(model_config(), seed=2)
    with self.assertRaisesRegex(ValueError, f"cannot warm-start.*{pattern}"):
      warm_start.warm_start_decoder(model.decoder, source.decoder)


class WarmStartImageDecoderTest(tf.test.TestCase):
  """An image decoder whose pixels are autoregressive within a row
  (`group_units`) copies that network too, and freezes it with the rest."""

  def image_model(self, seed, **fields):
    keras.utils.set_random_seed(seed)
    model = model_lib.InverseDraw(**dict(dict(
        observation="binary_image", image_shape=(4, 6), pixels_per_step=6,
        embedding_dim=8, encoder_units=6, decoder_units=10,
        posterior_units=6, num_slots=3, latent_dim=4,
        decoder_alignment="exact", decoder_attention=WINDOW,
        group_autoregressive_units=5), **fields))
    model.build()
    # Output weights start at zero: random ones make the copy visible.
    for weight in model.decoder.group_autoregression.weights:
      weight.assign(np.random.RandomState(seed).randn(*weight.shape))
    return model

  def test_scores_as_the_image_language_model(self):
    language_model = self.image_model(1, num_slots=0,
                                      decoder_alignment="soft")
    model = self.image_model(2)
    pixels = {"pixels": tf.constant(
        np.random.RandomState(0).rand(3, 4, 6) > 0.5, tf.float32)}
    expected = language_model(pixels)["log_likelihood"]
    warm_start.warm_start_decoder(model.decoder, language_model.decoder)
    for seed in ([1, 2], [7, 9]):
      self.assertAllClose(model(pixels, seed=tf.constant(seed))[
          "log_likelihood"], expected, atol=1e-4)
    masks = warm_start.frozen_gradient_masks(model)
    by_id = {id(v): m for v, m in zip(model.trainable_variables, masks)}
    for weight in model.decoder.group_autoregression.weights:
      self.assertAllEqual(by_id[id(weight)], tf.zeros(weight.shape))

  def test_other_group_units_are_refused(self):
    language_model = self.image_model(1, num_slots=0,
                                      decoder_alignment="soft",
                                      group_autoregressive_units=7)
    with self.assertRaisesRegex(ValueError, r"cannot warm-start: the "
                                r"language model's decoder has "
                                r"group_units=7 but this model's has "
                                r"group_units=5"):
      warm_start.warm_start_decoder(self.image_model(2).decoder,
                                    language_model.decoder)


def is_inference(variable):
  """Whether a model variable computes q(Z | x): the encoder's embedding and
  BiLSTM and every level's posterior, read off the variable's path (not off
  `warm_start.inference_layers`, which the tests check)."""
  part = variable.path.split("/")[1]
  return part in ("encoder_embedding", "encoder") or part.startswith(
      "posterior_")


class WarmStartInferenceTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ("content", {}),
      ("one_slot", dict(num_slots=1)),
      ("window_posterior", dict(posterior_attention=WINDOW)),
      ("hierarchical", dict(num_slots=(4, 2), latent_dim=(6, 6))),
      ("mean_pooled", dict(posterior_type="mean_pooled")),
      # q(a_t | x, Z) infers the decoder's reads: it stays fresh too.
      ("variational", dict(decoder_alignment="variational")),
  )
  def test_copies_the_inference_network_and_nothing_else(self, fields):
    source = build(model_config(**fields), seed=1)
    model = build(model_config(**fields), seed=2)
    fresh = build(model_config(**fields), seed=2)
    warm_start.warm_start_inference(model, source)
    self.assertLen(model.weights, len(source.weights))
    moved = []
    for ours, theirs, initial in zip(model.weights, source.weights,
                                     fresh.weights):
      if is_inference(ours):
        self.assertAllEqual(ours, theirs, msg=ours.path)
        moved.append(np.abs(theirs.numpy() - initial.numpy()).max() > 1e-3)
      else:  # The decoder, the priors and the rest: as initialised.
        self.assertAllEqual(ours, initial, msg=ours.path)
    # Embedding, BiLSTM and posterior weights were copied, and most of them
    # (all but the biases, initialised alike) differed before the copy.
    self.assertGreaterEqual(len(moved), 9)
    self.assertGreater(np.mean(moved), 0.5)
    # So q(Z | x) is the source's: the same posterior for the same batch.
    batch = tokens()
    ours, theirs = model(batch), source(batch)
    for key in ("posterior_loc", "posterior_scale"):
      self.assertAllClose(ours[key], theirs[key], atol=1e-6)

  def test_bn_vae_copies_from_a_source_without_it(self):
    source = build(model_config(), seed=1)
    model = build(model_config(posterior_mean_batchnorm_gamma=0.5), seed=2)
    fresh = build(model_config(posterior_mean_batchnorm_gamma=0.5), seed=2)
    warm_start.warm_start_inference(model, source)
    normalised = [(ours, initial) for ours, initial in
                  zip(model.weights, fresh.weights)
                  if "batchnorm" in ours.path]
    self.assertLen(normalised, 4)  # beta, mean, variance, batches.
    for ours, initial in normalised:  # Fresh: shift 0, no statistics.
      self.assertAllEqual(ours, initial, msg=ours.path)
    rest = [v for v in model.weights if "batchnorm" not in v.path]
    self.assertLen(rest, len(source.weights))
    for ours, theirs in zip(rest, source.weights):
      if is_inference(ours):
        self.assertAllEqual(ours, theirs, msg=ours.path)
    # The other way round would drop a trained normalisation: refused.
    with self.assertRaisesRegex(ValueError, "posterior_mean_batchnorm_gamma"):
      warm_start.warm_start_inference(source, model)

  def test_bn_vae_source_gives_its_normalisation_too(self):
    # Phase two of a BN-VAE autoencoder: the shift and the moving statistics
    # it trained with are part of q(Z | x) and must come along.
    config = model_config(posterior_mean_batchnorm_gamma=0.5)
    source, model = build(config, seed=1), build(config, seed=2)
    rng = np.random.default_rng(0)
    normalisation = [v for v in source.weights if "batchnorm" in v.path]
    self.assertLen(normalisation, 4)  # beta, mean, variance, batches.
    for variable in normalisation:  # As if trained: off their initial values.
      variable.assign(rng.uniform(1.0, 2.0, variable.shape).astype(
          variable.dtype))
    warm_start.warm_start_inference(model, source)
    for ours, theirs in zip(model.weights, source.weights):
      if is_inference(ours):
        self.assertAllEqual(ours, theirs, msg=ours.path)
    batch = tokens()
    ours, theirs = model(batch), source(batch)
    self.assertAllClose(ours["posterior_loc"], theirs["posterior_loc"],
                        atol=1e-6)

  def test_a_window_floor_may_be_added(self):
    # The floor adds no weight: everything is copied, and the copied
    # window's precision is the source's plus the floor.
    source = build(model_config(posterior_attention=WINDOW), seed=1)
    floored = dict(WINDOW, min_width=0.25)
    model = build(model_config(posterior_attention=floored), seed=2)
    warm_start.warm_start_inference(model, source)
    for ours, theirs in zip(model.weights, source.weights):
      if is_inference(ours):
        self.assertAllEqual(ours, theirs, msg=ours.path)
    head, source_head = (m.posteriors[0].heads[0] for m in (model, source))
    query = tf.random.stateless_normal([3, head.width[0].shape[0]], [5, 6])
    self.assertAllClose(head._project(query)["width"],
                        source_head._project(query)["width"] + 0.25)
    # Any other change to the head is still refused.
    other = build(model_config(posterior_attention=dict(
        floored, initial_step=1.5)), seed=3)
    with self.assertRaisesRegex(ValueError, r"posterior_attention=\{"):
      warm_start.warm_start_inference(other, source)

  @parameterized.named_parameters(
      ("embedding", dict(embedding_dim=8),
       r"embedding_dim=8 but this model's has embedding_dim=12"),
      ("encoder", dict(encoder_units=8), "encoder_units=8"),
      ("local_encoder", dict(encoder_context=2), "encoder_context=2"),
      ("posterior", dict(posterior_units=8), "posterior_units=8"),
      ("slots", dict(num_slots=3), r"num_slots=\[3\]"),
      ("levels", dict(num_slots=(4, 2), latent_dim=(6, 6)),
       r"num_slots=\[4, 2\]"),
      ("latent_dim", dict(latent_dim=5), r"latent_dim=\[5\]"),
      ("posterior_type", dict(posterior_type="mean_pooled"),
       "posterior_type='mean_pooled'"),
      ("posterior_attention", dict(posterior_attention=WINDOW),
       r"posterior_attention=\{"),
      ("vocabulary", dict(vocab_size=50), "vocab_size=50"),
  )
  def test_mismatch_is_a_one_line_error_and_copies_nothing(self, fields,
                                                           pattern):
    vocab_size = fields.pop("vocab_size", VOCAB_SIZE)
    source = build(model_config(**fields), seed=1, vocab_size=vocab_size)
    model = build(model_config(), seed=2)
    before = [v.numpy() for v in model.weights]
    with self.assertRaisesRegex(
        ValueError, "^cannot copy the inference network: the source run's "
        f"model has {pattern}.*same vocabulary, encoder and posterior") as (
            context):
      warm_start.warm_start_inference(model, source)
    self.assertNotIn("\n", str(context.exception))
    for variable, value in zip(model.weights, before):
      self.assertAllEqual(variable, value)

  def test_models_without_latents_are_refused(self):
    language_model = build(model_config(num_slots=0), seed=1)
    model = build(model_config(), seed=2)
    for target, source, which in (
        (model, language_model, "the source run's model"),
        (language_model, model, "this model")):
      with self.assertRaisesRegex(
          ValueError, f"{which} has no latents .*kl_schedule='zero'"):
        warm_start.warm_start_inference(target, source)


class FrozenGradientMasksTest(parameterized.TestCase, tf.test.TestCase):
  """`frozen_gradient_masks` through real `optimization.train_step` updates."""

  @parameterized.named_parameters(
      ("input_feeding", "input_feeding"),
      ("output_only", "output_only"),
  )
  def test_copied_weights_stay_and_the_rest_trains(self, wiring):
    config = model_config(decoder_wiring=wiring)
    config.optimizer.update(schedule="constant", learning_rate=1e-2)
    config.objective.update(kl_schedule="none")
    language_model = build(model_config(num_slots=0), seed=1)
    model = build(config, seed=2)
    warm_start.warm_start_decoder(model.decoder, language_model.decoder)
    masks = warm_start.frozen_gradient_masks(model)
    variables = model.trainable_variables
    self.assertLen(masks, len(variables))
    before = [v.numpy() for v in variables]
    optimizer = optimization.build_optimizer(config.optimizer, 10)
    optimizer.build(variables)
    step_fn = tf.function(lambda batch, step: optimization.train_step(
        model, optimizer, batch, step=step, seed=tf.constant([0, 0]),
        config=config, global_batch_size=6, gradient_masks=masks))
    for step in range(3):
      step_fn(tokens(seed=step), tf.constant(step, tf.int64))

    decoder, source = model.decoder, language_model.decoder
    read_dim = decoder.read_dim
    self.assertAllEqual(decoder.embed.embeddings, source.embed.embeddings)
    self.assertAllEqual(decoder.output_layer.kernel[:16],
                        source.output_layer.kernel)
    self.assertAllEqual(decoder.output_layer.bias, source.output_layer.bias)
    # The read rows into the logits start at zero and learn.
    self.assertGreater(
        float(tf.reduce_max(tf.abs(decoder.output_layer.kernel[16:]))), 1e-3)
    self.assertEqual(decoder.output_layer.kernel.shape[0], 16 + read_dim)
    if wiring == "input_feeding":
      cell = source.lstm.cell
      self.assertAllEqual(decoder.kernel[:12], cell.kernel)
      self.assertAllEqual(decoder.kernel[12 + read_dim:],
                          cell.recurrent_kernel)
      self.assertAllEqual(decoder.bias, cell.bias)
      self.assertGreater(
          float(tf.reduce_max(tf.abs(decoder.kernel[12:12 + read_dim]))),
          1e-3)
    else:
      self.assertAllEqual(decoder.lstm.cell.kernel, source.lstm.cell.kernel)
      self.assertAllEqual(decoder.lstm.cell.bias, source.lstm.cell.bias)
    # Everything without a mask (encoder, posterior, read head) trained.
    unmasked = [(b, v) for b, v, m in zip(before, variables, masks)
                if m is None]
    self.assertNotEmpty(unmasked)
    moved = [np.abs(v.numpy() - b).max() > 0 for b, v in unmasked]
    self.assertGreater(np.mean(moved), 0.9)

  def test_masks_cover_exactly_the_copied_entries(self):
    model = build(model_config(decoder_wiring="input_feeding"), seed=2)
    masks = warm_start.frozen_gradient_masks(model)
    by_id = {id(v): m for v, m in zip(model.trainable_variables, masks)}
    decoder = model.decoder
    read_dim = decoder.read_dim
    # Fused gate kernel [embedding (12); read; hidden (16)] x 64 gates.
    self.assertAllEqual(tf.reduce_sum(by_id[id(decoder.kernel)], 1),
                        [0.0] * 12 + [64.0] * read_dim + [0.0] * 16)
    self.assertAllEqual(by_id[id(decoder.bias)], tf.zeros([64]))
    self.assertAllEqual(by_id[id(decoder.embed.embeddings)],
                        tf.zeros([VOCAB_SIZE, 12]))
    masked = sum(m is not None for m in masks)
    self.assertEqual(masked, 5)  # Embedding, kernel, bias, output W and b.


def text_config(corpus, steps, **model_fields):
  config = common.get_config()
  config.seed = 3
  config.input.update(dataset="text", train_path=corpus, valid_path=corpus,
                      test_path=corpus, batch_size=4, eval_batch_size=4,
                      max_length=12, bucket_boundaries=())
  config.model.update(dict(dict(
      embedding_dim=12, encoder_units=10, decoder_units=16,
      posterior_units=10, num_slots=3, latent_dim=4, word_dropout=0.0),
                           **model_fields))
  config.optimizer.update(schedule="constant", learning_rate=1e-2)
  config.objective.update(kl_schedule="none")
  config.train.update(num_steps=steps, log_every=steps, eval_every=steps,
                      eval_batches=1, checkpoint_every=steps,
                      summary_examples=0)
  return config


def write_corpus(path, sentences=SENTENCES):
  """Writes `sentences` to `path`, one a line; returns `path`."""
  with open(path, "w") as f:
    f.write("\n".join(sentences) + "\n")
  return path


def other_vocabulary_corpus(directory):
  """A corpus in `directory` whose vocabulary differs from SENTENCES'."""
  return write_corpus(os.path.join(directory, "other.txt"),
                      [s.upper() + " extra words" for s in SENTENCES])


def decoder_embedding(workdir):
  _, _, model, _, _ = checkpoints.restore(workdir, which="latest")
  return model.decoder.embed.embeddings.numpy()


class InitFromTest(tf.test.TestCase):
  """`train.init_from` in `train_lib.train`, with real (tiny) runs."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tf.compat.v1.test.get_temp_dir()
    cls.corpus = write_corpus(os.path.join(cls.root, "corpus.txt"))
    cls.language_model = os.path.join(cls.root, "lm")
    train_lib.train(text_config(cls.corpus, 10, num_slots=0),
                    cls.language_model)

  def test_fresh_run_starts_from_the_language_model(self):
    config = text_config(self.corpus, 2)
    # A learning rate too small to move a weight: after the run the decoder
    # still holds what the warm start put there.
    config.optimizer.learning_rate = 1e-12
    config.train.init_from = self.language_model
    workdir = os.path.join(self.create_tempdir().full_path, "warm")
    train_lib.train(config, workdir)
    self.assertAllClose(decoder_embedding(workdir),
                        decoder_embedding(self.language_model), atol=1e-6)

    # Without init_from the same config starts elsewhere (the test can fail).
    config.train.init_from = ""
    cold = os.path.join(self.create_tempdir().full_path, "cold")
    train_lib.train(config, cold)
    self.assertGreater(
        np.abs(decoder_embedding(cold) -
               decoder_embedding(self.language_model)).max(), 1e-2)

  def test_resumed_run_is_not_warm_started_again(self):
    config = text_config(self.corpus, 4)
    config.train.init_from = self.language_model
    workdir = os.path.join(self.create_tempdir().full_path, "warm")
    train_lib.train(config, workdir)
    trained = decoder_embedding(workdir)
    self.assertGreater(
        np.abs(trained - decoder_embedding(self.language_model)).max(), 1e-3)
    with mock.patch.object(
        warm_start, "warm_start_from_run",
        side_effect=AssertionError("a resumed run was warm-started")):
      train_lib.train(config, workdir)
    self.assertAllEqual(decoder_embedding(workdir), trained)

  @pytest.mark.slow  # 16 s on 2 idle cores; `make test-all` runs it.
  def test_frozen_run_keeps_the_language_model_through_a_resume(self):
    config = text_config(self.corpus, 3)
    config.train.init_from = self.language_model
    config.train.freeze_init_from = True
    workdir = os.path.join(self.create_tempdir().full_path, "frozen")
    train_lib.train(config, workdir)
    self.assertAllEqual(decoder_embedding(workdir),
                        decoder_embedding(self.language_model))
    config.train.update(num_steps=6, log_every=6, eval_every=6,
                        checkpoint_every=6)
    train_lib.train(config, workdir)  # Resumed at step 3, still frozen.
    self.assertAllEqual(decoder_embedding(workdir),
                        decoder_embedding(self.language_model))
    _, _, model, _, step = checkpoints.restore(
        workdir, which="latest")
    self.assertEqual(step, 6)
    self.assertGreater(float(tf.reduce_max(tf.abs(
        model.decoder.output_layer.kernel[16:]))), 1e-4)

  def test_missing_run_is_a_one_line_error(self):
    config = text_config(self.corpus, 2)
    config.train.init_from = os.path.join(self.root, "no_such_run")
    workdir = os.path.join(self.create_tempdir().full_path, "warm")
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"init_from.*no config.json"):
      train_lib.train(config, workdir)

  def test_other_vocabulary_is_refused(self):
    config = text_config(
        other_vocabulary_corpus(self.create_tempdir().full_path), 2)
    config.train.init_from = self.language_model
    workdir = os.path.join(self.create_tempdir().full_path, "warm")
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"init_from.*differs.*same input config"):
      train_lib.train(config, workdir)


def restored_model(workdir):
  return checkpoints.restore(workdir, which="latest").model


class InitInferenceFromTest(tf.test.TestCase):
  """`train.init_inference_from` in `train_lib.train`, with real (tiny)
  runs: phase 1 an autoencoder (`kl_schedule="zero"`), phase 2 fresh runs
  that start from its inference network."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = os.path.join(tf.compat.v1.test.get_temp_dir(), "inference")
    os.makedirs(cls.root, exist_ok=True)
    cls.corpus = write_corpus(os.path.join(cls.root, "corpus.txt"))
    config = text_config(cls.corpus, 10)
    config.objective.kl_schedule = "zero"
    config.train.eval_every = 2  # Five validations: best/ is one of them.
    cls.autoencoder = os.path.join(cls.root, "autoencoder")
    train_lib.train(config, cls.autoencoder)
    cls.language_model = os.path.join(cls.root, "lm")
    train_lib.train(text_config(cls.corpus, 10, num_slots=0),
                    cls.language_model)

  def train(self, config, name):
    workdir = os.path.join(self.create_tempdir().full_path, name)
    train_lib.train(config, workdir)
    return workdir

  def still_config(self, **train_fields):
    """Two steps at a learning rate too small to move a weight: afterwards
    the model holds what the run started from."""
    config = text_config(self.corpus, 2)
    config.optimizer.learning_rate = 1e-12
    config.train.update(train_fields)
    return config

  def test_fresh_run_starts_from_the_autoencoders_inference_network(self):
    config = self.still_config(init_inference_from=self.autoencoder)
    warm = restored_model(self.train(config, "warm"))
    source = checkpoints.restore(self.autoencoder, which="best").model
    # What train_lib initialises a run of this config to.
    fresh = build(config, seed=config.seed, vocab_size=warm.vocab_size)
    for ours, theirs, initial in zip(warm.weights, source.weights,
                                     fresh.weights):
      expected = theirs if is_inference(ours) else initial
      self.assertAllClose(ours, expected, atol=1e-6, msg=ours.path)
    # The test can fail: the autoencoder's encoder left its initialisation.
    self.assertGreater(np.abs(source.encoder_embedding.embeddings.numpy() -
                              fresh.encoder_embedding.embeddings.numpy()).max(),
                       1e-2)

  def test_the_autoencoders_best_checkpoint_has_the_best_reconstruction(self):
    with open(os.path.join(self.autoencoder, "metrics.jsonl")) as f:
      valid = [r for r in map(json.loads, f) if r["kind"] == "valid"]
    self.assertLen(valid, 5)
    best_reconstruction = min(valid, key=lambda r: r["distortion"])["step"]
    best_elbo = max(valid, key=lambda r: r["elbo"])["step"]
    # The KL, out of the loss, grows: the ELBO would pick another step.
    self.assertNotEqual(best_reconstruction, best_elbo)
    self.assertEqual(checkpoints.restore(self.autoencoder, which="best").step,
                     best_reconstruction)

  def test_combines_with_init_from(self):
    warm = restored_model(self.train(self.still_config(
        init_from=self.language_model,
        init_inference_from=self.autoencoder), "both"))
    self.assertAllClose(
        warm.decoder.embed.embeddings,
        restored_model(self.language_model).decoder.embed.embeddings,
        atol=1e-6)
    self.assertAllClose(
        warm.encoder_embedding.embeddings,
        checkpoints.restore(self.autoencoder,
                            which="best").model.encoder_embedding.embeddings,
        atol=1e-6)

  def test_resumed_run_is_not_copied_into_again(self):
    config = text_config(self.corpus, 4)
    config.train.init_inference_from = self.autoencoder
    workdir = self.train(config, "warm")
    trained = restored_model(workdir).encoder_embedding.embeddings.numpy()
    source = checkpoints.restore(
        self.autoencoder, which="best").model.encoder_embedding.embeddings
    self.assertGreater(np.abs(trained - source.numpy()).max(), 1e-3)
    with mock.patch.object(
        warm_start, "warm_start_inference_from_run",
        side_effect=AssertionError("a resumed run was copied into")):
      train_lib.train(config, workdir)
    self.assertAllEqual(restored_model(workdir).encoder_embedding.embeddings,
                        trained)

  def test_init_model_from_starts_from_every_weight_of_the_source(self):
    # The autoencoder's model config: only the objective differs.
    config = self.still_config(init_model_from=self.autoencoder)
    tuned = restored_model(self.train(config, "tuned"))
    source = checkpoints.restore(self.autoencoder, which="best").model
    for ours, theirs in zip(tuned.weights, source.weights):
      self.assertAllClose(ours, theirs, atol=1e-6, msg=ours.path)
    # From a language model (other arguments): refused, naming the key.
    config = self.still_config(init_model_from=self.language_model)
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"^`train.init_model_from`: cannot fine-tune: the source run's model "
        r"has num_slots=0 but this model's has num_slots=\[3\];"):
      self.train(config, "refused")

  def test_iwae_training_keeps_the_best_validation_bound(self):
    config = text_config(self.corpus, 6)
    config.objective.update(kl_schedule="none", training_samples=3,
                            free_bits=0.0)
    config.train.eval_every = 2
    workdir = self.train(config, "iwae")
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      valid = [r for r in map(json.loads, f) if r["kind"] == "valid"]
    self.assertLen(valid, 3)
    for record in valid:  # IWAE_3 >= ELBO in expectation; far above here.
      self.assertGreater(record["iwae"], record["elbo"] - 1.0)
    best = max(valid, key=lambda r: r["iwae"])["step"]
    self.assertEqual(checkpoints.restore(workdir, which="best").step, best)
    self.assertEqual(
        train_lib.validation_score(valid[0], config.objective), valid[0]["iwae"])
    config.objective.training_samples = 1
    self.assertEqual(
        train_lib.validation_score(valid[0], config.objective), valid[0]["elbo"])

  def test_bad_sources_are_one_line_errors_naming_the_key(self):
    other_vocabulary = text_config(
        other_vocabulary_corpus(self.create_tempdir().full_path), 2)
    other_vocabulary.train.init_inference_from = self.autoencoder
    narrow = text_config(self.corpus, 2, encoder_units=8)
    narrow.train.init_inference_from = self.autoencoder
    for config, source, pattern in (
        (self.still_config(), os.path.join(self.root, "no_such_run"),
         r" is `.*no_such_run`, which has no config.json: pass the workdir of "
         r"a run with latents"),
        (self.still_config(), self.language_model,
         r": cannot copy the inference network: the source run's model has "
         r"no latents"),
        (narrow, self.autoencoder,
         r": cannot copy the inference network: the source run's model has "
         r"encoder_units=10 but this model's has encoder_units=8"),
        (other_vocabulary, self.autoencoder,
         r": .*vocab.txt differs from .*same input config")):
      with self.subTest(pattern):
        config.train.init_inference_from = source
        with self.assertRaisesRegex(
            config_lib.ConfigError,
            f"^`train.init_inference_from`{pattern}") as context:
          self.train(config, "warm")
        self.assertNotIn("\n", str(context.exception))


class WarmStartModelTest(parameterized.TestCase, tf.test.TestCase):

  @parameterized.named_parameters(
      ("content", {}),
      ("hierarchical", dict(num_slots=(4, 2), latent_dim=(6, 6))),
      ("exact_window", dict(decoder_alignment="exact", decoder_attention=WINDOW,
                            posterior_attention=WINDOW)),
  )
  def test_copies_every_weight_and_so_the_function(self, fields):
    source = build(model_config(**fields), seed=1)
    model = build(model_config(**fields), seed=2)
    batch, seed = tokens(), tf.constant([3, 4])
    before = objectives.evidence_lower_bound(model, batch, seed=seed)["elbo"]
    warm_start.warm_start_model(model, source)
    for ours, theirs in zip(model.weights, source.weights):
      self.assertAllEqual(ours, theirs, msg=ours.path)
    ours = objectives.evidence_lower_bound(model, batch, seed=seed)["elbo"]
    theirs = objectives.evidence_lower_bound(source, batch, seed=seed)["elbo"]
    self.assertAllClose(ours, theirs, atol=1e-5)
    # The test can fail: the two initialisations scored differently.
    self.assertGreater(float(tf.reduce_max(tf.abs(before - theirs))), 1e-2)

  def test_other_arguments_are_a_one_line_error_and_copy_nothing(self):
    source = build(model_config(), seed=1)
    model = build(model_config(latent_dim=5), seed=2)
    initial = [v.numpy() for v in model.weights]
    with self.assertRaisesRegex(
        ValueError, r"^cannot fine-tune: the source run's model has "
        r"latent_dim=\[6\] but this model's has latent_dim=\[5\]; fine-tune "
        r"with the "
        r"source run's model config.$"):
      warm_start.warm_start_model(model, source)
    for value, variable in zip(initial, model.weights):
      self.assertAllEqual(value, variable)


def train_records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [r for r in records if r["kind"] == "train"]


class LiRecipeTest(tf.test.TestCase):
  """Li et al. 2019's two runs through bin/train, as docs/options.md gives
  them (at the smoke-test size)."""

  @pytest.mark.slow  # 50 s on 2 busy cores; `make test-all` runs it.
  def test_phase_two_starts_from_phase_one(self):
    root = self.create_tempdir().full_path
    autoencoder = os.path.join(root, "li_ae")
    code, output = sp.run("train", [
        "--config=configs/ptb_vae.py:kl_schedule=zero,runlocal",
        "--config.train.num_steps=4", "--config.train.eval_every=4",
        f"--workdir={autoencoder}"])
    self.assertEqual(code, 0, output)
    records = train_records(autoencoder)
    self.assertNotEmpty(records)
    for record in records:  # The KL is reported but not in the loss.
      self.assertEqual(record["kl_weight"], 0.0)
      self.assertGreater(record["kl"], 0.1)
      self.assertAllClose(record["loss"], record["distortion"], rtol=1e-4)

    vae = os.path.join(root, "li_fb")
    code, output = sp.run("train", [
        "--config=configs/ptb_vae.py:free_bits=2,runlocal",
        f"--config.train.init_inference_from={autoencoder}",
        "--config.train.num_steps=2", "--config.train.eval_every=2",
        # Too small to move a weight: the run ends where it started.
        "--config.optimizer.learning_rate=1e-12", f"--workdir={vae}"])
    self.assertEqual(code, 0, output)
    # The autoencoder's best validation reconstruction, as Li et al. take it
    # (its one validation is at step 4).
    self.assertIn("warm-started the inference network from "
                  f"{autoencoder}/best/ckpt-4 (step 4)", output)
    model, source = restored_model(vae), restored_model(autoencoder)
    copied = [(ours, theirs) for ours, theirs in zip(model.weights,
                                                     source.weights)
              if is_inference(ours)]
    self.assertGreaterEqual(len(copied), 9)
    for ours, theirs in copied:
      self.assertAllClose(ours, theirs, atol=1e-6, msg=ours.path)
    # The decoder is a fresh one, not the autoencoder's trained decoder.
    self.assertGreater(float(tf.reduce_max(tf.abs(
        model.decoder.output_layer.kernel -
        source.decoder.output_layer.kernel))), 1e-4)


class ConfigTest(tf.test.TestCase):

  def test_init_from_must_be_a_string(self):
    config = common.get_config()
    config.train.init_from = ""
    config_lib.validate(config)
    config.train.unlock()
    with config.train.ignore_type():
      config.train.init_from = 3
    with self.assertRaisesRegex(config_lib.ConfigError, "train.init_from"):
      config_lib.validate(config)

  def test_freeze_needs_a_run_to_freeze(self):
    config = common.get_config()
    config.train.freeze_init_from = True
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"train.freeze_init_from.*nothing to freeze"):
      config_lib.validate(config)
    config.train.init_from = "runs/some_language_model"
    config_lib.validate(config)
    config.train.unlock()
    with config.train.ignore_type():
      config.train.freeze_init_from = "yes"
    with self.assertRaisesRegex(config_lib.ConfigError,
                                r"train.freeze_init_from.*True or False"):
      config_lib.validate(config)

  def test_init_inference_from_needs_a_model_with_slots(self):
    config = common.get_config()
    config.train.init_inference_from = "runs/li_ae"
    config_lib.validate(config)
    config.model.num_slots = 0
    with self.assertRaisesRegex(
        config_lib.ConfigError,
        r"^`config.train.init_inference_from` must be '' for a model without "
        r"slots \(model.num_slots=0 .*received 'runs/li_ae'.$"):
      config_lib.validate(config)
    config.train.unlock()
    with config.train.ignore_type():
      config.train.init_inference_from = 3
    with self.assertRaisesRegex(config_lib.ConfigError,
                                "train.init_inference_from.*a workdir path"):
      config_lib.validate(config)

  def test_init_model_from_excludes_the_partial_copies(self):
    config = common.get_config()
    config.train.init_model_from = "runs/trained"
    config_lib.validate(config)
    for key in ("init_from", "init_inference_from"):
      other = common.get_config()
      other.train.update({"init_model_from": "runs/trained", key: "runs/x"})
      with self.assertRaisesRegex(
          config_lib.ConfigError,
          r"^`config.train.init_model_from` must be '' when `train.init_from` "
          r"or `train.init_inference_from` is set \(it copies every weight; "
          r"they copy parts\), received 'runs/trained'.$"):
        config_lib.validate(other)

  def test_old_run_configs_get_the_default(self):
    recorded = config_lib._with_added_defaults(  # pylint: disable=protected-access
        {"train": {"num_steps": 5}})
    self.assertEqual(recorded["train"]["init_from"], "")
    self.assertFalse(recorded["train"]["freeze_init_from"])
    self.assertEqual(recorded["train"]["init_inference_from"], "")
    self.assertEqual(recorded["train"]["init_model_from"], "")


if __name__ == "__main__":
  tf.test.main()
