"""Tests of inverse_draw_tf/model.py: shapes for every configuration, masks,
config and file round trips, padding invariance, gradients, step/call
agreement, generation, constructor errors, and learning on real PTB
sentences."""

import os
import time
from unittest import mock

from absl.testing import parameterized
import keras
import numpy as np
import tensorflow as tf

from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import data
from inverse_draw_tf import decoder as decoder_lib
from inverse_draw_tf import dropout
from inverse_draw_tf import likelihood
from inverse_draw_tf import model as model_lib
from inverse_draw_tf import objectives
from inverse_draw_tf import slots as slots_lib
import test_case

SMALL = dict(vocab_size=30, embedding_dim=8, encoder_units=8, decoder_units=16,
             posterior_units=8, prior_units=8, latent_dim=4)
SMALL_IMAGE = dict(observation="binary_image", embedding_dim=8,
                   encoder_units=8, decoder_units=16, posterior_units=8,
                   prior_units=8, latent_dim=4)
ATTENTIONS = {
    "content": "content",
    "location": "location",
    "window_gaussian": {"type": "window", "kernel": "gaussian"},
    "window_cauchy": {"type": "window", "kernel": "cauchy",
                      "num_components": 2},
    "dot_product": "dot_product",
}
# Width of the attention state each head carries (`None`: the slot count).
STATE_SIZES = {"content": 0, "location": None, "window_gaussian": 1,
               "window_cauchy": 2, "dot_product": 0}
WIRINGS = ("input_feeding", "output_only")
SEED = tf.constant([3, 4])
LENGTHS = (6, 4, 2)  # With <eos>; the batch below pads two rows.

# The bundled PTB; CI only has the repository copy.
_PTB_CANDIDATES = (os.path.join(data.DATA_DIR, "ptb", "ptb.train.txt"),
                   "/work/shared/data/ptb/ptb.train.txt")


def text_batch():
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


def image_model(**kwargs):
  keras.utils.set_random_seed(0)
  return model_lib.InverseDraw(**dict(SMALL_IMAGE, **kwargs))


def ptb_batch(num_sentences, max_tokens):
  """The first `num_sentences` PTB training sentences of at most `max_tokens`
  tokens (with `<eos>`), with ids >= 4 from a vocabulary of just their words.

  Returns:
    `({"tokens": int32 (num_sentences, max_tokens)}, vocab_size)`.
  """
  path = next(p for p in _PTB_CANDIDATES if os.path.exists(p))
  sentences = []
  with open(path) as f:
    for line in f:
      words = line.split()
      if 0 < len(words) < max_tokens:
        sentences.append(words)
        if len(sentences) == num_sentences:
          break
  words = sorted({w for s in sentences for w in s})
  ids = {w: i + len(data.SPECIAL_TOKENS) for i, w in enumerate(words)}
  tokens = np.full([num_sentences, max_tokens], data.PAD_ID, np.int32)
  for row, sentence in enumerate(sentences):
    tokens[row, :len(sentence)] = [ids[w] for w in sentence]
    tokens[row, len(sentence)] = data.EOS_ID
  return {"tokens": tf.constant(tokens)}, len(ids) + len(data.SPECIAL_TOKENS)


def float_outputs(outputs):
  """The non-empty float tensors of a model output, flattened."""
  return [t for t in tf.nest.flatten(outputs)
          if t.dtype.is_floating and t.shape.num_elements()]


class ShapeTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.product(attention=list(ATTENTIONS), wiring=WIRINGS,
                         num_slots=[3, (3, 2)])
  def test_text_shapes_and_read_weights(self, attention, wiring, num_slots):
    spec = ATTENTIONS[attention]
    model = text_model(decoder_attention=spec, posterior_attention=spec,
                       prior_attention=spec, decoder_wiring=wiring,
                       num_slots=num_slots)
    out = model(text_batch(), seed=SEED)
    slots = [num_slots] if isinstance(num_slots, int) else list(num_slots)
    per_level = lambda shape: [shape(k) for k in slots]
    self.assertEqual(out["log_likelihood"].shape, (3,))
    self.assertEqual(out["log_prior"].shape, (3,))
    self.assertEqual(out["log_posterior"].shape, (3,))
    self.assertEqual(out["element_log_prob"].shape, (3, 6))
    self.assertEqual(out["element_mask"].shape, (3, 6))
    for key in ("kl", "kl_monte_carlo", "slot_mask"):
      self.assertEqual([t.shape for t in out[key]], per_level(lambda k: (3, k)))
    for key in ("latents", "posterior_loc", "posterior_scale"):
      self.assertEqual([t.shape for t in out[key]],
                       per_level(lambda k: (3, k, 4)))
    self.assertEqual([w.shape for w in out["posterior_weights"]],
                     per_level(lambda k: (3, k, 6)))
    self.assertEqual(out["decoder_weights"].shape, (3, 6, slots[0]))
    state_size = STATE_SIZES[attention]
    self.assertEqual(out["decoder_attention_state"].shape,
                     (3, 6, slots[0] if state_size is None else state_size))
    for tensor in float_outputs(out):
      self.assertTrue(np.all(np.isfinite(tensor.numpy())))
    # Decoder reads: a distribution over the slots at every step.
    self.assert_valid_weights(out["decoder_weights"])
    # Posterior reads: a distribution over the sentence's real tokens only;
    # padding gets exactly 0.
    token_mask = out["element_mask"][:, None, :]
    for k, weights in zip(slots, out["posterior_weights"]):
      self.assert_valid_weights(weights, token_mask)
      self.assertAllEqual(weights.numpy()[2, :, 2:], np.zeros([k, 4]))
    self.assertAllEqual(out["element_mask"],
                        tf.sequence_mask(LENGTHS, 6))
    self.assertAllEqual(out["element_log_prob"].numpy()[2, 2:], np.zeros(4))
    self.assertAllLess(out["log_likelihood"], 0.0)
    self.assertAllGreater(out["kl"][0], 0.0)

  @parameterized.product(attention=["content", "location", "window_cauchy",
                                    "dot_product"],
                         wiring=WIRINGS)
  def test_attention_as_posterior_only(self, attention, wiring):
    # The posterior's head over the observation, with the default (content)
    # decoder: checks the two roles are independent.
    model = text_model(posterior_attention=ATTENTIONS[attention],
                       decoder_wiring=wiring, num_slots=3)
    out = model(text_batch(), seed=SEED)
    self.assertEqual(out["posterior_weights"][0].shape, (3, 3, 6))
    self.assert_valid_weights(out["posterior_weights"][0],
                              out["element_mask"][:, None, :])
    self.assert_valid_weights(out["decoder_weights"])

  @parameterized.product(steps=[(28, 28), (56, 14)], wiring=WIRINGS,
                         num_slots=[4, (3, 2)])
  def test_image_shapes(self, steps, wiring, num_slots):
    pixels_per_step, time_steps = steps
    model = image_model(pixels_per_step=pixels_per_step,
                        decoder_wiring=wiring, num_slots=num_slots,
                        decoder_attention="window")
    out = model(image_batch(), seed=SEED)
    bottom = num_slots if isinstance(num_slots, int) else num_slots[0]
    self.assertEqual(out["log_likelihood"].shape, (2,))
    self.assertEqual(out["element_log_prob"].shape, (2, time_steps))
    self.assertAllEqual(out["element_mask"], np.ones([2, time_steps], bool))
    self.assertEqual(out["decoder_weights"].shape, (2, time_steps, bottom))
    self.assertEqual(out["posterior_weights"][0].shape,
                     (2, bottom, time_steps))
    self.assertEqual(out["kl"][0].shape, (2, bottom))
    self.assert_valid_weights(out["decoder_weights"])
    self.assert_valid_weights(out["posterior_weights"][0])
    self.assertAllLess(out["log_likelihood"], 0.0)
    # 784 Bernoulli pixels: an untrained model is near 784 log 2 nats.
    self.assertAllInRange(-out["log_likelihood"], 300.0, 2000.0)

  def test_no_latents_is_a_language_model(self):
    model = text_model(num_slots=0)
    out = model(text_batch(), seed=SEED)
    for key in ("kl", "kl_monte_carlo", "latents", "slot_mask",
                "posterior_weights"):
      self.assertEqual(out[key], [], key)
    self.assertEqual(out["log_likelihood"].shape, (3,))
    self.assertAllEqual(out["log_prior"], np.zeros(3))
    self.assertAllEqual(out["log_posterior"], np.zeros(3))
    self.assertNotIn("decoder_weights", out)
    self.assertEqual(model.num_levels, 0)
    self.assertEmpty([v for v in model.trainable_variables
                      if "posterior" in v.path or "encoder" in v.path])
    # The seed cannot matter: nothing is sampled.
    self.assertAllEqual(out["log_likelihood"],
                        model(text_batch(), seed=[7, 7])["log_likelihood"])

  def test_no_latents_image_model(self):
    model = image_model(num_slots=0, pixels_per_step=56)
    out = model(image_batch(), seed=SEED)
    self.assertEqual(out["kl"], [])
    self.assertEqual(out["log_likelihood"].shape, (2,))
    self.assertEqual(out["element_log_prob"].shape, (2, 14))

  @parameterized.parameters(*WIRINGS)
  def test_one_slot_reads_it_at_every_step(self, wiring):
    model = text_model(num_slots=1, decoder_wiring=wiring,
                       decoder_attention="location")
    out = model(text_batch(), seed=SEED)
    self.assertEqual(out["kl"][0].shape, (3, 1))
    self.assertAllClose(out["decoder_weights"], np.ones([3, 6, 1]))

  @parameterized.parameters(dict(num_slots=1), dict(num_slots=(3, 2)))
  def test_mean_pooled_posterior(self, num_slots):
    model = text_model(num_slots=num_slots, posterior_type="mean_pooled")
    out = model(text_batch(), seed=SEED)
    token_mask = out["element_mask"][:, None, :]
    for weights in out["posterior_weights"]:
      self.assert_valid_weights(weights, token_mask)
    # Pooling weights: uniform over each sentence's tokens.
    expected = (tf.cast(tf.sequence_mask(LENGTHS, 6), tf.float32) /
                np.array(LENGTHS, np.float32)[:, None])
    self.assertAllClose(out["posterior_weights"][0][:, 0], expected)
    slots = [num_slots] if isinstance(num_slots, int) else list(num_slots)
    self.assertEqual([k.shape for k in out["kl"]], [(3, k) for k in slots])
    self.assertEqual(out["decoder_weights"].shape, (3, 6, slots[0]))

  @parameterized.product(attention=list(ATTENTIONS), wiring=WIRINGS)
  def test_slots_per_token_masks_slots(self, attention, wiring):
    spec = ATTENTIONS[attention]
    model = text_model(num_slots=4, slots_per_token=0.5,
                       decoder_attention=spec, decoder_wiring=wiring)
    out = model(text_batch(), seed=SEED)
    # ceil(0.5 * [6, 4, 2]) = [3, 2, 1] slots in use.
    slot_mask = out["slot_mask"][0].numpy()
    self.assertEqual(slot_mask.shape, (3, 4))
    self.assertAllEqual(slot_mask, tf.sequence_mask([3, 2, 1], 4))
    kl = out["kl"][0].numpy()
    self.assertTrue(np.all(kl[~slot_mask] == 0.0), kl)
    self.assertTrue(np.all(out["kl_monte_carlo"][0].numpy()[~slot_mask] ==
                           0.0))
    self.assertAllGreater(kl[slot_mask], 0.0)
    # Exactly 0 read weight on the masked slots, a distribution on the rest.
    self.assert_valid_weights(out["decoder_weights"], slot_mask[:, None, :])

  def test_slots_per_token_in_a_hierarchy_masks_the_bottom_level(self):
    model = text_model(num_slots=(4, 2), slots_per_token=0.34)
    out = model(text_batch(), seed=SEED)
    # ceil(0.34 * [6, 4, 2]) = [3, 2, 1]; the top level is never masked.
    self.assertAllEqual(out["slot_mask"][0], tf.sequence_mask([3, 2, 1], 4))
    self.assertAllEqual(out["slot_mask"][1], np.ones([3, 2], bool))
    kl = out["kl"][0].numpy()
    self.assertTrue(np.all(kl[~out["slot_mask"][0].numpy()] == 0.0))
    self.assertAllGreater(out["kl"][1], 0.0)
    self.assert_valid_weights(out["decoder_weights"],
                              out["slot_mask"][0][:, None, :])

  def test_slots_per_token_clips_to_one_and_to_num_slots(self):
    model = text_model(num_slots=3, slots_per_token=10.0)
    self.assertAllEqual(model(text_batch(), seed=SEED)["slot_mask"][0],
                        np.ones([3, 3], bool))
    model = text_model(num_slots=3, slots_per_token=0.01)
    self.assertAllEqual(model(text_batch(), seed=SEED)["slot_mask"][0],
                        tf.sequence_mask([1, 1, 1], 3))


class RoundTripTest(test_case.TestCase, parameterized.TestCase):

  def assert_same_outputs(self, a, b):
    self.assertEqual(sorted(a), sorted(b))
    for key in a:
      tf.nest.map_structure(
          lambda x, y, key=key: self.assertAllClose(x, y, atol=1e-6, rtol=0,
                                                    msg=key), a[key], b[key])

  @parameterized.named_parameters(
      ("text", dict(num_slots=3), text_batch),
      ("hierarchical_window", dict(num_slots=(3, 2),
                                   decoder_attention=ATTENTIONS[
                                       "window_cauchy"],
                                   posterior_attention="location",
                                   prior_attention="dot_product",
                                   decoder_wiring="output_only",
                                   slots_per_token=0.5), text_batch),
      ("mean_pooled", dict(num_slots=2, posterior_type="mean_pooled",
                           word_dropout=0.2, decoder_dropout=0.3), text_batch),
      ("no_latents", dict(num_slots=0), text_batch),
      ("image", dict(observation="binary_image", pixels_per_step=56,
                     num_slots=(3, 2), decoder_attention="location"),
       image_batch),
  )
  def test_model_config_round_trip(self, kwargs, make_batch):
    model = text_model(**kwargs)
    out = model(make_batch(), seed=SEED)
    config = model.get_config()
    clone = model_lib.InverseDraw.from_config(config)
    clone(make_batch())
    self.assertEqual(clone.get_config(), config)
    self.assertLen(clone.weights, len(model.weights))
    clone.set_weights(model.get_weights())
    self.assert_same_outputs(out, clone(make_batch(), seed=SEED))
    # Through keras' registry (what .keras files rely on).
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model))
    self.assertIsInstance(revived, model_lib.InverseDraw)
    self.assertEqual(revived.get_config(), config)

  @parameterized.named_parameters(
      ("hierarchical_text", dict(num_slots=(3, 2),
                                 posterior_attention="location",
                                 decoder_attention="window"), text_batch),
      ("image", dict(observation="binary_image", num_slots=3), image_batch),
  )
  def test_keras_file_round_trip(self, kwargs, make_batch):
    model = text_model(**kwargs)
    out = model(make_batch(), seed=SEED)
    path = os.path.join(self.create_tempdir().full_path, "model.keras")
    model.save(path)
    revived = keras.saving.load_model(path)
    self.assertIsInstance(revived, model_lib.InverseDraw)
    self.assertEqual(revived.get_config(), model.get_config())
    self.assert_same_outputs(out, revived(make_batch(), seed=SEED))
    latents = model.sample_prior(2, SEED)[0]
    steps = 6 if model.observation == "text" else 28
    self.assertAllEqual(
        model.generate(latents, steps, seed=SEED)["elements"],
        revived.generate(latents, steps, seed=SEED)["elements"])

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

  @parameterized.named_parameters(
      ("content_window", ["content", {"type": "window", "kernel": "cauchy"}]),
      ("location_dot", ["location", "dot_product"]),
  )
  def test_slot_writer_layer(self, attention):
    memory = tf.random.stateless_normal([2, 5, 6], [1, 2])
    self.run_layer_test(
        slots_lib.SlotWriter,
        dict(num_slots=3, latent_dim=4, units=8, attention=attention),
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
        # LSTM kernel/bias + loc and scale kernel/bias, plus the heads'.
        expected_num_trainable_weights=6 + {
            "content": 4, "location": 10}[attention[0]] + {
                "window": 6, "dot_product": 2}[
                    attention[1] if isinstance(attention[1], str)
                    else attention[1]["type"]])

  def test_slot_writer_teacher_forcing_reproduces_its_sample(self):
    memory = tf.random.stateless_normal([2, 5, 6], [1, 2])
    mask = tf.sequence_mask([5, 3], 5)
    writer = slots_lib.SlotWriter(num_slots=3, latent_dim=4, units=8,
                                  attention=["location"])
    sampled = writer([(memory, mask)],
                     tf.random.stateless_normal([2, 3, 4], [3, 4]))
    forced = writer([(memory, mask)], tf.zeros([2, 3, 4]),
                    given_slots=sampled["sample"])
    for key in ("loc", "scale", "sample"):
      self.assertAllClose(sampled[key], forced[key], atol=1e-6)
    self.assert_valid_weights(sampled["read_weights"][0], mask[:, None, :])

  def test_mean_pooled_posterior_layer(self):
    memory = tf.random.stateless_normal([2, 5, 6], [1, 2])
    self.run_layer_test(
        slots_lib.MeanPooledPosterior,
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

  @parameterized.named_parameters(
      ("input_feeding", "tokens", "location", "input_feeding"),
      ("output_only", "tokens", "location", "output_only"),
      ("vectors_window", "vectors", "window", "input_feeding"),
      ("vectors_output_only", "vectors", "content", "output_only"),
  )
  def test_decoder_layer(self, input_kind, attention, wiring):
    if input_kind == "tokens":
      inputs = tf.constant([[2, 5, 6], [2, 7, 3]])
    else:
      inputs = tf.cast(tf.random.stateless_uniform([2, 3, 11], [7, 8]) > 0.5,
                       tf.float32)
    state_size = {"location": 4, "window": 1, "content": 0}[attention]
    self.run_layer_test(
        decoder_lib.Decoder,
        dict(output_dim=11, input_kind=input_kind, embedding_dim=6, units=8,
             attention=attention, wiring=wiring),
        (inputs, tf.random.stateless_normal([2, 4, 5], [5, 6])),
        expected_output_shape=dict(logits=(2, 3, 11), read_weights=(2, 3, 4),
                                   attention_state=(2, 3, state_size)),
        output_to_loss=lambda out: tf.reduce_sum(out["logits"] ** 2))

  def test_decoder_layer_without_latents(self):
    self.run_layer_test(
        decoder_lib.Decoder,
        dict(output_dim=11, input_kind="tokens", embedding_dim=6, units=8),
        (tf.constant([[2, 5, 6], [2, 7, 3]]),),
        expected_output_shape=dict(logits=(2, 3, 11)))


class InvariantsTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("input_feeding", dict()),
      ("output_only", dict(decoder_wiring="output_only")),
      ("window_posterior", dict(posterior_attention=ATTENTIONS[
          "window_gaussian"], decoder_attention="location")),
      ("window_posterior_output_only", dict(
          posterior_attention=ATTENTIONS["window_cauchy"],
          decoder_wiring="output_only")),
      ("location_posterior", dict(posterior_attention="location",
                                  decoder_attention="window")),
      ("hierarchical", dict(num_slots=(3, 2), prior_attention="location")),
      ("mean_pooled", dict(posterior_type="mean_pooled")),
      ("slots_per_token", dict(num_slots=4, slots_per_token=0.5,
                               decoder_attention="location")),
      ("no_latents", dict(num_slots=0)),
  )
  def test_padding_does_not_change_a_sentence_elbo(self, kwargs):
    model = text_model(**dict(dict(num_slots=3), **kwargs))
    batch = text_batch()
    noise = model.sample_noise(3, SEED)
    padded = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                             noise=noise)
    for row, length in enumerate(LENGTHS):
      alone = {"tokens": batch["tokens"][row:row + 1, :length]}
      single = objectives.evidence_lower_bound(
          model, alone, seed=SEED, noise=[n[row:row + 1] for n in noise])
      for key in ("elbo", "log_weight", "kl"):
        self.assertAllClose(padded[key][row], single[key][0], atol=1e-4,
                            rtol=0, msg=f"{key} of row {row}")

  @parameterized.named_parameters(
      ("input_feeding", dict(num_slots=3, decoder_attention="location")),
      ("output_only", dict(num_slots=3, decoder_wiring="output_only",
                           decoder_attention="window")),
      ("hierarchical", dict(num_slots=(3, 2), posterior_attention="location",
                            slots_per_token=0.5)),
      ("hierarchical_output_only", dict(num_slots=(3, 2),
                                        decoder_wiring="output_only")),
      ("mean_pooled", dict(num_slots=3, posterior_type="mean_pooled")),
      ("no_latents", dict(num_slots=0)),
  )
  def test_every_variable_gets_a_finite_gradient(self, kwargs):
    model = text_model(word_dropout=0.3, **kwargs)
    model(text_batch())
    self.assert_finite_gradients(model, text_batch(), free_bits=0.1,
                                 kl_weight=0.5, training=True)

  @parameterized.named_parameters(
      ("input_feeding", dict(num_slots=3)),
      ("output_only", dict(num_slots=3, decoder_wiring="output_only",
                           pixels_per_step=56)),
      ("hierarchical", dict(num_slots=(3, 2), decoder_attention="window")),
  )
  def test_image_model_gradients(self, kwargs):
    model = image_model(**kwargs)
    model(image_batch())
    self.assert_finite_gradients(model, image_batch(), free_bits=0.1)

  def assert_finite_gradients(self, model, batch, **kwargs):
    variables = model.trainable_variables
    self.assertNotEmpty(variables)
    with tf.GradientTape() as tape:
      loss = objectives.evidence_lower_bound(model, batch, seed=SEED,
                                             **kwargs)["loss"]
    gradients = tape.gradient(loss, variables)
    for variable, gradient in zip(variables, gradients):
      self.assertIsNotNone(gradient, f"no gradient for {variable.path}")
      self.assertTrue(np.all(np.isfinite(tf.convert_to_tensor(gradient))),
                      f"non-finite gradient for {variable.path}")

  def test_word_dropout_only_in_training(self):
    model = text_model(num_slots=2, word_dropout=0.5)
    batch = text_batch()
    a = model(batch, seed=SEED)["log_likelihood"]
    b = model(batch, seed=SEED)["log_likelihood"]
    c = model(batch, seed=SEED, training=True)["log_likelihood"]
    d = model(batch, seed=SEED, training=True)["log_likelihood"]
    self.assertAllEqual(a, b)
    self.assertNotAllClose(a, c)
    self.assertAllEqual(c, d)  # Stateless: the same seed drops the same.

  def test_seed_and_noise_determine_the_sample(self):
    model = text_model(num_slots=(3, 2))
    batch = text_batch()
    a = model(batch, seed=SEED)
    b = model(batch, seed=SEED)
    c = model(batch, seed=[9, 9])
    explicit = model(batch, seed=[9, 9], noise=model.sample_noise(3, SEED))
    for level in range(2):
      self.assertAllEqual(a["latents"][level], b["latents"][level])
      self.assertNotAllClose(a["latents"][level], c["latents"][level])
      self.assertAllClose(a["latents"][level], explicit["latents"][level])

  def test_sample_rows_slice_the_global_draw(self):
    model = text_model(num_slots=3)
    batch = text_batch()
    full = model(batch, seed=SEED)["latents"][0]
    part = model({"tokens": batch["tokens"][1:]}, seed=SEED,
                 sample_rows=(1, 3))["latents"][0]
    self.assertAllClose(full[1:], part, atol=1e-6)

  @parameterized.named_parameters(
      ("recurrent", dict(num_slots=(3, 2), posterior_attention="location")),
      ("mean_pooled", dict(num_slots=(3, 2), posterior_type="mean_pooled",
                           slots_per_token=0.5)),
  )
  def test_posterior_log_prob_scores_the_sampled_latents(self, kwargs):
    model = text_model(**kwargs)
    batch = text_batch()
    out = model(batch, seed=SEED)
    self.assertAllClose(
        model.posterior_log_prob(model.encode_observation(batch),
                                 out["latents"], out["slot_mask"]),
        out["log_posterior"], atol=1e-5)

  @parameterized.product(attention=list(ATTENTIONS), wiring=WIRINGS)
  def test_decoder_step_agrees_with_call(self, attention, wiring):
    # Generation runs `step`; training runs `call`: the same function.
    model = text_model(num_slots=4, decoder_attention=ATTENTIONS[attention],
                       decoder_wiring=wiring)
    model(text_batch())
    tokens = text_batch()["tokens"]
    inputs = tf.concat([tf.fill([3, 1], data.BOS_ID), tokens[:, :-1]], 1)
    latents = tf.random.stateless_normal([3, 4, 4], [1, 1])
    slot_mask = tf.sequence_mask([4, 2, 1], 4)
    full = model.decoder(inputs, latents, slot_mask)
    carry = model.decoder.initial_carry(latents, slot_mask, 3, tf.float32)
    for t in range(6):
      logits, weights, carry = model.decoder.step(inputs[:, t], carry,
                                                  latents, slot_mask)
      self.assertAllClose(logits, full["logits"][:, t], atol=1e-5)
      self.assertAllClose(weights, full["read_weights"][:, t], atol=1e-5)
    self.assert_valid_weights(full["read_weights"], slot_mask[:, None, :])


class GenerateTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.parameters(*WIRINGS)
  def test_text_generation(self, wiring):
    model = text_model(num_slots=(3, 2), decoder_wiring=wiring,
                       decoder_attention="location")
    model(text_batch())
    latents = model.sample_prior(8, SEED)
    self.assertEqual([z.shape for z in latents], [(8, 3, 4), (8, 2, 4)])
    # Make <eos> likely enough that most rows end early.
    model.decoder.output_layer.bias.assign(
        tf.one_hot(data.EOS_ID, SMALL["vocab_size"]) * 2.0)
    out = model.generate(latents[0], 20, seed=SEED)
    # The loop stops once every row has ended: L is the longest row.
    length = out["elements"].shape[1]
    self.assertLessEqual(length, 20)
    self.assertEqual(out["elements"].shape, (8, length))
    self.assertEqual(out["elements"].dtype, tf.int32)
    self.assertEqual(out["read_weights"].shape, (8, length, 3))
    self.assertEqual(out["element_mask"].shape, (8, length))
    self.assert_valid_weights(out["read_weights"])
    tokens = out["elements"].numpy()
    alive = out["element_mask"].numpy()
    ended = 0
    for row in range(8):
      # Every row ends in <eos>: at t = 19 at the latest.
      eos = np.flatnonzero(tokens[row] == data.EOS_ID)
      self.assertNotEmpty(eos)
      ended += eos[0] < 19
      self.assertTrue(np.all(tokens[row, eos[0] + 1:] == data.PAD_ID))
      self.assertTrue(np.all(alive[row, :eos[0] + 1]))
      self.assertFalse(np.any(alive[row, eos[0] + 1:]))
    self.assertEqual(length, alive.sum(1).max())
    self.assertGreater(ended, 0, "no row ended early: the check is vacuous")
    # Same seed, same sample; another seed, another sample.
    again = model.generate(latents[0], 20, seed=SEED)["elements"]
    self.assertAllEqual(again, tokens)
    other = model.generate(latents[0], 20, seed=[8, 8])["elements"]
    self.assertNotAllEqual(other, tokens)
    # Greedy decoding ignores the seed; temperature 0 is greedy.
    greedy_1 = model.generate(latents[0], 20, greedy=True, seed=[1, 1])
    greedy_2 = model.generate(latents[0], 20, greedy=True, seed=[2, 2])
    cold = model.generate(latents[0], 20, temperature=0.0, seed=[3, 3])
    self.assertAllEqual(greedy_1["elements"], greedy_2["elements"])
    self.assertAllEqual(greedy_1["elements"], cold["elements"])

  def test_generation_in_a_tf_function(self):
    model = text_model(num_slots=3)
    latents = model.sample_prior(2, SEED)[0]
    generate = tf.function(lambda z, temperature: model.generate(
        z, 7, temperature=temperature, seed=SEED))
    eager = model.generate(latents, 7, seed=SEED)["elements"]
    self.assertAllEqual(generate(latents, tf.constant(1.0))["elements"], eager)
    self.assertAllEqual(
        generate(latents, tf.constant(0.0))["elements"],
        model.generate(latents, 7, greedy=True)["elements"])

  def test_generation_respects_the_latent_mask(self):
    model = text_model(num_slots=4, decoder_attention="window")
    latents = model.sample_prior(3, SEED)[0]
    mask = tf.sequence_mask([4, 2, 1], 4)
    out = model.generate(latents, 6, seed=SEED, slot_mask=mask)
    self.assert_valid_weights(out["read_weights"], mask[:, None, :])

  @parameterized.parameters((28, 28), (56, 14))
  def test_image_generation(self, pixels_per_step, steps):
    model = image_model(pixels_per_step=pixels_per_step, num_slots=3)
    latents = model.sample_prior(2, SEED)[0]
    out = model.generate(latents, steps, seed=SEED)
    self.assertEqual(out["elements"].shape, (2, steps, pixels_per_step))
    self.assertEqual(out["read_weights"].shape, (2, steps, 3))
    self.assertAllInSet(out["elements"], [0.0, 1.0])
    self.assertAllEqual(out["element_mask"], np.ones([2, steps], bool))
    self.assertAllEqual(out["elements"],
                        model.generate(latents, steps, seed=SEED)["elements"])
    greedy = model.generate(latents, steps, greedy=True)["elements"]
    self.assertAllInSet(greedy, [0.0, 1.0])
    # A generated image is a valid observation for the model.
    image = tf.reshape(out["elements"], [2, 28, 28])
    self.assertEqual(model({"pixels": image})["log_likelihood"].shape, (2,))

  def test_generation_without_latents_needs_batch_size(self):
    model = text_model(num_slots=0)
    model(text_batch())
    out = model.generate(None, 5, batch_size=2, seed=SEED)
    self.assertEqual(out["elements"].shape, (2, 5))
    self.assertEqual(out["read_weights"].shape, (2, 5, 0))
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
    if tokens.shape[1] == 8:
      # The last allowed step emits <eos> whatever the logits say.
      self.assertAllEqual(tokens.numpy()[mask[:, -1], -1],
                          [data.EOS_ID] * mask[:, -1].sum())
      mask[:, -1] = False
    self.assertAllEqual(tf.argmax(logits, -1).numpy()[mask],
                        tokens.numpy()[mask])


class SpecialTokenTest(test_case.TestCase):

  def test_generation_never_emits_pad_or_bos(self):
    model = text_model(num_slots=2)
    model(text_batch())
    bias = model.decoder.output_layer.bias
    boosted = bias.numpy()
    boosted[[data.PAD_ID, data.BOS_ID]] = 50.0  # Make them the likeliest.
    bias.assign(boosted)
    latents = model.sample_prior(4, SEED)[0]
    for greedy in (False, True):
      out = model.generate(latents, 10, greedy=greedy, seed=SEED)
      tokens = out["elements"].numpy()[out["element_mask"].numpy()]
      self.assertNotIn(data.PAD_ID, tokens)
      self.assertNotIn(data.BOS_ID, tokens)


class ErrorTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(
      ("observation", dict(observation="audio"),
       r"`observation` must be one of"),
      ("posterior_type", dict(posterior_type="lstm"),
       r"`posterior_type` must be one of"),
      ("word_dropout", dict(word_dropout=1.0),
       r"`word_dropout` must be in \[0, 1\)"),
      ("decoder_dropout", dict(decoder_dropout=-0.1),
       r"`decoder_dropout` must be in \[0, 1\), received -0.1"),
      ("slots_per_token", dict(slots_per_token=-1.0),
       r"`slots_per_token` must be >= 0"),
      ("num_slots_negative", dict(num_slots=-1),
       r"`num_slots` must be a non-negative integer"),
      ("num_slots_zero_level", dict(num_slots=(3, 0)), r"`num_slots` must be"),
      ("num_slots_fraction", dict(num_slots=1.5), r"`num_slots` must be"),
      ("latent_dim_length", dict(num_slots=(3, 2), latent_dim=(4, 4, 4)),
       r"`latent_dim` must be one value or one per level \(2\)"),
      ("vocab_size", dict(vocab_size=3),
       r"`vocab_size` must exceed the 4 special tokens"),
  )
  def test_text_errors(self, kwargs, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      model_lib.InverseDraw(**dict(SMALL, **kwargs))

  def test_check_arguments_without_building(self):
    # The check config_lib.validate runs: defaults fill the missing
    # arguments, an unknown one is a TypeError naming what the model takes.
    model_lib.check_arguments(dict(num_slots=(3, 2), prior_alignment="exact"))
    with self.assertRaisesRegex(
        TypeError, r"^unknown argument\(s\) \['num_slot'\]; `InverseDraw` "
        r"takes observation, vocab_size, .*tie_embeddings"):
      model_lib.check_arguments(dict(num_slot=3))
    with self.assertRaisesRegex(ValueError, r"^`word_dropout` must be in"):
      model_lib.check_arguments(dict(word_dropout=2.0))

  # BUG (model.py): the argument is `decoder_wiring`, but the check happens
  # in `Decoder`, whose message names its own argument `wiring`.
  def test_bad_decoder_wiring_names_the_argument(self):
    with self.assertRaisesRegex(ValueError, r"`decoder_wiring` must be one of"):
      model_lib.InverseDraw(**dict(SMALL, decoder_wiring="sideways"))

  # BUG (model.py): a bad attention type is reported by `attention.get` as
  # "attention `type` must be one of ...", which does not say which of the
  # three attention arguments is wrong.
  @parameterized.named_parameters(
      ("decoder", dict(decoder_attention="magic"), "decoder_attention"),
      ("posterior", dict(posterior_attention={"type": "magic"}),
       "posterior_attention"),
      ("prior", dict(num_slots=(3, 2), prior_attention="magic"),
       "prior_attention"),
  )
  def test_bad_attention_names_the_argument(self, kwargs, argument):
    with self.assertRaisesRegex(ValueError,
                                rf"`{argument}`(.|\n)*must be one of"):
      model_lib.InverseDraw(**dict(SMALL, **kwargs))

  def test_bad_attention_arguments(self):
    with self.assertRaisesRegex(ValueError, r"must be one of"):
      model_lib.InverseDraw(**dict(SMALL, decoder_attention="magic"))
    with self.assertRaisesRegex(ValueError, r"bad arguments for 'window'"):
      model_lib.InverseDraw(**dict(
          SMALL, posterior_attention={"type": "window", "kernal": "cauchy"}))
    with self.assertRaisesRegex(ValueError, r"`kernel` must be one of"):
      model_lib.InverseDraw(**dict(
          SMALL, decoder_attention={"type": "window", "kernel": "box"}))

  def test_image_errors(self):
    with self.assertRaisesRegex(ValueError, r"`pixels_per_step` must divide"):
      model_lib.InverseDraw(observation="binary_image", pixels_per_step=5)
    with self.assertRaisesRegex(ValueError, r"`word_dropout` applies to text"):
      model_lib.InverseDraw(observation="binary_image", word_dropout=0.2)

  # BUG (model.py): `(height * width) % pixels_per_step` raises
  # ZeroDivisionError for 0, and accepts negative values (784 % -1 == 0).
  @parameterized.parameters(0, -1)
  def test_non_positive_pixels_per_step(self, pixels_per_step):
    with self.assertRaisesRegex(ValueError, r"`pixels_per_step`"):
      model_lib.InverseDraw(observation="binary_image",
                            pixels_per_step=pixels_per_step)

  def test_wrong_batch_key(self):
    with self.assertRaisesRegex(ValueError, r"needs `batch\['tokens'\]`"):
      text_model(num_slots=2)({"pixels": tf.zeros([1, 28, 28])})
    with self.assertRaisesRegex(ValueError, r"needs `batch\['pixels'\]`"):
      image_model(num_slots=2)({"tokens": tf.ones([1, 3], tf.int32)})


class DecoderDropoutTest(test_case.TestCase, parameterized.TestCase):
  """Non-recurrent dropout on the decoder's inputs and LSTM outputs."""

  def decoder(self, attention=None, wiring="input_feeding"):
    keras.utils.set_random_seed(0)
    decoder = decoder_lib.Decoder(output_dim=11, input_kind="tokens",
                                embedding_dim=5, units=7, attention=attention,
                                wiring=wiring)
    decoder.build((None, None), None if attention is None else (None, 3, 4))
    return decoder

  def masks(self, inputs_value, outputs_value, length=4):
    return dict(inputs=tf.fill([2, length, 5], inputs_value),
                outputs=tf.fill([2, length, 7], outputs_value))

  @parameterized.named_parameters(
      ("language_model", None, "input_feeding"),
      ("input_feeding", "content", "input_feeding"),
      ("output_only", "content", "output_only"))
  def test_masks_act_where_documented(self, attention, wiring):
    decoder = self.decoder(attention, wiring)
    tokens = tf.constant([[1, 4, 5, 6], [1, 7, 2, 0]])
    latents = (None if attention is None else
               tf.random.stateless_normal([2, 3, 4], [0, 1]))
    plain = decoder(tokens, latents)
    # All-ones masks change nothing.
    ones = decoder(tokens, latents, dropout_masks=self.masks(1.0, 1.0))
    self.assertAllClose(plain["logits"], ones["logits"])
    # Dropping every output unit leaves the output layer only the read (and
    # the bias): W_z read + b, by hand.
    dropped = decoder(tokens, latents, dropout_masks=self.masks(1.0, 0.0))
    kernel = decoder.output_layer.kernel.numpy()
    expected = decoder.output_layer.bias.numpy() + np.zeros([2, 4, 11])
    if attention is not None:
      expected = expected + np.einsum(
          "btd,dv->btv", plain["read_weights"].numpy() @ latents.numpy(),
          kernel[7:])
      # The read head still sees the undropped recurrence.
      self.assertAllClose(plain["read_weights"], dropped["read_weights"])
    self.assertAllClose(dropped["logits"], expected, atol=1e-5)
    # Dropping every input unit is the decoder fed zero embeddings.
    zero_inputs = decoder(tokens, latents, dropout_masks=self.masks(0.0, 1.0))
    decoder.embed.embeddings.assign(tf.zeros_like(decoder.embed.embeddings))
    self.assertAllClose(zero_inputs["logits"],
                        decoder(tokens, latents)["logits"], atol=1e-6)

  def test_exact_alignment_drops_the_shared_part_only(self):
    decoder = self.decoder("content")
    decoder.alignment = "exact"
    tokens = tf.constant([[1, 4, 5, 6], [1, 7, 2, 0]])
    latents = tf.random.stateless_normal([2, 3, 4], [0, 1])
    plain = decoder(tokens, latents)
    dropped = decoder(tokens, latents, dropout_masks=self.masks(1.0, 0.0))
    self.assertAllClose(dropped["shared_logits"],
                        tf.broadcast_to(decoder.output_layer.bias, [2, 4, 11]))
    self.assertAllClose(dropped["slot_logits"], plain["slot_logits"])

  def test_training_only_seeded_and_scaled(self):
    model = text_model(num_slots=3, decoder_dropout=0.4)
    batch = text_batch()
    reference = text_model(num_slots=3)
    reference(batch)
    model(batch)
    reference.set_weights(model.get_weights())
    evaluated = model(batch, seed=SEED)["log_likelihood"]
    self.assertAllClose(evaluated,
                        reference(batch, seed=SEED)["log_likelihood"])
    trained = model(batch, training=True, seed=SEED)["log_likelihood"]
    self.assertAllEqual(
        trained, model(batch, training=True, seed=SEED)["log_likelihood"])
    self.assertNotAllClose(trained, reference(batch, training=True,
                                              seed=SEED)["log_likelihood"])
    self.assertNotAllClose(
        trained, model(batch, training=True,
                       seed=SEED + 1)["log_likelihood"])
    masks = _dropout_masks(model, 64, lambda t: t, 50)
    for key, width in (("inputs", 8), ("outputs", 16)):
      values = masks[key].numpy()
      self.assertEqual(values.shape, (64, 50, width))
      self.assertAllInSet(values, (0.0, np.float32(1 / 0.6)))
      self.assertNear(np.mean(values == 0), 0.4, 0.03)  # 51,200 draws.
    self.assertNotAllClose(masks["inputs"][:, :, :8],
                           masks["outputs"][:, :, :8])

  def test_sample_rows_slice_the_global_masks(self):
    model = text_model(num_slots=3, decoder_dropout=0.5)
    full = _dropout_masks(model, 3, lambda t: t, 6)
    part = _dropout_masks(model, 3, lambda t: t[1:3], 6)
    for key in full:
      self.assertAllEqual(full[key][1:3], part[key])


def _dropout_masks(model, total_rows, rows, length):
  """The model's decoder dropout masks, as `InverseDraw.call` draws them."""
  return dropout.decoder_dropout_masks(
      model.decoder_dropout, (("inputs", model.embedding_dim),
                              ("outputs", model.decoder_units)),
      SEED, total_rows, rows, length, model.compute_dtype)


class LearningTest(test_case.TestCase):

  def test_latents_carry_real_sentences(self):
    """A few hundred Adam steps on 16 PTB sentences halve the distortion."""
    batch, vocab_size = ptb_batch(16, max_tokens=20)
    keras.utils.set_random_seed(0)
    model = model_lib.InverseDraw(
        vocab_size=vocab_size, embedding_dim=32, encoder_units=32,
        decoder_units=64, posterior_units=32, num_slots=4, latent_dim=8,
        decoder_wiring="output_only")
    optimizer = keras.optimizers.Adam(3e-3)
    evaluate = tf.function(lambda: objectives.evidence_lower_bound(
        model, batch, seed=SEED))

    @tf.function
    def step(index):
      with tf.GradientTape() as tape:
        terms = objectives.evidence_lower_bound(
            model, batch, seed=tf.stack([index, 0]), kl_weight=0.1)
      variables = model.trainable_variables
      optimizer.apply_gradients(
          zip(tape.gradient(terms["loss"], variables), variables))
      return terms["loss"]

    start = time.time()
    before = evaluate()
    for index in range(300):
      step(tf.constant(index))
    after = evaluate()
    elapsed = time.time() - start
    distortion = [float(tf.reduce_mean(t["distortion"]))
                  for t in (before, after)]
    kl = float(tf.reduce_mean(after["kl"]))
    report = (f"distortion {distortion[0]:.1f} -> {distortion[1]:.1f} nats, "
              f"KL {kl:.1f} nats, 300 steps in {elapsed:.1f} s")
    print(report)
    self.assertLess(distortion[1], 0.5 * distortion[0], report)
    self.assertGreater(kl, 1.0, "the latents must carry information; "
                       + report)


if __name__ == "__main__":
  tf.test.main()


class DecoderScoringTest(test_case.TestCase, parameterized.TestCase):
  """Given `targets`, the decoder scores them in blocks of sequences; the
  scores are those of its logits."""

  @parameterized.named_parameters(
      ("language_model", None, "soft", "input_feeding"),
      ("soft_input_feeding", "window", "soft", "input_feeding"),
      ("soft_output_only", "content", "soft", "output_only"),
      ("gumbel", "content", "gumbel", "input_feeding"),
      ("exact", "window", "exact", "input_feeding"),
      ("variational", "content", "variational", "output_only"),
  )
  def test_scores_equal_those_of_the_logits(self, attention, alignment_name,
                                            wiring):
    decoder = decoder_lib.Decoder(
        output_dim=11, input_kind="tokens", embedding_dim=6, units=8,
        attention=attention, wiring=wiring, alignment=alignment_name)
    inputs = tf.random.stateless_uniform([3, 5], [1, 2], maxval=11,
                                         dtype=tf.int32)
    targets = tf.random.stateless_uniform([3, 5], [3, 4], maxval=11,
                                          dtype=tf.int32)
    latents = (None if attention is None else
               tf.random.stateless_normal([3, 4, 5], [5, 6]))
    whole = decoder(inputs, latents)
    # 10 elements a block: 2 sequences of 5, the second block half padding.
    with mock.patch.object(likelihood, "BLOCK_ELEMENTS", 10):
      scored = decoder(inputs, latents, targets=targets)
    self.assertNotIn("logits", scored)
    self.assertNotIn("shared_logits", scored)
    if alignment_name in ("exact", "variational"):
      want = alignment_lib.slot_log_likelihoods(
          whole["shared_logits"], whole["slot_logits"], targets, "text")
      self.assertEqual((3, 5, 4), tuple(scored["slot_log_likelihood"].shape))
      self.assertAllClose(want, scored["slot_log_likelihood"], atol=1e-5)
    else:
      want = likelihood.categorical_log_prob(whole["logits"], targets)
      self.assertAllClose(want, scored["log_prob"], atol=1e-5)
    if attention is not None:
      self.assertAllClose(whole["read_weights"], scored["read_weights"])
