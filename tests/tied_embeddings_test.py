"""Tests of tied input and output embeddings (`model.tie_embeddings`): the
decoder's output rows for its state are the transpose of its input
embedding, by hand and through the gradient; the read rows and the bias
stay weights of their own; scoring, generation steps, warm starts, configs
and the errors for sizes that cannot tie."""

import os
import sys

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import common  # pylint: disable=g-import-not-at-top
from configs import ptb
from configs import ptb_lm
from configs import ptb_vae
from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import decoder as decoder_lib
from inverse_draw_tf import likelihood
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import warm_start

VOCAB_SIZE = 11
WINDOW = dict(type="window", kernel="gaussian", initial_step=0.5)


def tied_decoder(attention=None, alignment="soft", wiring="input_feeding"):
  keras.utils.set_random_seed(3)
  return decoder_lib.Decoder(
      output_dim=VOCAB_SIZE, input_kind="tokens", embedding_dim=8, units=8,
      attention=attention, wiring=wiring, alignment=alignment,
      tie_embeddings=True)


def token_ids(seed, shape=(3, 5)):
  return tf.random.stateless_uniform(shape, [seed, 1], maxval=VOCAB_SIZE,
                                     dtype=tf.int32)


def latents():
  return tf.random.stateless_normal([3, 4, 5], [5, 6])


class TiedDecoderTest(parameterized.TestCase, tf.test.TestCase):

  def test_language_model_logits_are_the_state_times_the_embedding(self):
    decoder = tied_decoder()
    inputs = token_ids(1)
    logits = decoder(inputs)["logits"]
    hidden = decoder.lstm(decoder.embed(inputs))
    want = (tf.einsum("btu,vu->btv", hidden, decoder.embed.embeddings) +
            decoder.output_bias)
    self.assertAllClose(want, logits, atol=1e-5)
    names = sorted(v.name for v in decoder.trainable_variables)
    self.assertNotIn("kernel", [n for n in names if n.startswith("output")])
    self.assertIn("output_bias", names)
    self.assertFalse(any("read_output_kernel" in n for n in names))

  def test_a_word_seen_only_as_a_target_trains_its_input_embedding(self):
    decoder = tied_decoder()
    inputs = tf.fill([2, 4], 1)
    targets = tf.fill([2, 4], 7)  # Word 7 is never an input.
    with tf.GradientTape() as tape:
      logits = decoder(inputs)["logits"]
      loss = -tf.reduce_sum(likelihood.categorical_log_prob(logits, targets))
    gradient = tf.convert_to_tensor(
        tape.gradient(loss, decoder.embed.embeddings))
    self.assertGreater(float(tf.reduce_max(tf.abs(gradient[7]))), 1e-4)
    untied = decoder_lib.Decoder(output_dim=VOCAB_SIZE, input_kind="tokens",
                                 embedding_dim=8, units=8)
    with tf.GradientTape() as tape:
      logits = untied(inputs)["logits"]
      loss = -tf.reduce_sum(likelihood.categorical_log_prob(logits, targets))
    gradient = tf.convert_to_tensor(
        tape.gradient(loss, untied.embed.embeddings))
    self.assertAllEqual(gradient[7], tf.zeros([8]))

  @parameterized.named_parameters(
      ("soft", "content", "soft", "input_feeding"),
      ("gumbel", "content", "gumbel", "input_feeding"),
      ("exact", WINDOW, "exact", "input_feeding"),
      ("variational", "content", "variational", "output_only"),
  )
  def test_output_kernel_is_the_embedding_then_the_read_rows(
      self, attention, alignment_name, wiring):
    decoder = tied_decoder(attention, alignment_name, wiring)
    inputs, targets = token_ids(1), token_ids(2)
    whole = decoder(inputs, latents())
    kernel, bias = decoder.output_weights()
    self.assertEqual((8 + 5, VOCAB_SIZE), tuple(kernel.shape))
    self.assertAllEqual(kernel[:8], tf.transpose(decoder.embed.embeddings))
    self.assertAllEqual(kernel[8:], decoder.read_output_kernel)
    self.assertAllEqual(bias, decoder.output_bias)
    # Scoring in blocks agrees with the logits, as untied.
    scored = decoder(inputs, latents(), targets=targets)
    if alignment_name in alignment_lib.PER_SLOT_ALIGNMENTS:
      self.assertAllClose(
          tf.einsum("bkd,dv->bkv", latents(), decoder.read_output_kernel),
          whole["slot_logits"], atol=1e-5)
      want = alignment_lib.slot_log_likelihoods(
          whole["shared_logits"], whole["slot_logits"], targets, "text")
      self.assertAllClose(want, scored["slot_log_likelihood"], atol=1e-5)
    else:
      want = likelihood.categorical_log_prob(whole["logits"], targets)
      self.assertAllClose(want, scored["log_prob"], atol=1e-5)

  def test_generation_step_matches_the_teacher_forced_pass(self):
    decoder = tied_decoder(WINDOW, "exact")
    inputs = token_ids(1, (3, 4))
    whole = decoder(inputs, latents())
    per_slot = tf.nn.log_softmax(
        whole["shared_logits"][:, :, None] + whole["slot_logits"][:, None])
    want = tf.reduce_logsumexp(
        alignment_lib.safe_log(whole["read_weights"])[..., None] + per_slot,
        2)
    carry = decoder.initial_carry(latents(), None, 3, tf.float32)
    for t in range(4):
      log_probs, _, carry = decoder.step_log_probs(inputs[:, t], carry,
                                                   latents())
      self.assertAllClose(want[:, t], log_probs, atol=1e-4)

  def test_config_round_trip(self):
    decoder = tied_decoder("content")
    decoder(token_ids(1), latents())
    config = decoder.get_config()
    self.assertTrue(config["tie_embeddings"])
    self.assertTrue(decoder_lib.Decoder.from_config(config).tie_embeddings)

  @parameterized.named_parameters(
      ("sizes", dict(input_kind="tokens", embedding_dim=8, units=16)),
      ("vectors", dict(input_kind="vectors", embedding_dim=8, units=8)),
  )
  def test_untieable_decoders_are_refused(self, kwargs):
    with self.assertRaisesRegex(
        ValueError, r"^tie_embeddings needs token inputs and decoder units "
        r"equal to the embedding size, received .*; set them equal or turn "
        r"tie_embeddings off\.$"):
      decoder_lib.Decoder(output_dim=VOCAB_SIZE, tie_embeddings=True,
                          **kwargs)


def model_config(**model_fields):
  config = common.get_config()
  config.model.update(embedding_dim=12, encoder_units=10, decoder_units=12,
                      posterior_units=10, prior_units=10, num_slots=4,
                      latent_dim=6, word_dropout=0.0)
  return common.replace_model_fields(config, **model_fields)


def build(config, seed):
  keras.utils.set_random_seed(seed)
  model = model_lib.build_model(config.model, 40)
  model(model_lib.example_batch(model))
  return model


def batch():
  ids = np.random.RandomState(0).randint(4, 40, size=(4, 7))
  ids[:, -1] = 3
  return {"tokens": tf.constant(ids, tf.int32)}


class TiedModelTest(tf.test.TestCase):

  def test_warm_start_from_a_tied_language_model(self):
    language_model = build(model_config(num_slots=0, tie_embeddings=True), 1)
    model = build(model_config(decoder_attention=WINDOW,
                               decoder_alignment="exact",
                               tie_embeddings=True), 2)
    warm_start.warm_start_decoder(model.decoder, language_model.decoder)
    self.assertAllEqual(model.decoder.read_output_kernel, tf.zeros([6, 40]))
    self.assertAllClose(model(batch())["log_likelihood"],
                        language_model(batch())["log_likelihood"], atol=1e-4)
    # Only the read rows train when the copy is frozen.
    masks = dict(zip((v.name for v in model.trainable_variables),
                     warm_start.frozen_gradient_masks(model)))
    self.assertIsNone(masks["read_output_kernel"])
    self.assertAllEqual(masks["output_bias"], tf.zeros([40]))

  def test_warm_start_refuses_a_tying_mismatch(self):
    language_model = build(model_config(num_slots=0), 1)
    model = build(model_config(tie_embeddings=True), 2)
    with self.assertRaisesRegex(ValueError, "tie_embeddings=False .* "
                                "tie_embeddings=True"):
      warm_start.warm_start_decoder(model.decoder, language_model.decoder)

  def test_a_training_step_reaches_every_weight(self):
    model = build(model_config(decoder_alignment="exact",
                               decoder_attention=WINDOW,
                               tie_embeddings=True), 3)
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(model(batch(), training=True,
                                   seed=tf.constant([1, 2]))["log_likelihood"])
    gradients = tape.gradient(loss, model.trainable_variables)
    for variable, gradient in zip(model.trainable_variables, gradients):
      if variable.path.startswith("inverse_draw/decoder"):
        self.assertIsNotNone(gradient, variable.path)
        self.assertTrue(np.all(np.isfinite(tf.convert_to_tensor(gradient))),
                        variable.path)
    self.assertTrue(model.get_config()["tie_embeddings"])

  def test_config_keys(self):
    for config in (ptb.get_config("budget=literature,tie_embeddings"),
                   ptb_lm.get_config("budget=literature,tie_embeddings"),
                   ptb_vae.get_config("budget=literature,tie_embeddings")):
      self.assertTrue(config.model.tie_embeddings)
      self.assertEqual(config.model.embedding_dim, config.model.decoder_units)
    self.assertFalse(ptb.get_config().model.tie_embeddings)
    # The smoke-test sizes keep a tied decoder tieable.
    small = ptb_lm.get_config("tie_embeddings,runlocal").model
    self.assertEqual(small.embedding_dim, small.decoder_units)
    self.assertEqual(32, ptb_lm.get_config("runlocal").model.decoder_units)


if __name__ == "__main__":
  tf.test.main()
