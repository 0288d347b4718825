"""Tests of the read heads in inverse_draw_tf/attention.py."""

import math

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from inverse_draw_tf import attention
import test_case

SPECS = {
    "content": "content",
    "dot_product": "dot_product",
    "location": {"type": "location", "max_shift": 2},
    "window_gaussian": {"type": "window", "kernel": "gaussian"},
    "window_cauchy": {"type": "window", "kernel": "cauchy",
                      "num_components": 2, "step_activation": "exp"},
}
BATCH, SLOTS, MEMORY_DIM, QUERY_DIM, STEPS = 3, 6, 5, 7, 4


def inputs(seed=0):
  rng = np.random.RandomState(seed)
  memory = tf.constant(rng.randn(BATCH, SLOTS, MEMORY_DIM), tf.float32)
  queries = tf.constant(rng.randn(BATCH, STEPS, QUERY_DIM), tf.float32)
  # Row 0 full, row 1 has 4 valid slots, row 2 has 1.
  mask = tf.sequence_mask([SLOTS, 4, 1], SLOTS)
  return memory, queries, mask


def softplus_inverse(value):
  return math.log(math.expm1(value))


class AttentionPropertiesTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.named_parameters(*[(name, spec) for name, spec in
                                    SPECS.items()])
  def test_weights_are_a_distribution_over_unmasked_slots(self, spec):
    memory, queries, mask = inputs()
    head = attention.get(spec)
    read, weights, state = head(queries[:, 0], memory, memory_mask=mask)
    self.assert_valid_weights(weights, mask)
    self.assertAllClose(read, np.einsum("bk,bkd->bd", weights, memory),
                        atol=1e-6)
    reads, all_weights, states = head.call_sequence(queries, memory, mask)
    self.assert_valid_weights(all_weights, mask[:, None, :])
    self.assertEqual(reads.shape, (BATCH, STEPS, MEMORY_DIM))
    self.assertEqual(states.shape[:2], (BATCH, STEPS))
    del state

  @parameterized.named_parameters(*[(name, spec) for name, spec in
                                    SPECS.items()])
  def test_sequence_equals_step_by_step(self, spec):
    memory, queries, mask = inputs(1)
    head = attention.get(spec)
    state = head.get_initial_state(memory, mask)
    step_reads, step_weights = [], []
    for t in range(STEPS):
      read, weights, state = head(queries[:, t], memory, memory_mask=mask,
                                  state=state)
      step_reads.append(read)
      step_weights.append(weights)
    reads, weights, states = head.call_sequence(queries, memory, mask)
    self.assertAllClose(np.stack(step_weights, 1), weights, atol=1e-5)
    self.assertAllClose(np.stack(step_reads, 1), reads, atol=1e-5)
    self.assertAllClose(state, states[:, -1], atol=1e-5)

  @parameterized.named_parameters(*[(name, spec) for name, spec in
                                    SPECS.items()])
  def test_fully_masked_memory_reads_zeros(self, spec):
    memory, queries, _ = inputs()
    mask = tf.zeros([BATCH, SLOTS], tf.bool)
    read, weights, _ = attention.get(spec)(queries[:, 0], memory,
                                           memory_mask=mask)
    self.assertAllEqual(weights, np.zeros([BATCH, SLOTS]))
    self.assertAllEqual(read, np.zeros([BATCH, MEMORY_DIM]))

  @parameterized.named_parameters(
      ("content", attention.ContentAttention, {}, 4, 0),
      ("dot_product", attention.DotProductAttention, {"temperature": 0.5}, 2,
       0),
      ("location", attention.LocationAttention, {"max_shift": 1}, 10, SLOTS),
      ("window", attention.WindowAttention,
       {"kernel": "cauchy", "num_components": 3}, 6, 3),
  )
  def test_layer(self, layer_cls, kwargs, num_weights, state_size):
    memory, queries, mask = inputs()
    self.run_layer_test(
        layer_cls, kwargs, (queries[:, 0], memory),
        call_kwargs={"memory_mask": mask},
        expected_output_shape=((BATCH, MEMORY_DIM), (BATCH, SLOTS),
                               (BATCH, state_size)),
        expected_num_trainable_weights=num_weights,
        # Read and weights only: the location state *is* the weights.
        output_to_loss=lambda out: tf.reduce_sum(out[0] ** 2) + tf.reduce_sum(
            out[1] * tf.range(SLOTS, dtype=tf.float32)))


class ContentAttentionTest(test_case.TestCase):

  def test_large_strength_selects_the_most_similar_slot(self):
    memory, queries, _ = inputs(2)
    head = attention.ContentAttention()
    head(queries[:, 0], memory)
    key = np.random.RandomState(3).randn(MEMORY_DIM).astype(np.float32)
    # Query-independent key and strength 1000: set the biases, zero kernels.
    head.key[0].assign(np.zeros([QUERY_DIM, MEMORY_DIM]))
    head.key[1].assign(key)
    head.strength[0].assign(np.zeros([QUERY_DIM, 1]))
    head.strength[1].assign([1000.0])  # softplus(1000) = 1000.
    _, weights, _ = head(queries[:, 0], memory)
    slots = memory.numpy()
    cosine = slots @ key / (np.linalg.norm(slots, axis=-1) *
                            np.linalg.norm(key))
    self.assertAllEqual(np.argmax(weights, -1), np.argmax(cosine, -1))
    self.assertAllGreater(np.max(weights, -1), 0.99)

  def test_matches_numpy(self):
    memory, queries, mask = inputs(4)
    head = attention.ContentAttention(initial_strength=2.0)
    _, weights, _ = head(queries[:, 0], memory, memory_mask=mask)
    key = queries[:, 0].numpy() @ head.key[0].numpy() + head.key[1].numpy()
    beta = np.log1p(np.exp(queries[:, 0].numpy() @ head.strength[0].numpy() +
                           head.strength[1].numpy()))
    slots = memory.numpy()
    cosine = np.einsum("bd,bkd->bk", key, slots) / (
        np.linalg.norm(key, axis=-1)[:, None] * np.linalg.norm(slots, axis=-1))
    logits = np.where(mask, beta * cosine, -np.inf)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    self.assertAllClose(weights, expected, atol=1e-5)


class DotProductAttentionTest(test_case.TestCase):

  def test_matches_numpy(self):
    memory, queries, mask = inputs(5)
    head = attention.DotProductAttention(temperature=0.7)
    _, weights, _ = head(queries[:, 0], memory, memory_mask=mask)
    q = (queries[:, 0].numpy() @ head.query_projection[0].numpy() +
         head.query_projection[1].numpy())
    logits = np.einsum("bd,bkd->bk", q, memory.numpy()) / (
        math.sqrt(MEMORY_DIM) * 0.7)
    logits = np.where(mask, logits, -np.inf)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    self.assertAllClose(weights, expected, atol=1e-5)


class LocationAttentionTest(test_case.TestCase):

  def test_shift_moves_one_hot_by_exactly_one_slot(self):
    one_hot = tf.one_hot([1, 4], 5)
    plus_one = tf.constant([[0.0, 0.0, 1.0]] * 2)  # offsets -1, 0, +1
    minus_one = tf.constant([[1.0, 0.0, 0.0]] * 2)
    no_shift = tf.constant([[0.0, 1.0, 0.0]] * 2)
    self.assertAllEqual(attention.shift_weights(one_hot, plus_one),
                        tf.one_hot([2, 0], 5))  # 4 + 1 wraps to 0.
    self.assertAllEqual(attention.shift_weights(one_hot, minus_one),
                        tf.one_hot([0, 3], 5))
    self.assertAllEqual(attention.shift_weights(one_hot, no_shift), one_hot)

  def test_shift_wraps_within_unmasked_slots(self):
    mask = tf.sequence_mask([3], 5)
    shifted = attention.shift_weights(tf.one_hot([2], 5),
                                      tf.constant([[0.0, 0.0, 1.0]]), mask)
    self.assertAllEqual(shifted, tf.one_hot([0], 5))

  def test_shift_is_a_convolution(self):
    weights = tf.constant([[0.5, 0.3, 0.2, 0.0]])
    shift = tf.constant([[0.25, 0.5, 0.25]])
    expected = [[0.5 * 0.5 + 0.25 * 0.3 + 0.25 * 0.0,
                 0.5 * 0.3 + 0.25 * 0.5 + 0.25 * 0.2,
                 0.5 * 0.2 + 0.25 * 0.3 + 0.25 * 0.0,
                 0.5 * 0.0 + 0.25 * 0.2 + 0.25 * 0.5]]
    self.assertAllClose(attention.shift_weights(weights, shift), expected)

  def test_sharpening_with_gamma_one_is_the_identity(self):
    weights = tf.constant([[0.1, 0.0, 0.6, 0.3]])
    self.assertAllClose(attention.sharpen(weights, tf.constant([[1.0]])),
                        weights, atol=1e-7)
    sharp = attention.sharpen(weights, tf.constant([[50.0]]))
    self.assertAllClose(sharp, [[0.0, 0.0, 1.0, 0.0]], atol=1e-6)

  def test_sharpening_gradient_is_finite_at_zero_weights(self):
    weights = tf.constant([[0.1, 0.0, 0.6, 0.3]])
    gamma = tf.Variable([[1.5]])
    with tf.GradientTape() as tape:
      out = attention.sharpen(weights, gamma)
      loss = tf.reduce_sum(out * [[1.0, 2.0, 3.0, 4.0]])
    self.assertAllEqual(np.isfinite(tape.gradient(loss, gamma)), [[True]])

  def test_closed_gate_and_unit_shift_walk_the_slots_in_order(self):
    memory, _, _ = inputs()
    head = attention.LocationAttention(max_shift=1)
    query = tf.zeros([BATCH, QUERY_DIM])
    head(query, memory)
    head.gate[1].assign([-100.0])  # Gate closed: ignore content.
    head.shift[1].assign([-100.0, -100.0, 100.0])  # Always +1.
    head.sharpening[1].assign([-100.0])  # gamma = 1.
    state = head.get_initial_state(memory)
    self.assertAllEqual(state, tf.one_hot([0] * BATCH, SLOTS))
    for slot in range(1, 4):
      _, weights, state = head(query, memory, state=state)
      self.assertAllClose(weights, tf.one_hot([slot] * BATCH, SLOTS),
                          atol=1e-6)


class WindowAttentionTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.parameters("softplus", "exp")
  def test_position_is_non_decreasing(self, step_activation):
    memory, _, mask = inputs()
    head = attention.WindowAttention(num_components=2,
                                     step_activation=step_activation)
    queries = tf.constant(np.random.RandomState(6).randn(BATCH, 30, QUERY_DIM)
                          * 3.0, tf.float32)
    _, _, kappa = head.call_sequence(queries, memory, mask)
    self.assertAllGreaterEqual(np.diff(kappa.numpy(), axis=1), 0.0)
    self.assertAllGreater(kappa[:, 0], 0.0)

  @parameterized.parameters("gaussian", "cauchy")
  def test_kernel_matches_numpy(self, kernel):
    rng = np.random.RandomState(7)
    kappa = rng.uniform(0, 5, size=(2, 3))
    width = rng.uniform(0.2, 2, size=(2, 3))
    alpha = rng.dirichlet(np.ones(3), size=2)
    u = np.arange(6.0)
    distance = u[None, None, :] - kappa[..., None]
    if kernel == "gaussian":
      phi = np.sum(alpha[..., None] * np.exp(-width[..., None] * distance ** 2),
                   axis=1)
    else:
      phi = np.sum(alpha[..., None] / (1 + (distance / width[..., None]) ** 2),
                   axis=1)
    log_phi = attention.window_log_kernel(
        tf.constant(kappa, tf.float32), tf.constant(u, tf.float32),
        tf.constant(width, tf.float32), tf.constant(np.log(alpha), tf.float32),
        kernel)
    self.assertAllClose(np.exp(log_phi), phi, rtol=1e-5)

    # Through the layer: hand-set biases give these parameters exactly.
    mask = tf.sequence_mask([6, 4], 6)
    head = attention.WindowAttention(kernel=kernel, num_components=3,
                                     step_activation="exp")
    query = tf.zeros([2, QUERY_DIM])
    memory = tf.ones([2, 6, 2])
    head(query, memory, memory_mask=mask)
    for projection in (head.mixture, head.width, head.step):
      projection[0].assign(np.zeros(projection[0].shape))
    head.mixture[1].assign(np.log(alpha[0]))
    head.width[1].assign([softplus_inverse(w) for w in width[0]])
    head.step[1].assign(np.log(kappa[0]))
    _, weights, new_kappa = head(query, memory, memory_mask=mask,
                                 state=tf.zeros([2, 3]))
    self.assertAllClose(new_kappa, np.stack([kappa[0]] * 2), rtol=1e-5)
    expected = np.stack([phi[0], phi[0]]) * mask.numpy()
    expected /= expected.sum(-1, keepdims=True)
    self.assertAllClose(weights, expected, atol=1e-5)


class HelpersAndErrorsTest(test_case.TestCase, parameterized.TestCase):

  def test_masked_softmax_matches_numpy(self):
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    mask = np.array([[True, True, False], [True, True, True]])
    expected = np.exp(np.where(mask, logits, -np.inf))
    expected /= expected.sum(-1, keepdims=True)
    self.assertAllClose(attention.masked_softmax(logits, mask), expected)

  def test_entropy(self):
    self.assertAllClose(attention.entropy(tf.fill([1, 8], 1 / 8)),
                        [math.log(8)])
    self.assertAllClose(attention.entropy(tf.one_hot([3], 8)), [0.0])

  @parameterized.parameters(
      (attention.WindowAttention, {"kernel": "box"}, r"`kernel` must be one of"),
      (attention.WindowAttention, {"step_activation": "relu"},
       r"`step_activation` must be one of"),
      (attention.WindowAttention, {"num_components": 0},
       r"`num_components` must be a positive integer, received 0"),
      (attention.WindowAttention, {"initial_step": 0.0},
       r"`initial_step` and `initial_width` must be positive"),
      (attention.LocationAttention, {"max_shift": 0},
       r"`max_shift` must be a positive integer, received 0"),
      (attention.ContentAttention, {"initial_strength": 0.0},
       r"`initial_strength` must be positive, received 0.0"),
      (attention.DotProductAttention, {"temperature": -1.0},
       r"`temperature` must be positive, received -1.0"),
  )
  def test_constructor_errors(self, layer_cls, kwargs, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      layer_cls(**kwargs)

  def test_factory(self):
    for name, layer_cls in attention.ATTENTION_TYPES.items():
      self.assertIsInstance(attention.get(name), layer_cls)
      self.assertIsInstance(attention.get({"type": name}), layer_cls)
    self.assertEqual(attention.get({"type": "window", "kernel": "cauchy"}
                                   ).kernel, "cauchy")
    with self.assertRaisesRegex(ValueError, r"attention `type` must be one of"):
      attention.get("nope")
    with self.assertRaisesRegex(ValueError, r"bad arguments for 'content'"):
      attention.get({"type": "content", "bogus": 1})


if __name__ == "__main__":
  tf.test.main()
