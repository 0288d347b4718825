"""Tests of inverse_draw_tf/model.py: shapes for every configuration, masks,
config round trips, padding invariance, gradients, generation, errors, and
learning on real PTB sentences."""

import os

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import data
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
import test_case

SMALL = dict(vocab_size=30, embedding_dim=8, encoder_units=8, decoder_units=16,
             posterior_units=8, prior_units=8, latent_dim=4)
ATTENTIONS = {
    "content": "content",
    "location": "location",
    "window_gaussian": {"type": "window", "kernel": "gaussian"},
    "window_cauchy": {"type": "window", "kernel": "cauchy",
                      "num_components": 2},
    "dot_product": "dot_product",
}
SEED = tf.constant([3, 4])


def text_batch():
  # Lengths (with <eos>) 6, 4 and 2: padding in two rows.
  return {"tokens": tf.constant([[5, 6, 7, 8, 9, 3],
                                 [10, 11, 12, 3, 0, 0],
                                 [13, 3, 0, 0, 0, 0]], tf.int32)}


def image_batch(batch_size=2):
  rng = np.random.RandomState(0)
  return {"pixels": tf.constant(rng.rand(batch_size, 28, 28) > 0.7,
                                tf.float32)}


def text_model(**kwargs):
  keras.utils.set_random_seed(0)
  return model_lib.InverseDraw(**dict(SMALL, **kwargs))


class ShapeTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.product(attention=list(ATTENTIONS),
                         wiring=["input_feeding", "output_only"],
                         num_slots=[3, (3, 2)])
  def test_text_shapes(self, attention, wiring, num_slots):
    model = text_model(decoder_attention=ATTENTIONS[attention],
                       posterior_attention=ATTENTIONS[attention],
                       prior_attention=ATTENTIONS[attention],
                       decoder_wiring=wiring, num_slots=num_slots)
    out = model(text_batch(), seed=SEED)
    slots = [num_slots] if isinstance(num_slots, int) else list(num_slots)
    self.assertEqual(out["log_likelihood"].shape, (3,))
    self.assertEqual(out["element_log_prob"].shape, (3, 6))
    self.assertEqual([k.shape for k in out["kl"]],
                     [(3, k) for k in slots])
    self.assertEqual([z.shape for z in out["latents"]],
                     [(3, k, 4) for k in slots])
    self.assertEqual(out["decoder_weights"].shape, (3, 6, slots[0]))
    self.assertEqual([w.shape for w in out["posterior_weights"]],
                     [(3, k, 6) for k in slots])
    # Decoder reads: a distribution over slots at every step.
    self.assert_valid_weights(out["decoder_weights"])
    # Posterior reads: a distribution over the sentence's real tokens only.
    token_mask = out["element_mask"][:, None, :]
    for weights in out["posterior_weights"]:
      self.assert_valid_weights(weights, token_mask)
    self.assertAllEqual(out["element_log_prob"].numpy()[2, 2:], np.zeros(4))

  @parameterized.parameters((28, 28), (56, 14))
  def test_image_shapes(self, pixels_per_step, steps):
    model = model_lib.InverseDraw(
        observation="binary_image", pixels_per_step=pixels_per_step,
        embedding_dim=8, encoder_units=8, decoder_units=16, posterior_units=8,
        num_slots=4, latent_dim=4, decoder_attention="window")
    out = model(image_batch(), seed=SEED)
    self.assertEqual(out["element_log_prob"].shape, (2, steps))
    self.assertEqual(out["decoder_weights"].shape, (2, steps, 4))
    self.assertEqual(out["posterior_weights"][0].shape, (2, 4, steps))
    self.assertAllLess(out["log_likelihood"], 0.0)
    generated = model.generate(out["latents"][0], steps, seed=SEED)
    self.assertEqual(generated["elements"].shape, (2, steps, pixels_per_step))
    self.assertAllInSet(generated["elements"], [0.0, 1.0])

  def test_no_latents_is_a_language_model(self):
    model = text_model(num_slots=0)
    out = model(text_batch())
    self.assertEqual(out["kl"], [])
    self.assertEqual(out["log_likelihood"].shape, (3,))
    self.assertNotIn("decoder_weights", out)
    self.assertEmpty([v for v in model.trainable_variables
                      if "posterior" in v.path or "encoder" in v.path])

  def test_one_slot_reads_it_at_every_step(self):
    model = text_model(num_slots=1)
    out = model(text_batch(), seed=SEED)
    self.assertAllClose(out["decoder_weights"], np.ones([3, 6, 1]))

  def test_mean_pooled_posterior(self):
    model = text_model(num_slots=3, posterior_type="mean_pooled")
    out = model(text_batch(), seed=SEED)
    self.assert_valid_weights(out["posterior_weights"][0],
                              out["element_mask"][:, None, :])
    self.assertEqual(out["kl"][0].shape, (3, 3))

  def test_slots_per_token_masks_slots(self):
    model = text_model(num_slots=4, slots_per_token=0.5)
    out = model(text_batch(), seed=SEED)
    # ceil(0.5 * [6, 4, 2]) = [3, 2, 1] slots in use.
    self.assertAllEqual(out["slot_mask"][0],
                        tf.sequence_mask([3, 2, 1], 4))
    kl = out["kl"][0].numpy()
    self.assertAllEqual(kl[~out["slot_mask"][0].numpy()], np.zeros(6))
    self.assertAllGreater(kl[out["slot_mask"][0].numpy()], 0.0)
    self.assert_valid_weights(out["decoder_weights"],
                              out["slot_mask"][0][:, None, :])


class RoundTripTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("text", dict(num_slots=3)),
      ("hierarchical_window", dict(num_slots=(3, 2), decoder_attention="window",
                                   decoder_wiring="output_only")),
      ("mean_pooled", dict(num_slots=2, posterior_type="mean_pooled")),
  )
  def test_model_config_round_trip(self, kwargs):
    model = text_model(**kwargs)
    out = model(text_batch(), seed=SEED)
    clone = model_lib.InverseDraw.from_config(model.get_config())
    clone(text_batch())
    clone.set_weights(model.get_weights())
    self.assertAllClose(out["log_likelihood"],
                        clone(text_batch(), seed=SEED)["log_likelihood"])
    self.assertEqual(clone.get_config(), model.get_config())

  def test_checkpoint_holds_and_restores_every_weight(self):
    model = text_model(num_slots=(3, 2), posterior_attention="location")
    model(text_batch())
    path = tf.train.Checkpoint(model=model).write(
        os.path.join(self.create_tempdir().full_path, "ckpt"))
    saved = [name for name, _ in tf.train.list_variables(path)
             if name.endswith("VARIABLE_VALUE")]
    self.assertLen(saved, len(model.weights))
    keras.utils.set_random_seed(99)
    fresh = model_lib.InverseDraw.from_config(model.get_config())
    fresh(text_batch())
    tf.train.Checkpoint(model=fresh).read(path).assert_consumed()
    for a, b in zip(model.weights, fresh.weights):
      self.assertAllEqual(a, b)

  def test_image_model_keras_file_round_trip(self):
    model = model_lib.InverseDraw(
        observation="binary_image", embedding_dim=8, encoder_units=8,
        decoder_units=16, posterior_units=8, num_slots=3, latent_dim=4)
    out = model(image_batch(), seed=SEED)
    path = os.path.join(self.create_tempdir().full_path, "model.keras")
    model.save(path)
    revived = keras.saving.load_model(path)
    self.assertAllClose(out["log_likelihood"],
                        revived(image_batch(), seed=SEED)["log_likelihood"])

  def test_slot_writer_layer(self):
    memory = tf.random.stateless_normal([2, 5, 6], [1, 2])
    self.run_layer_test(
        model_lib.SlotWriter,
        dict(num_slots=3, latent_dim=4, units=8,
             attention=["content", {"type": "window", "kernel": "cauchy"}]),
        ([(memory, tf.ones([2, 5], tf.bool)),
          (memory[:, :3], tf.sequence_mask([3, 2], 3))],
         tf.random.stateless_normal([2, 3, 4], [3, 4])),
        expected_output_shape=dict(loc=(2, 3, 4), scale=(2, 3, 4),
                                   sample=(2, 3, 4),
                                   read_weights=[(2, 3, 5), (2, 3, 3)]),
        input_signature=[[(tf.TensorSpec([None, 5, 6]),
                           tf.TensorSpec([None, 5], tf.bool)),
                          (tf.TensorSpec([None, 3, 6]),
                           tf.TensorSpec([None, 3], tf.bool))],
                         tf.TensorSpec([None, 3, 4])],
        expected_num_trainable_weights=6 + 4 + 6)

  def test_mean_pooled_posterior_layer(self):
    memory = tf.random.stateless_normal([2, 5, 6], [1, 2])
    self.run_layer_test(
        model_lib.MeanPooledPosterior,
        dict(num_slots=3, latent_dim=4, units=8),
        ([(memory, tf.sequence_mask([5, 2], 5))],
         tf.random.stateless_normal([2, 3, 4], [3, 4])),
        expected_output_shape=dict(loc=(2, 3, 4), scale=(2, 3, 4),
                                   sample=(2, 3, 4),
                                   read_weights=[(2, 3, 5)]),
        input_signature=[[(tf.TensorSpec([None, 5, 6]),
                           tf.TensorSpec([None, 5], tf.bool))],
                         tf.TensorSpec([None, 3, 4])],
        expected_num_trainable_weights=4)

  @parameterized.parameters("input_feeding", "output_only")
  def test_decoder_layer(self, wiring):
    self.run_layer_test(
        model_lib.Decoder,
        dict(output_dim=11, input_kind="tokens", embedding_dim=6, units=8,
             attention="location", wiring=wiring),
        (tf.constant([[2, 5, 6], [2, 7, 3]]),
         tf.random.stateless_normal([2, 4, 5], [5, 6])),
        expected_output_shape=dict(logits=(2, 3, 11), read_weights=(2, 3, 4),
                                   attention_state=(2, 3, 4)),
        output_to_loss=lambda out: tf.reduce_sum(out["logits"] ** 2))


class InvariantsTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("input_feeding", dict()),
      ("output_only", dict(decoder_wiring="output_only")),
      ("window_posterior", dict(posterior_attention="window",
                                decoder_attention="location")),
      ("hierarchical", dict(num_slots=(3, 2))),
  )
  def test_padding_does_not_change_a_sentence_elbo(self, kwargs):
    model = text_model(**dict(dict(num_slots=3), **kwargs))
    batch = text_batch()
    noise = model.sample_noise(3, SEED)
    padded = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                             noise=noise)["elbo"]
    for row, length in enumerate([6, 4, 2]):
      alone = {"tokens": batch["tokens"][row:row + 1, :length]}
      single = objectives.evidence_lower_bound(
          model, alone, seed=SEED, noise=[n[row:row + 1] for n in noise])
      self.assertAllClose(padded[row], single["elbo"][0], atol=1e-4)

  @parameterized.named_parameters(
      ("input_feeding", dict(num_slots=3, decoder_attention="location")),
      ("output_only", dict(num_slots=3, decoder_wiring="output_only",
                           decoder_attention="window")),
      ("hierarchical", dict(num_slots=(3, 2))),
      ("mean_pooled", dict(num_slots=3, posterior_type="mean_pooled")),
  )
  def test_every_variable_gets_a_finite_gradient(self, kwargs):
    model = text_model(word_dropout=0.3, **kwargs)
    model(text_batch())
    with tf.GradientTape() as tape:
      loss = objectives.evidence_lower_bound(
          model, text_batch(), seed=SEED, free_bits=0.1, kl_weight=0.5,
          training=True)["loss"]
    gradients = tape.gradient(loss, model.trainable_variables)
    for variable, gradient in zip(model.trainable_variables, gradients):
      self.assertIsNotNone(gradient, variable.path)
      self.assertTrue(np.all(np.isfinite(tf.convert_to_tensor(gradient))),
                      variable.path)

  def test_image_model_gradients(self):
    model = model_lib.InverseDraw(
        observation="binary_image", embedding_dim=8, encoder_units=8,
        decoder_units=16, posterior_units=8, num_slots=3, latent_dim=4)
    model(image_batch())
    with tf.GradientTape() as tape:
      loss = objectives.evidence_lower_bound(model, image_batch(),
                                             seed=SEED)["loss"]
    gradients = tape.gradient(loss, model.trainable_variables)
    self.assertNotIn(None, gradients)

  def test_word_dropout_only_in_training(self):
    model = text_model(num_slots=2, word_dropout=0.5)
    batch = text_batch()
    a = model(batch, seed=SEED)["log_likelihood"]
    b = model(batch, seed=SEED)["log_likelihood"]
    c = model(batch, seed=SEED, training=True)["log_likelihood"]
    self.assertAllEqual(a, b)
    self.assertNotAllClose(a, c)

  def test_sample_rows_slice_the_global_draw(self):
    model = text_model(num_slots=3)
    batch = text_batch()
    full = model(batch, seed=SEED)["latents"][0]
    part = model({"tokens": batch["tokens"][1:]}, seed=SEED,
                 sample_rows=(1, 3))["latents"][0]
    self.assertAllClose(full[1:], part, atol=1e-6)


class GenerateTest(test_case.TestCase):

  def test_text_generation(self):
    model = text_model(num_slots=3)
    latents = model.sample_prior(4, SEED)
    self.assertEqual(latents[0].shape, (4, 3, 4))
    out = model.generate(latents[0], 12, seed=SEED)
    self.assertEqual(out["elements"].shape, (4, 12))
    self.assertEqual(out["read_weights"].shape, (4, 12, 3))
    tokens = out["elements"].numpy()
    alive = out["element_mask"].numpy()
    for row in range(4):
      eos = np.flatnonzero(tokens[row] == data.EOS_ID)
      if eos.size:
        self.assertTrue(np.all(tokens[row, eos[0] + 1:] == data.PAD_ID))
        self.assertTrue(np.all(alive[row, :eos[0] + 1]))
        self.assertFalse(np.any(alive[row, eos[0] + 1:]))
    again = model.generate(latents[0], 12, seed=SEED)["elements"]
    self.assertAllEqual(again, tokens)
    greedy_1 = model.generate(latents[0], 12, greedy=True, seed=[1, 1])
    greedy_2 = model.generate(latents[0], 12, greedy=True, seed=[2, 2])
    self.assertAllEqual(greedy_1["elements"], greedy_2["elements"])

  def test_generation_without_latents_needs_batch_size(self):
    model = text_model(num_slots=0)
    model(text_batch())
    self.assertEqual(model.generate(None, 5, batch_size=2)["elements"].shape,
                     (2, 5))
    with self.assertRaisesRegex(ValueError, r"`batch_size` is required"):
      model.generate(None, 5)

  def test_greedy_generation_agrees_with_teacher_forcing(self):
    # Feeding the greedy output back through the decoder must reproduce it.
    model = text_model(num_slots=3, decoder_attention="window")
    latents = model.sample_prior(2, SEED)[0]
    out = model.generate(latents, 8, greedy=True)
    tokens = out["elements"]
    inputs = tf.concat([tf.fill([2, 1], data.BOS_ID), tokens[:, :-1]], 1)
    logits = model.decoder(inputs, latents)["logits"]
    mask = out["element_mask"].numpy()
    self.assertAllEqual(tf.argmax(logits, -1).numpy()[mask],
                        tokens.numpy()[mask])


class ErrorTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.parameters(
      (dict(observation="audio"), r"`observation` must be one of"),
      (dict(posterior_type="lstm"), r"`posterior_type` must be one of"),
      (dict(decoder_wiring="sideways"), r"`wiring` must be one of"),
      (dict(word_dropout=1.0), r"`word_dropout` must be in \[0, 1\)"),
      (dict(slots_per_token=-1.0), r"`slots_per_token` must be >= 0"),
      (dict(num_slots=-1), r"`num_slots` must be a non-negative integer"),
      (dict(num_slots=(3, 0)), r"`num_slots` must be"),
      (dict(num_slots=(3, 2), latent_dim=(4, 4, 4)),
       r"`latent_dim` must be one value or one per level \(2\)"),
      (dict(vocab_size=3), r"`vocab_size` must exceed the 4 special tokens"),
      (dict(decoder_attention="magic"), r"attention `type` must be one of"),
  )
  def test_text_errors(self, kwargs, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      model_lib.InverseDraw(**dict(SMALL, **kwargs))

  def test_image_errors(self):
    with self.assertRaisesRegex(ValueError, r"`pixels_per_step` must divide"):
      model_lib.InverseDraw(observation="binary_image", pixels_per_step=5)
    with self.assertRaisesRegex(ValueError, r"`word_dropout` applies to text"):
      model_lib.InverseDraw(observation="binary_image", word_dropout=0.2)

  def test_wrong_batch_key(self):
    model = text_model(num_slots=2)
    with self.assertRaisesRegex(ValueError, r"needs `batch\['tokens'\]`"):
      model({"pixels": tf.zeros([1, 28, 28])})


class LearningTest(test_case.TestCase):

  def test_latents_carry_real_sentences(self):
    """A few hundred steps on 16 PTB sentences halve the reconstruction."""
    path = os.path.join(data.DATA_DIR, "ptb", "ptb.train.txt")
    with open(path) as f:
      sentences = [line.split() for line in f if 0 < len(line.split()) <= 12]
    sentences = sentences[:16]
    words = sorted({w for s in sentences for w in s})
    ids = {w: i + len(data.SPECIAL_TOKENS) for i, w in enumerate(words)}
    tokens = np.zeros([16, 13], np.int32)
    for row, sentence in enumerate(sentences):
      tokens[row, :len(sentence)] = [ids[w] for w in sentence]
      tokens[row, len(sentence)] = data.EOS_ID
    batch = {"tokens": tf.constant(tokens)}
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(
        vocab_size=len(ids) + 4, embedding_dim=32, encoder_units=32,
        decoder_units=64, posterior_units=32, num_slots=4, latent_dim=8,
        decoder_wiring="output_only")
    optimizer = keras.optimizers.Adam(3e-3)

    @tf.function
    def step(index):
      with tf.GradientTape() as tape:
        terms = objectives.evidence_lower_bound(
            model, batch, seed=tf.stack([index, 0]), kl_weight=0.1)
      variables = model.trainable_variables
      optimizer.apply_gradients(
          zip(tape.gradient(terms["loss"], variables), variables))
      return tf.reduce_mean(terms["distortion"]), tf.reduce_mean(terms["rate"])

    first, _ = step(tf.constant(0))
    for index in range(1, 300):
      distortion, rate = step(tf.constant(index))
    self.assertLess(float(distortion), 0.5 * float(first),
                    f"distortion {float(first):.1f} -> {float(distortion):.1f}")
    self.assertGreater(float(rate), 1.0, "the latents must carry information")


if __name__ == "__main__":
  tf.test.main()
