"""Tests of the read heads in inverse_draw_tf/attention.py."""

import math

from absl.testing import parameterized
import numpy as np
import tensorflow as tf

from inverse_draw_tf import attention
from inverse_draw_tf import normalizers
import test_case

SPECS = {
    "content": "content",
    "dot_product": "dot_product",
    "location": {"type": "location", "max_shift": 2},
    "window_gaussian": {"type": "window", "kernel": "gaussian"},
    "window_cauchy": {"type": "window", "kernel": "cauchy",
                      "num_components": 2, "step_activation": "exp"},
}
KINDS = {name: spec if isinstance(spec, str) else spec["type"]
         for name, spec in SPECS.items()}
NAMED_SPECS = [dict(testcase_name=name, name=name, spec=spec)
               for name, spec in SPECS.items()]
# Trainable weights: a kernel and a bias per projection.
NUM_WEIGHTS = {"content": 4, "dot_product": 2, "location": 10,
               "window_gaussian": 6, "window_cauchy": 6}
# Every constructor argument, none at its default (config round trips).
FULL_KWARGS = {
    "content": dict(initial_strength=3.0, epsilon=1e-5),
    "dot_product": dict(temperature=0.5),
    "location": dict(max_shift=2, initial_strength=4.0, epsilon=1e-5),
    "window_gaussian": dict(kernel="gaussian", num_components=1,
                            step_activation="softplus", initial_step=0.7,
                            initial_width=2.0, min_width=0.5),
    "window_cauchy": dict(kernel="cauchy", num_components=2,
                          step_activation="exp", initial_step=0.3,
                          initial_width=0.5, min_width=0.1),
}
BATCH, SLOTS, MEMORY_DIM, QUERY_DIM, STEPS = 3, 6, 5, 7, 4
# Width of the state (`None`-free: SLOTS for the location head).
STATE_SIZES = {"content": 0, "dot_product": 0, "location": SLOTS,
               "window_gaussian": 1, "window_cauchy": 2}
# Row 0 full; rows 1 and 2 are padded at the end.
LENGTHS = [SLOTS, 4, 1]


def inputs(seed=0, lengths=LENGTHS):
  rng = np.random.RandomState(seed)
  memory = tf.constant(rng.randn(BATCH, SLOTS, MEMORY_DIM), tf.float32)
  queries = tf.constant(2.0 * rng.randn(BATCH, STEPS, QUERY_DIM), tf.float32)
  return memory, queries, tf.sequence_mask(lengths, SLOTS)


def softplus_inverse(value):
  return math.log(math.expm1(value))


def numpy_masked_softmax(logits, mask):
  logits = np.where(mask, logits, -np.inf)
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  return weights / weights.sum(-1, keepdims=True)


def hand_shift(weights, shift, num_valid):
  """`w~_i = sum_o s_o w_{(i - o) mod n}` with loops, for one row."""
  out = np.zeros_like(weights)
  radius = len(shift) // 2
  for i in range(num_valid):
    for index, s in enumerate(shift):
      out[i] += s * weights[(i - (index - radius)) % num_valid]
  return out


class AttentionPropertiesTest(test_case.TestCase, parameterized.TestCase):
  """The contract every head shares (module docstring of attention.py)."""

  @parameterized.named_parameters(*NAMED_SPECS)
  def test_weights_are_a_distribution_over_unmasked_slots(self, name, spec):
    memory, queries, mask = inputs()
    head = attention.get(spec)
    read, weights, _ = head(queries[:, 0], memory, memory_mask=mask)
    self.assertEqual(weights.shape, (BATCH, SLOTS))
    self.assert_valid_weights(weights, mask)
    self.assertAllClose(read, np.einsum("bk,bkd->bd", weights, memory),
                        atol=1e-6)
    reads, all_weights, states = head.call_sequence(queries, memory, mask)
    self.assertEqual(all_weights.shape, (BATCH, STEPS, SLOTS))
    self.assert_valid_weights(all_weights, mask[:, None, :])
    self.assertAllClose(reads, np.einsum("btk,bkd->btd", all_weights, memory),
                        atol=1e-6)
    self.assertEqual(states.shape[:2], (BATCH, STEPS))

  @parameterized.named_parameters(*NAMED_SPECS)
  def test_sequence_equals_step_by_step(self, name, spec):
    memory, queries, mask = inputs(1)
    head = attention.get(spec)
    # call_sequence first: it builds the layer, and __call__ must not again.
    reads, weights, states = head.call_sequence(queries, memory, mask)
    num_weights = len(head.weights)
    state = head.get_initial_state(memory, mask)
    step_reads, step_weights, step_states = [], [], []
    for t in range(STEPS):
      read, step_weight, state = head(queries[:, t], memory, memory_mask=mask,
                                      state=state)
      step_reads.append(read)
      step_weights.append(step_weight)
      step_states.append(state)
    self.assertLen(head.weights, num_weights)
    self.assertAllClose(np.stack(step_weights, 1), weights, atol=1e-5)
    self.assertAllClose(np.stack(step_reads, 1), reads, atol=1e-5)
    self.assertAllClose(np.stack(step_states, 1), states, atol=1e-5)
    self.assertEqual(states.shape, (BATCH, STEPS, STATE_SIZES[name]))

    # From a state that is not the initial one.
    _, _, start = head(queries[:, -1], memory, memory_mask=mask)
    _, weights, states = head.call_sequence(queries, memory, mask,
                                            initial_state=start)
    state = start
    for t in range(STEPS):
      _, step_weight, state = head(queries[:, t], memory, memory_mask=mask,
                                   state=state)
      self.assertAllClose(step_weight, weights[:, t], atol=1e-5)
      self.assertAllClose(state, states[:, t], atol=1e-5)

  @parameterized.named_parameters(*NAMED_SPECS)
  def test_fully_masked_row_reads_zeros(self, name, spec):
    memory, queries, mask = inputs(lengths=[SLOTS, 0, 3])
    head = attention.get(spec)
    with tf.GradientTape() as tape:
      read, weights, _ = head(queries[:, 0], memory, memory_mask=mask)
      reads, all_weights, _ = head.call_sequence(queries, memory, mask)
      loss = (tf.reduce_sum(read ** 2) + tf.reduce_sum(reads ** 2) +
              tf.reduce_sum(weights * tf.range(SLOTS, dtype=tf.float32)) +
              tf.reduce_sum(all_weights * tf.range(SLOTS, dtype=tf.float32)))
    self.assertAllEqual(weights[1], np.zeros([SLOTS]))
    self.assertAllEqual(read[1], np.zeros([MEMORY_DIM]))
    self.assertAllEqual(all_weights[1], np.zeros([STEPS, SLOTS]))
    self.assertAllEqual(reads[1], np.zeros([STEPS, MEMORY_DIM]))
    self.assert_valid_weights(weights, mask)  # The other rows are unaffected.
    self.assert_valid_weights(all_weights, mask[:, None, :])
    for gradient in tape.gradient(loss, head.trainable_weights):
      self.assertTrue(np.all(np.isfinite(gradient)))

  @parameterized.named_parameters(*NAMED_SPECS)
  def test_layer(self, name, spec):
    memory, queries, mask = inputs()
    del spec
    init_kwargs = FULL_KWARGS[name]
    head = attention.ATTENTION_TYPES[KINDS[name]](**init_kwargs)
    state = head.get_initial_state(memory, mask)
    expected_shapes = ((BATCH, MEMORY_DIM), (BATCH, SLOTS),
                       (BATCH, STATE_SIZES[name]))
    head(queries[:, 0], memory)
    self.assertEqual(head.compute_output_shape(queries[:, 0].shape,
                                               memory.shape), expected_shapes)
    self.run_layer_test(
        type(head), init_kwargs, (queries[:, 0], memory),
        call_kwargs={"memory_mask": mask, "state": state},
        expected_output_shape=expected_shapes,
        expected_num_trainable_weights=NUM_WEIGHTS[name],
        expected_num_non_trainable_weights=0,
        # Read and weights (for the location head the state *is* the
        # weights); the slot-index weighting makes the weights' loss vary.
        output_to_loss=lambda out: tf.reduce_sum(out[0] ** 2) + tf.reduce_sum(
            out[1] * tf.range(SLOTS, dtype=tf.float32)),
        require_nonzero_gradients=True,
        # A one-component mixture's weight is 1 whatever its logits.
        zero_gradient_weights=("mixture",) if name == "window_gaussian"
        else ())

  @parameterized.named_parameters(*NAMED_SPECS)
  def test_config_holds_every_argument(self, name, spec):
    del spec
    head = attention.get(dict(FULL_KWARGS[name], type=KINDS[name]))
    config = head.get_config()
    for key, value in FULL_KWARGS[name].items():
      self.assertEqual(config[key], value, key)
    self.assertEqual(type(head).from_config(config).get_config(), config)

  @parameterized.named_parameters(*NAMED_SPECS)
  def test_call_sequence_in_graph_with_unknown_dimensions(self, name, spec):
    memory, queries, mask = inputs(2)
    head = attention.get(spec)
    eager = head.call_sequence(queries, memory, mask)
    graph_fn = tf.function(head.call_sequence, input_signature=[
        tf.TensorSpec([None, None, QUERY_DIM]),
        tf.TensorSpec([None, None, MEMORY_DIM]),
        tf.TensorSpec([None, None], tf.bool)])
    symbolic = graph_fn.get_concrete_function().structured_outputs
    self.assertEqual(symbolic[0].shape.as_list(), [None, None, MEMORY_DIM])
    self.assertEqual(symbolic[1].shape.rank, 3)
    for a, b in zip(eager, graph_fn(queries, memory, mask)):
      self.assertAllClose(a, b, atol=1e-5)


class ContentAttentionTest(test_case.TestCase):

  def test_large_strength_selects_the_most_similar_slot(self):
    memory, queries, mask = inputs(2)
    key = np.random.RandomState(5).randn(MEMORY_DIM).astype(np.float32)
    slots = memory.numpy()
    all_cosine = slots @ key / (np.linalg.norm(slots, axis=-1) *
                                np.linalg.norm(key))
    cosine = np.where(mask, all_cosine, -np.inf)
    # Preconditions: a clear winner in every row with 2+ slots (masked or
    # not), and in rows 1 and 2 the most similar slot overall is masked.
    for similarity in (cosine[:2], all_cosine):
      top_two = np.sort(similarity, -1)[:, -2:]
      self.assertTrue(np.all(top_two[:, 1] - top_two[:, 0] > 0.01))
    self.assertTrue(np.all((np.argmax(cosine, -1) !=
                            np.argmax(all_cosine, -1))[1:]))
    head = attention.ContentAttention()
    head(queries[:, 0], memory)
    # Query-independent key and strength 1000: set the biases, zero kernels.
    head.key[0].assign(np.zeros([QUERY_DIM, MEMORY_DIM]))
    head.key[1].assign(key)
    head.strength[0].assign(np.zeros([QUERY_DIM, 1]))
    head.strength[1].assign([1000.0])  # softplus(1000) = 1000.
    _, weights, _ = head(queries[:, 0], memory, memory_mask=mask)
    self.assertAllEqual(np.argmax(weights, -1), np.argmax(cosine, -1))
    self.assertAllGreater(np.max(weights, -1), 0.99)
    _, weights, _ = head(queries[:, 0], memory)
    self.assertAllEqual(np.argmax(weights, -1), np.argmax(all_cosine, -1))
    self.assertAllGreater(np.max(weights, -1), 0.99)
    # With beta = 1 no slot can dominate (cosines lie in [-1, 1]).
    head.strength[1].assign([softplus_inverse(1.0)])
    _, weights, _ = head(queries[:, 0], memory)
    self.assertAllLess(np.max(weights, -1), 0.5)

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
    self.assertAllClose(weights, numpy_masked_softmax(beta * cosine, mask),
                        atol=1e-5)

  def test_large_initial_strength_and_width_build(self):
    memory, queries, _ = inputs()
    head = attention.ContentAttention(initial_strength=1000.0)
    head(queries[:, 0], memory)  # math.expm1(1000) raises OverflowError.
    self.assertAllClose(tf.nn.softplus(head.strength[1]), [1000.0])
    window = attention.WindowAttention(initial_width=800.0)
    window(queries[:, 0], memory)
    self.assertAllClose(tf.nn.softplus(window.width[1]), [800.0])


class DotProductAttentionTest(test_case.TestCase, parameterized.TestCase):

  @parameterized.parameters(1.0, 0.7)
  def test_matches_numpy(self, temperature):
    memory, queries, mask = inputs(5)
    head = attention.DotProductAttention(temperature=temperature)
    _, weights, _ = head(queries[:, 0], memory, memory_mask=mask)
    _, all_weights, _ = head.call_sequence(queries, memory, mask)
    kernel, bias = (v.numpy() for v in head.query_projection)
    q = queries.numpy() @ kernel + bias  # (B, T, D)
    logits = np.einsum("btd,bkd->btk", q, memory.numpy()) / (
        math.sqrt(MEMORY_DIM) * temperature)
    expected = numpy_masked_softmax(logits, mask.numpy()[:, None, :])
    self.assertAllClose(weights, expected[:, 0], atol=1e-5)
    self.assertAllClose(all_weights, expected, atol=1e-5)


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
    # Offsets -2..2: +2 from slot 4 wraps to 1.
    plus_two = tf.constant([[0.0, 0.0, 0.0, 0.0, 1.0]] * 2)
    self.assertAllEqual(attention.shift_weights(one_hot, plus_two),
                        tf.one_hot([3, 1], 5))

  def test_shift_wraps_within_unmasked_slots(self):
    mask = tf.sequence_mask([3, 3, 5], 5)
    plus_one = tf.constant([[0.0, 0.0, 1.0]] * 3)
    minus_one = tf.constant([[1.0, 0.0, 0.0]] * 3)
    shifted = attention.shift_weights(tf.one_hot([2, 1, 2], 5), plus_one, mask)
    self.assertAllEqual(shifted, tf.one_hot([0, 2, 3], 5))
    shifted = attention.shift_weights(tf.one_hot([0, 1, 0], 5), minus_one,
                                      mask)
    self.assertAllEqual(shifted, tf.one_hot([2, 0, 4], 5))

  def test_no_shift_is_the_identity(self):
    rng = np.random.RandomState(8)
    mask = tf.sequence_mask([5, 3, 1, 0], 5)
    weights = normalizers.masked_softmax(rng.randn(4, 5).astype(np.float32),
                                       mask)
    no_shift = tf.one_hot([2] * 4, 5)  # Offsets -2..2.
    self.assertAllEqual(attention.shift_weights(weights, no_shift, mask),
                        weights)
    self.assertAllEqual(attention.shift_weights(weights[:2], no_shift[:2]),
                        weights[:2])

  def test_shift_matches_a_hand_written_loop(self):
    rng = np.random.RandomState(9)
    lengths = [5, 3, 2]
    mask = tf.sequence_mask(lengths, 5)
    weights = normalizers.masked_softmax(rng.randn(3, 5).astype(np.float32),
                                       mask).numpy()
    shift = rng.dirichlet(np.ones(5), size=3).astype(np.float32)
    shifted = attention.shift_weights(weights, shift, mask)
    for row, n in enumerate(lengths):
      self.assertAllClose(shifted[row], hand_shift(weights[row], shift[row], n),
                          atol=1e-6)
    self.assert_valid_weights(shifted, mask)

  def test_sharpening_with_gamma_one_is_the_identity(self):
    rng = np.random.RandomState(10)
    weights = rng.dirichlet(np.ones(6), size=4).astype(np.float32)
    weights[1, 2] = 0.0
    weights[1] /= weights[1].sum()
    self.assertAllClose(attention.sharpen(weights, tf.ones([4, 1])), weights,
                        atol=1e-6, rtol=0.0)

  def test_sharpening_with_large_gamma_approaches_one_hot(self):
    weights = tf.constant([[0.1, 0.0, 0.6, 0.3], [0.4, 0.2, 0.2, 0.2]])
    previous = None
    for gamma in (2.0, 5.0, 20.0, 50.0):
      sharp = attention.sharpen(weights, tf.fill([2, 1], gamma)).numpy()
      self.assert_valid_weights(sharp)
      self.assertAllEqual(np.argmax(sharp, -1), [2, 0])
      if previous is not None:  # The maximum only grows with gamma.
        self.assertAllGreater(sharp.max(-1) - previous.max(-1), 0.0)
      previous = sharp
    self.assertAllClose(previous, [[0, 0, 1, 0], [1, 0, 0, 0]], atol=1e-6)

  def test_sharpening_with_very_large_gamma_keeps_a_distribution(self):
    weights = tf.constant([[0.1, 0.0, 0.6, 0.3], [0.2] * 4])
    for gamma in (200.0, 1000.0):
      sharp = attention.sharpen(weights, tf.fill([2, 1], gamma))
      # 0.6 ** 200 underflows float32: every entry becomes 0.
      self.assertAllClose(sharp[0], [0, 0, 1, 0], atol=1e-6)
      self.assert_valid_weights(sharp)

  def test_sharpening_gradient_is_finite_at_zero_weights(self):
    weights = tf.Variable([[0.1, 0.0, 0.6, 0.3]])
    gamma = tf.Variable([[1.5]])
    with tf.GradientTape() as tape:
      out = attention.sharpen(weights, gamma)
      loss = tf.reduce_sum(out * [[1.0, 2.0, 3.0, 4.0]])
    gamma_gradient, weights_gradient = tape.gradient(loss, [gamma, weights])
    self.assertTrue(np.all(np.isfinite(gamma_gradient)))
    self.assertNotEqual(float(gamma_gradient[0, 0]), 0.0)
    self.assertTrue(np.all(np.isfinite(weights_gradient)))

  def test_closed_gate_and_unit_shift_walk_the_slots_in_order(self):
    memory, _, _ = inputs()
    mask = tf.sequence_mask([SLOTS, 3, 2], SLOTS)
    head = attention.LocationAttention(max_shift=1)
    query = tf.zeros([BATCH, QUERY_DIM])
    head(query, memory)
    head.gate[1].assign([-100.0])  # Gate closed: ignore content.
    head.shift[1].assign([-100.0, -100.0, 100.0])  # Always +1.
    head.sharpening[1].assign([-100.0])  # gamma = 1.
    state = head.get_initial_state(memory)
    self.assertAllEqual(state, tf.one_hot([0] * BATCH, SLOTS))
    for step in range(1, 5):
      _, weights, state = head(query, memory, memory_mask=mask, state=state)
      # Each row walks its own unmasked slots and wraps around.
      self.assertAllClose(
          weights, tf.one_hot([step % SLOTS, step % 3, step % 2], SLOTS),
          atol=1e-6)

  def test_large_sharpening_keeps_the_read_weights_a_distribution(self):
    memory, queries, mask = inputs()
    head = attention.LocationAttention()
    head(queries[:, 0], memory)
    # gamma = 1 + softplus(200) = 201 with a nearly uniform content weighting
    # and an open gate: the largest weight ~1/6 raised to 201 is 0 in float32.
    head.sharpening[0].assign(np.zeros([QUERY_DIM, 1]))
    head.sharpening[1].assign([200.0])
    head.strength[1].assign([-20.0])  # beta ~ 0: uniform content weights.
    head.gate[0].assign(np.zeros([QUERY_DIM, 1]))
    head.gate[1].assign([100.0])
    _, weights, _ = head(queries[:, 0], memory, memory_mask=mask)
    self.assert_valid_weights(weights, mask)


class InitialisationTest(test_case.TestCase, parameterized.TestCase):
  """The `initial_*` arguments are the parameters a zero query produces."""

  @parameterized.parameters(attention.ContentAttention,
                            attention.LocationAttention)
  def test_initial_strength(self, layer_cls):
    memory, _, _ = inputs()
    head = layer_cls(initial_strength=3.0)
    head(tf.zeros([BATCH, QUERY_DIM]), memory)
    self.assertAllClose(tf.nn.softplus(head.strength[1]), [3.0])

  @parameterized.parameters("softplus", "exp")
  def test_initial_step_and_width(self, step_activation):
    memory, _, mask = inputs()
    head = attention.WindowAttention(num_components=2, initial_step=0.7,
                                     initial_width=2.0,
                                     step_activation=step_activation)
    head(tf.zeros([BATCH, QUERY_DIM]), memory)
    self.assertAllClose(tf.nn.softplus(head.width[1]), [2.0, 2.0])
    state = tf.constant([[0.0, 1.0]] * BATCH)
    _, _, kappa = head(tf.zeros([BATCH, QUERY_DIM]), memory, memory_mask=mask,
                       state=state)
    self.assertAllClose(kappa, state + 0.7)

  def test_initial_width_above_a_floor(self):
    memory, _, _ = inputs()
    head = attention.WindowAttention(num_components=2, initial_width=2.0,
                                     min_width=0.5)
    head(tf.zeros([BATCH, QUERY_DIM]), memory)
    self.assertAllClose(0.5 + tf.nn.softplus(head.width[1]), [2.0, 2.0])


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
    state = head.get_initial_state(memory, mask)
    for t in range(5):
      _, _, new_state = head(queries[:, t], memory, memory_mask=mask,
                             state=state)
      self.assertAllGreaterEqual(new_state - state, 0.0)
      state = new_state

  @parameterized.parameters(("gaussian", "softplus"), ("cauchy", "exp"),
                            ("gaussian", "exp"), ("cauchy", "softplus"))
  def test_kernel_matches_numpy(self, kernel, step_activation):
    rng = np.random.RandomState(7)
    kappa = rng.uniform(0, 5, size=(2, 3))
    width = rng.uniform(0.2, 2, size=(2, 3))
    alpha = rng.dirichlet(np.ones(3), size=2)
    u = np.arange(6.0)

    def phi(kappa, width, alpha):
      out = np.zeros(kappa.shape[:-1] + u.shape)
      for m in range(kappa.shape[-1]):
        k, w, a = (x[..., m:m + 1] for x in (kappa, width, alpha))
        if kernel == "gaussian":
          out += a * np.exp(-w * (k - u) ** 2)
        else:
          out += a / (1 + ((u - k) / w) ** 2)
      return out

    log_phi = attention.window_log_kernel(
        tf.constant(kappa, tf.float32), tf.constant(u, tf.float32),
        tf.constant(width, tf.float32), tf.constant(np.log(alpha), tf.float32),
        kernel)
    self.assertAllClose(np.exp(log_phi), phi(kappa, width, alpha), rtol=1e-5)

    # Through the layer: hand-set biases give these parameters exactly, and
    # the new kappa is the given state plus the step.
    mask = tf.sequence_mask([6, 4], 6)
    head = attention.WindowAttention(kernel=kernel, num_components=3,
                                     step_activation=step_activation)
    query = tf.zeros([2, QUERY_DIM])
    memory = tf.ones([2, 6, 2])
    head(query, memory, memory_mask=mask)
    for projection in (head.mixture, head.width, head.step):
      projection[0].assign(np.zeros(projection[0].shape))
    state = np.stack([0.5 * kappa[0], 0.25 * kappa[0]])
    step = kappa[0] - 0.5 * kappa[0]
    head.mixture[1].assign(np.log(alpha[0]))
    head.width[1].assign([softplus_inverse(w) for w in width[0]])
    head.step[1].assign(np.log(step) if step_activation == "exp" else
                        [softplus_inverse(x) for x in step])
    _, weights, new_kappa = head(query, memory, memory_mask=mask,
                                 state=tf.constant(state, tf.float32))
    self.assertAllClose(new_kappa, state + step, rtol=1e-5)
    expected = phi(new_kappa.numpy().astype(np.float64), width[:1],
                   alpha[:1]) * mask.numpy()
    expected /= expected.sum(-1, keepdims=True)
    self.assertAllClose(weights, expected, atol=1e-5)
    self.assert_valid_weights(weights, mask)

  @parameterized.parameters("gaussian", "cauchy")
  def test_min_width_floors_a_saturated_width(self, kernel):
    # A width bias driven to -30 (softplus 1e-13): without a floor the
    # gaussian window is flat; with one it is the kernel at the floor.
    mask = tf.sequence_mask([6, 4], 6)
    query, memory = tf.zeros([2, QUERY_DIM]), tf.ones([2, 6, 2])
    state = tf.constant([[1.2], [2.7]])
    weights = {}
    for min_width in (0.0, 0.5):
      head = attention.WindowAttention(kernel=kernel, min_width=min_width)
      head(query, memory, memory_mask=mask)
      head.width[1].assign([-30.0])
      _, weights[min_width], kappa = head(query, memory, memory_mask=mask,
                                          state=state)
      self.assert_valid_weights(weights[min_width], mask)
    distance = np.arange(6.0) - kappa.numpy()
    phi = (np.exp(-0.5 * distance ** 2) if kernel == "gaussian" else
           1.0 / (1.0 + (distance / 0.5) ** 2)) * mask.numpy()
    self.assertAllClose(weights[0.5], phi / phi.sum(-1, keepdims=True),
                        atol=1e-6)
    if kernel == "gaussian":
      self.assertAllClose(weights[0.0],
                          mask.numpy() / mask.numpy().sum(-1, keepdims=True),
                          atol=1e-6)

  def test_positions_stay_float32_under_mixed_bfloat16(self):
    # bfloat16 rounds a position near 24 to 1/8 of a slot; the window's
    # parameters, positions and filter are float32 whatever the policy.
    memory = tf.random.stateless_normal([2, 40, 4], [1, 2])
    mask = tf.sequence_mask([40, 31], 40)
    queries = tf.random.stateless_normal([2, 12, QUERY_DIM], [3, 4])
    heads = {}
    for policy in ("float32", "mixed_bfloat16"):
      heads[policy] = attention.WindowAttention(initial_step=2.1,
                                                dtype=policy)
      heads[policy].build(queries.shape, memory.shape)
    heads["mixed_bfloat16"].set_weights(heads["float32"].get_weights())
    start = tf.fill([2, 1], 0.3)
    low = heads["mixed_bfloat16"].call_sequence(
        tf.cast(queries, tf.bfloat16), tf.cast(memory, tf.bfloat16), mask,
        initial_state=start)
    reference = heads["float32"].call_sequence(
        tf.cast(tf.cast(queries, tf.bfloat16), tf.float32), memory, mask,
        initial_state=start)
    self.assertEqual(tf.float32, low[2].dtype)
    self.assertEqual(tf.bfloat16, low[1].dtype)  # Cast back for the read.
    self.assertAllGreater(low[2][:, -1], 24.0)
    self.assertAllClose(reference[2], low[2], atol=1e-5, rtol=1e-6)
    self.assertAllClose(reference[1], tf.cast(low[1], tf.float32),
                        atol=1e-2)


class HelpersAndErrorsTest(test_case.TestCase, parameterized.TestCase):

  def test_masked_softmax_matches_numpy(self):
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [4.0, 1.0, 0.0]],
                      np.float32)
    mask = np.array([[True, True, False], [True, True, True],
                     [False, False, False]])
    expected = numpy_masked_softmax(logits[:2], mask[:2])
    expected = np.concatenate([expected, np.zeros([1, 3])])
    result = normalizers.masked_softmax(logits, mask)
    self.assertAllClose(result, expected, atol=1e-6)
    self.assertAllEqual(result.numpy()[~mask], np.zeros([(~mask).sum()]))
    self.assertAllClose(normalizers.masked_softmax(logits),
                        numpy_masked_softmax(logits, np.ones([3, 3], bool)))

  def test_softmax_equals_tensorflows_with_gradients(self):
    rng = np.random.RandomState(3)
    logits = tf.constant(rng.randn(4, 6, 8) * 30, tf.float32)
    upstream = tf.constant(rng.randn(4, 6, 8), tf.float32)
    for axis in (-1, 1):
      results = []
      for fn in (normalizers.softmax, tf.nn.softmax):
        with tf.GradientTape() as tape:
          tape.watch(logits)
          weights = fn(logits, axis=axis)
        results.append((weights, tape.gradient(weights, logits, upstream)))
      self.assertAllClose(results[0][0], results[1][0], atol=1e-6)
      self.assertAllClose(results[0][1], results[1][1], atol=1e-5)
    # Half precision in, half precision out, normalised in float32: the
    # rounding is only the final cast's.
    half = normalizers.softmax(tf.cast(logits, tf.bfloat16))
    self.assertEqual(half.dtype, tf.bfloat16)
    self.assertAllClose(
        tf.cast(half, tf.float32),
        tf.nn.softmax(tf.cast(tf.cast(logits, tf.bfloat16), tf.float32)),
        atol=2 ** -9, rtol=2 ** -8)

  @parameterized.parameters((8, 16), (24, 512))
  def test_read_memory_equals_einsum_with_gradients(self, slots, dim):
    # (8, 16) takes the broadcast-and-sum path, (24, 512) the einsum.
    rng = np.random.RandomState(slots)
    weights = tf.constant(rng.dirichlet(np.ones(slots), 5), tf.float32)
    memory = tf.constant(rng.randn(5, slots, dim), tf.float32)
    upstream = tf.constant(rng.randn(5, dim), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([weights, memory])
      read = attention.read_memory(weights, memory)
      expected = tf.einsum("bk,bkd->bd", weights, memory)
    self.assertAllClose(read, expected, atol=1e-5)
    for got, want in zip(tape.gradient(read, [weights, memory], upstream),
                         tape.gradient(expected, [weights, memory], upstream)):
      self.assertAllClose(got, want, atol=1e-5)
    # Many queries at once (a sequence) read the same way.
    queries = tf.stack([weights, weights[::-1]], 1)
    self.assertAllClose(attention.read_memory(queries, memory)[:, 0],
                        expected, atol=1e-5)

  def test_entropy(self):
    for k in (1, 2, 8):
      self.assertAllClose(attention.entropy(tf.fill([2, k], 1 / k)),
                          [math.log(k)] * 2)
    self.assertAllEqual(attention.entropy(tf.one_hot([3, 0], 8)), [0.0, 0.0])
    self.assertAllClose(attention.entropy(tf.constant([[0.5, 0.0, 0.5]])),
                        [math.log(2)])

  @parameterized.parameters(
      (attention.WindowAttention, {"kernel": "box"}, r"`kernel` must be one of"),
      (attention.WindowAttention, {"step_activation": "relu"},
       r"`step_activation` must be one of"),
      (attention.WindowAttention, {"num_components": 0},
       r"`num_components` must be a positive integer, received 0"),
      (attention.WindowAttention, {"num_components": 1.5},
       r"`num_components` must be a positive integer, received 1.5"),
      (attention.WindowAttention, {"initial_step": 0.0},
       r"`initial_step` and `initial_width` must be positive"),
      (attention.WindowAttention, {"initial_width": -1.0},
       r"`initial_step` and `initial_width` must be positive"),
      (attention.WindowAttention, {"min_width": -0.1},
       r"`min_width` must be >= 0 and below `initial_width`.*-0.1 and 1.0"),
      (attention.WindowAttention, {"initial_width": 0.5, "min_width": 0.5},
       r"`min_width` must be >= 0 and below `initial_width`.*0.5 and 0.5"),
      (attention.LocationAttention, {"max_shift": 0},
       r"`max_shift` must be a positive integer, received 0"),
      (attention.LocationAttention, {"initial_strength": 0.0},
       r"`initial_strength` must be positive, received 0.0"),
      (attention.ContentAttention, {"initial_strength": 0.0},
       r"`initial_strength` must be positive, received 0.0"),
      (attention.DotProductAttention, {"temperature": -1},
       r"`temperature` must be positive, received -1"),
  )
  def test_constructor_errors(self, layer_cls, kwargs, pattern):
    with self.assertRaisesRegex(ValueError, pattern):
      layer_cls(**kwargs)

  def test_factory_errors(self):
    with self.assertRaisesRegex(ValueError,
                                r"attention `type` must be one of.*'nope'"):
      attention.get("nope")
    with self.assertRaisesRegex(ValueError, r"attention `type` must be one of"):
      attention.get({"kernel": "cauchy"})
    with self.assertRaisesRegex(ValueError,
                                r"bad arguments for 'content'.*'bogus'"):
      attention.get({"type": "content", "bogus": 1})
    # Arguments of another head are rejected too.
    with self.assertRaisesRegex(ValueError, r"'max_shift'"):
      attention.get({"type": "content", "max_shift": 1})

  @parameterized.named_parameters(*NAMED_SPECS)
  def test_factory_builds_from_string_and_dict(self, name, spec):
    kind = KINDS[name]
    layer_cls = attention.ATTENTION_TYPES[kind]
    self.assertIsInstance(attention.get(kind), layer_cls)
    self.assertIsInstance(attention.get({"type": kind}), layer_cls)
    head = attention.get(spec, name="my_head")
    self.assertIsInstance(head, layer_cls)
    self.assertEqual(head.name, "my_head")
    if isinstance(spec, dict):  # Arguments reach the layer.
      config = head.get_config()
      for key, value in spec.items():
        if key != "type":
          self.assertEqual(config[key], value)
    spec_copy = dict(spec) if isinstance(spec, dict) else spec
    attention.get(spec_copy)
    self.assertEqual(spec_copy, spec)  # `get` leaves its argument alone.

  def test_factory_passes_arguments(self):
    self.assertEqual(attention.get({"type": "location", "max_shift": 3}
                                   ).max_shift, 3)
    window = attention.get({"type": "window", "kernel": "cauchy",
                            "num_components": 4, "step_activation": "exp"})
    self.assertEqual((window.kernel, window.num_components,
                      window.step_activation), ("cauchy", 4, "exp"))
    self.assertEqual(attention.get({"type": "dot_product", "temperature": 0.5}
                                   ).temperature, 0.5)
    self.assertEqual(attention.get({"type": "content",
                                    "initial_strength": 2.0}
                                   ).initial_strength, 2.0)


if __name__ == "__main__":
  tf.test.main()
