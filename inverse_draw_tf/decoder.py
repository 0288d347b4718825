"""The generative LSTM that emits the observation while reading the slots."""

import keras
import tensorflow as tf

from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import group_autoregression as group_lib
from inverse_draw_tf import likelihood
from inverse_draw_tf import recurrent

_PACKAGE = "inverse_draw_tf"
WIRINGS = ("input_feeding", "output_only")
ALIGNMENTS = alignment_lib.ALIGNMENTS


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Decoder(keras.layers.Layer):
  """The generative LSTM: emits one element per step, reading the latents.

  ```none
  input_feeding: h_t = LSTM(h_{t-1}, [e(x_{t-1}); r_{t-1}]),  (r_t, w_t) = attend(h_t, Z)
  output_only:   h_t = LSTM(h_{t-1}, e(x_{t-1})),             (r_t, w_t) = attend(h_t, Z)
  logits_t = W_o [h_t; r_t] + b_o
  ```
  With no latents (`attention=None`) the read is absent: an LSTM language
  model or autoregressive image model.

  `alignment` says how the read weights w_t = p(a_t | h_t) are used (see
  `alignment.py`):

  ```none
  soft:         r_t = sum_k w_tk z_k                    (the expected read)
  gumbel:       r_t = z_{a_t}, a_t a straight-through Gumbel-softmax sample of
                w_t (given `read_noise`), else argmax_k w_tk
  exact, variational: no single read; returns the split output layer
                shared_t = W_h h_t + b_o (B, T, V) and slot_k = W_z z_k (B, K, V),
                so that logits_tk = W_o [h_t; z_k] + b_o = shared_t + slot_k
  ```
  With input feeding, gumbel feeds its hard read back into the LSTM; exact
  and variational feed the expected read `sum_k w_tk z_k`, a deterministic
  function of h_t and Z, so the alignment a_t stays a per-step choice that
  the likelihood can marginalise exactly.

  Args:
    output_dim: vocabulary size (text) or elements per step (images).
    input_kind: "tokens" (ids, embedded) or "vectors" (floats, projected).
    embedding_dim: size of the embedded input.
    units: LSTM units.
    attention: attention spec over the latent memory, or None for no latents.
    wiring: "input_feeding" or "output_only".
    alignment: "soft", "gumbel", "exact" or "variational" (see above).
    tie_embeddings: if True (tokens only, `units == embedding_dim`), the
      output layer's rows for h_t are the input embedding's transpose,
      `W_h = E^T` (Press & Wolf 2017, https://arxiv.org/abs/1608.05859;
      Inan et al. 2017, https://arxiv.org/abs/1611.01462); the rows for the
      read `W_z` `(read_dim, V)` and the bias stay their own weights.
    group_units: 0, or (vectors only) the hidden units of a
      `group_autoregression.GroupAutoregression` that makes the
      `output_dim` elements of one step autoregressive among themselves:
      every step's logits (`logits` or `shared_logits`) gain its offsets,
      computed from `targets` and the step's LSTM output.
    **kwargs: base layer arguments (`name`, `dtype`).

  Call arguments:
    inputs: the previous elements, `(batch_size, T)` int ids or
      `(batch_size, T, output_dim)` floats.
    latents: `(batch_size, K, D)` or None.
    slot_mask: optional bool `(batch_size, K)`.
    read_noise: optional `(batch_size, T, K)` standard Gumbel noise (gumbel
      alignment: sample the read; without it the read is the argmax slot).
    read_temperature: tau of the Gumbel-softmax relaxation.
    dropout_masks: optional dict of `inputs` `(batch_size, T, embedding_dim)`
      and `outputs` `(batch_size, T, units)`, dropout masks already scaled
      by 1 / keep (`InverseDraw` draws them in training): they multiply the
      embedded inputs and the LSTM outputs on their way to the output layer
      (Zaremba et al. 2014, https://arxiv.org/abs/1409.2329: the recurrence
      and the read head see undropped states, so only non-recurrent
      connections are dropped).
    targets: vectors: the elements `(batch_size, T, output_dim)` each step
      emits, required with `group_units` (their offsets), else unused.
      Tokens: optional int `(batch_size, T)`, the tokens to score.
      Given them, the output layer runs in blocks of sequences
      (`likelihood.in_sequence_blocks`) and the outputs hold their scores
      instead of any logits: `log_prob` `(batch_size, T)` float32
      (no latents, soft, gumbel) or `slot_log_likelihood`
      `(batch_size, T, K)` float32, log p(x_t | h_t, z_k) (exact,
      variational). Evaluation's path: no `(batch_size, T, V)` tensor exists.

  Returns:
    dict with `logits` `(batch_size, T, output_dim)` (soft and gumbel), or
    `shared_logits` `(batch_size, T, output_dim)` and `slot_logits`
    `(batch_size, K, output_dim)` (exact and variational); `read_weights`
    `(batch_size, T, K)` and `attention_state` `(batch_size, T, S)` (absent
    without latents); gumbel adds the chosen one-hot `alignment`
    `(batch_size, T, K)`.

  Example:

  >>> decoder = Decoder(output_dim=10, input_kind="tokens", embedding_dim=8,
  ...                   units=16, attention="content")
  >>> out = decoder(tf.ones([2, 7], tf.int32), tf.ones([2, 4, 5]))
  >>> out["read_weights"].shape
  TensorShape([2, 7, 4])
  """

  def __init__(self, output_dim, input_kind, embedding_dim, units,
               attention=None, wiring="input_feeding", alignment="soft",
               tie_embeddings=False, group_units=0, **kwargs):
    super().__init__(**kwargs)
    if group_units and input_kind != "vectors":
      raise ValueError(
          f"`group_units`={group_units} needs vector inputs (images), "
          f"received input_kind={input_kind!r}; set group_units to 0.")
    self.group_units = int(group_units)
    self.group_autoregression = (
        group_lib.GroupAutoregression(group_units, name="group_autoregression")
        if group_units else None)
    if tie_embeddings and (input_kind != "tokens" or units != embedding_dim):
      raise ValueError(
          "tie_embeddings needs token inputs and decoder units equal to the "
          f"embedding size, received input_kind={input_kind!r}, units="
          f"{units}, embedding_dim={embedding_dim}; set them equal or turn "
          "tie_embeddings off.")
    self.tie_embeddings = bool(tie_embeddings)
    if wiring not in WIRINGS:
      raise ValueError(
          f"`wiring` must be one of {WIRINGS}, received {wiring!r}.")
    if alignment not in ALIGNMENTS:
      raise ValueError(
          f"`alignment` must be one of {ALIGNMENTS}, received {alignment!r}.")
    if alignment != "soft" and attention is None:
      raise ValueError(f"`alignment`={alignment!r} needs latents to align "
                       "to; set `attention` or use 'soft'.")
    self.alignment = alignment
    if input_kind not in ("tokens", "vectors"):
      raise ValueError("`input_kind` must be 'tokens' or 'vectors', received "
                       f"{input_kind!r}.")
    self.output_dim = int(output_dim)
    self.input_kind = input_kind
    self.embedding_dim = int(embedding_dim)
    self.units = int(units)
    self.attention_spec = (attention if attention is None or
                           isinstance(attention, str) else dict(attention))
    self.wiring = wiring
    if input_kind == "tokens":
      self.embed = keras.layers.Embedding(output_dim, embedding_dim,
                                          name="embedding")
    else:
      self.embed = keras.layers.Dense(embedding_dim, name="embedding")
    self.head = (None if attention is None else
                 attention_lib.get(attention, name="read_head"))
    # Tied, the output layer is the embedding's transpose plus the weights
    # `build` adds (`read_output_kernel`, `output_bias`).
    self.output_layer = (None if self.tie_embeddings else
                         keras.layers.Dense(output_dim, name="output"))
    # Keras' layer holds the weights (and runs cuDNN on a GPU); on a CPU
    # `recurrent.run_lstm` runs them fused.
    self.lstm = (keras.layers.LSTM(units, return_sequences=True, name="lstm")
                 if wiring == "output_only" or attention is None else None)

  def build(self, inputs_shape, latents_shape=None, slot_mask_shape=None):
    self.embed.build(inputs_shape)
    read_dim = 0
    if self.head is not None:
      if latents_shape is None:
        raise ValueError(f"{self.name}: `latents` are required when "
                         "`attention` is set.")
      self.head.build((None, self.units), latents_shape)
      read_dim = int(latents_shape[-1])
    self.read_dim = read_dim
    if self.group_autoregression is not None:
      self.group_autoregression.build((None, None, self.output_dim),
                                      (None, None, self.units))
    if self.lstm is not None:
      self.lstm.build((None, None, self.embedding_dim))
    else:
      self.kernel = self.add_weight(
          name="kernel",
          shape=(self.embedding_dim + read_dim + self.units, 4 * self.units))
      self.bias = self.add_weight(
          name="bias", shape=(4 * self.units,),
          initializer=recurrent.lstm_bias_initializer(self.units))
    if self.output_layer is not None:
      self.output_layer.build((None, None, self.units + read_dim))
      return
    self.read_output_kernel = (
        self.add_weight(name="read_output_kernel",
                        shape=(read_dim, self.output_dim),
                        initializer="glorot_uniform") if read_dim else None)
    self.output_bias = self.add_weight(
        name="output_bias", shape=(self.output_dim,), initializer="zeros")

  def call(self, inputs, latents=None, slot_mask=None, read_noise=None,
           read_temperature=1.0, dropout_masks=None, targets=None):
    group_elements = None
    if self.input_kind == "vectors":  # Nothing to score: only offsets.
      group_elements, targets = targets, None
      if self.group_autoregression is not None and group_elements is None:
        raise ValueError(f"{self.name}: `targets` (the elements of each "
                         "step) are required with `group_units`.")
    embedded = self.embed(inputs)
    dropped = lambda t, key: t if dropout_masks is None else (
        t * tf.cast(dropout_masks[key], t.dtype))
    embedded = dropped(embedded, "inputs")
    if self.head is None:
      hidden = dropped(recurrent.run_lstm(self.lstm, embedded), "outputs")
      return self._with_offsets(self._scored_or_logits(hidden, targets),
                                group_elements, hidden)
    chosen = None
    if self.wiring == "output_only":
      hidden = recurrent.run_lstm(self.lstm, embedded)
      reads, read_weights, states = self.head.call_sequence(
          hidden, latents, slot_mask)
      if self.alignment == "gumbel":
        chosen = self._choose(read_weights, read_noise, read_temperature)
        reads = attention_lib.read_memory(chosen, latents)
    else:
      hidden, reads, read_weights, states, chosen = self._input_feeding(
          embedded, latents, slot_mask, read_noise, read_temperature)
    outputs = dict(read_weights=read_weights, attention_state=states)
    hidden = dropped(hidden, "outputs")
    if (self.alignment in alignment_lib.PER_SLOT_ALIGNMENTS and
        targets is not None):
      outputs["slot_log_likelihood"] = self._slot_log_likelihood(
          hidden, latents, targets)
      return outputs
    if self.alignment in alignment_lib.PER_SLOT_ALIGNMENTS:
      # W_o [h; z_k] + b = (W_h h + b) + W_z z_k: the (B, T, V) product is
      # shared by all slots and the slot part is (B, K, V), once per sequence.
      # One split for both parts (see `_split_output_kernel`).
      hidden_kernel, slot_kernel = self._split_output_kernel(hidden.dtype)
      outputs.update(
          shared_logits=recurrent.matmul(hidden, hidden_kernel) +
          self._output_bias(hidden.dtype),
          slot_logits=tf.tensordot(latents, slot_kernel, axes=1))
      return self._with_offsets(outputs, group_elements, hidden)
    outputs.update(self._scored_or_logits(tf.concat([hidden, reads], -1),
                                          targets))
    if chosen is not None:
      outputs["alignment"] = chosen
    return self._with_offsets(outputs, group_elements, hidden)

  def _with_offsets(self, outputs, elements, hidden):
    """`outputs` with the group autoregression's offsets of `elements`
    added to the step logits they hold (`shared_logits`, shared by every
    slot, or `logits`); unchanged without `group_units`."""
    if self.group_autoregression is None:
      return outputs
    key = "shared_logits" if "shared_logits" in outputs else "logits"
    outputs[key] += self.group_autoregression(elements, hidden)
    return outputs

  def sample_elements(self, logits, hidden, temperature, seed, greedy):
    """One step's pixels `(B, G)` from its logits `(B, G)` (without
    offsets) and LSTM output `hidden` `(B, units)`: Bernoulli draws of
    sigmoid(logits / temperature) from stateless uniforms of `seed`, or
    `logits > 0` where `greedy` (a bool scalar tensor); in order, each
    pixel's logit with its offset, with `group_units`."""
    uniform = tf.random.stateless_uniform(tf.shape(logits), seed,
                                          dtype=logits.dtype)

    def draw(full):
      sampled = uniform < tf.sigmoid(full / temperature)
      return tf.cast(tf.where(greedy, full > 0, sampled), full.dtype)

    if self.group_autoregression is None:
      return draw(logits)
    return self.group_autoregression.sample(logits, hidden, draw)

  def _scored_or_logits(self, features, targets):
    """`{"logits": ...}` of the output layer, or `{"log_prob": ...}` of
    `targets` under it, in blocks (see `call`)."""
    if targets is None:
      return dict(logits=self._output_logits(features))
    kernel, bias = self.output_weights()
    return dict(log_prob=likelihood.output_log_prob(features, kernel, bias,
                                                    targets))

  def _slot_log_likelihood(self, hidden, latents, targets):
    """`alignment.slot_log_likelihoods` of the split output layer, in blocks
    of sequences: each block forms its own `(r, T, V)` shared and
    `(r, K, V)` per-slot logits."""
    hidden_kernel, slot_kernel = self._split_output_kernel(hidden.dtype)
    bias = self._output_bias(hidden.dtype)

    def block(hidden, latents, targets):
      shared = tf.matmul(hidden, hidden_kernel) + bias
      slots = tf.tensordot(latents, slot_kernel, axes=1)
      return alignment_lib.slot_log_likelihoods(
          tf.cast(shared, tf.float32), tf.cast(slots, tf.float32), targets,
          "text")

    return likelihood.in_sequence_blocks(
        block, (hidden, latents, tf.cast(targets, tf.int32)))

  def _output_logits(self, features):
    """Logits `(..., V)` of `features` `(..., units + read_dim)`, with
    `recurrent.matmul`'s faster gradient (the output layer is most of a
    step's FLOPs)."""
    kernel, bias = self.output_weights(features.dtype)
    return recurrent.matmul(features, kernel) + bias

  def output_weights(self, dtype=None):
    """The output layer's kernel `W_o` `(units + read_dim, V)` and bias
    `(V,)`, cast to `dtype` if given. Tied, `W_o = [E^T; W_z]`."""
    if self.output_layer is not None:
      kernel = self.output_layer.kernel
      kernel = kernel if dtype is None else tf.cast(kernel, dtype)
    else:
      hidden_kernel, read_kernel = self._split_output_kernel(dtype)
      kernel = (hidden_kernel if read_kernel is None else
                tf.concat([hidden_kernel, read_kernel], 0))
    return kernel, self._output_bias(dtype)

  def _output_bias(self, dtype=None):
    bias = (self.output_bias if self.output_layer is None else
            self.output_layer.bias)
    return bias if dtype is None else tf.cast(bias, dtype)

  def _split_output_kernel(self, dtype):
    """`W_o` split at `[h; z]`: `(units, V)` and `(read_dim, V)` (None
    without a read when tied), in `dtype`.

    tf.split, not slices: a slice's gradient is a kernel-sized tensor of
    zeros per slice, a split's one concat.
    """
    cast = (lambda w: w) if dtype is None else (lambda w: tf.cast(w, dtype))
    if self.output_layer is None:
      read_kernel = self.read_output_kernel
      return (tf.transpose(cast(self.embed.embeddings)),
              None if read_kernel is None else cast(read_kernel))
    return tf.split(cast(self.output_layer.kernel),
                    [self.units, self.read_dim])

  def slot_logits(self, latents):
    """The per-slot part `W_z z_k` `(B, K, output_dim)` of the output layer.

    It depends on the latents only: generation computes it once per
    sequence and passes it to every `step_log_probs`.
    """
    _, slot_kernel = self._split_output_kernel(latents.dtype)
    return tf.tensordot(latents, slot_kernel, axes=1)

  def _choose(self, read_weights, read_noise, read_temperature):
    """The gumbel read's one-hot slot choice (straight-through when sampled)."""
    if read_noise is None:
      return alignment_lib.hard_alignment(read_weights)
    return alignment_lib.gumbel_softmax_straight_through(
        read_weights, read_noise, read_temperature)

  def _input_feeding(self, embedded, latents, slot_mask, read_noise=None,
                     read_temperature=1.0):
    batch_size = tf.shape(embedded)[0]
    dtype = embedded.dtype
    # The input part of the gates does not depend on the recurrence: one
    # batched matmul for all steps instead of one per step.
    kernel = tf.cast(self.kernel, dtype)
    input_kernel, recurrent_kernel = tf.split(
        kernel, [self.embedding_dim, self.read_dim + self.units])
    input_gates = recurrent.matmul(embedded, input_kernel) + tf.cast(
        self.bias, dtype)
    recurrent_kernel = recurrent.DeferredKernel(recurrent_kernel)
    first = dict(
        h=tf.zeros([batch_size, self.units], dtype),
        c=tf.zeros([batch_size, self.units], dtype),
        read=tf.zeros([batch_size, self.read_dim], dtype),
        weights=tf.zeros(tf.shape(latents)[:2], dtype),
        state=self.head.get_initial_state(latents, slot_mask))
    gumbel = self.alignment == "gumbel"
    if gumbel:
      first["chosen"] = first["weights"]
    sampled = gumbel and read_noise is not None
    elements = [recurrent_kernel.tap(tf.transpose(input_gates, [1, 0, 2]))]
    if sampled:
      elements.append(tf.transpose(read_noise, [1, 0, 2]))

    def step(carry, inputs_t):
      gates = inputs_t[0] + recurrent_kernel.product(
          tf.concat([carry["read"], carry["h"]], -1))
      h, c = recurrent.lstm_update(gates, carry["c"])
      read, weights, state = self.head(h, latents, memory_mask=slot_mask,
                                       state=carry["state"])
      new = dict(h=h, c=c, read=read, weights=weights, state=state)
      if gumbel:
        # The chosen slot's read is fed back, as it would be when generating.
        new["chosen"] = self._choose(weights, inputs_t[1] if sampled else None,
                                     read_temperature)
        new["read"] = attention_lib.read_memory(new["chosen"], latents)
      return new

    outputs = tf.scan(step, tuple(elements), initializer=first)
    recurrent_kernel.record_states([outputs["read"], outputs["h"]],
                                   [first["read"], first["h"]])
    batch_major = lambda t: tf.transpose(t, [1, 0, 2])
    return (batch_major(outputs["h"]), batch_major(outputs["read"]),
            batch_major(outputs["weights"]), batch_major(outputs["state"]),
            batch_major(outputs["chosen"]) if gumbel else None)

  def initial_carry(self, latents, slot_mask, batch_size, dtype):
    """Recurrent state before the first generated element."""
    if not self.built:
      inputs_shape = ((None, None) if self.input_kind == "tokens" else
                      (None, None, self.output_dim))
      self.build(inputs_shape,
                 None if latents is None else tuple(latents.shape))
    carry = dict(h=tf.zeros([batch_size, self.units], dtype),
                 c=tf.zeros([batch_size, self.units], dtype))
    if self.head is not None:
      carry.update(read=tf.zeros([batch_size, self.read_dim], dtype),
                   state=self.head.get_initial_state(latents, slot_mask))
    if self.alignment != "soft":
      carry["slot"] = tf.zeros([batch_size], tf.int32)
    return carry

  def _advance(self, previous, carry, latents, slot_mask):
    """The recurrence of one step: `(h, c, read, read_weights, state)`, the
    last three None without latents (`read` is the expected read)."""
    embedded = self.embed(previous)
    if self.lstm is not None:
      h, (_, c) = self.lstm.cell(embedded, [carry["h"], carry["c"]])
    else:
      # `step` runs outside Keras' `__call__`, which would autocast the
      # float32 weights to the compute dtype (bfloat16 under mixed precision).
      inputs = tf.concat([embedded, carry["read"], carry["h"]], -1)
      gates = (tf.matmul(inputs, tf.cast(self.kernel, inputs.dtype)) +
               tf.cast(self.bias, inputs.dtype))
      h, c = recurrent.lstm_update(gates, carry["c"])
    if self.head is None:
      return h, c, None, None, None
    read, weights, state = self.head(h, latents, memory_mask=slot_mask,
                                     state=carry["state"])
    return h, c, read, weights, state

  def step(self, previous, carry, latents=None, slot_mask=None,
           read_noise=None):
    """One generation step from the previous element `(B,)` ids or `(B, G)`.

    With an alignment other than soft, the step first chooses the slot
    a_t: `argmax_k(log w_k + read_noise_k)`, a sample of p(a_t | h_t) for
    standard Gumbel `read_noise` `(B, K)` and its mode for None; the element's
    logits are then those of that slot, `W_o [h_t; z_{a_t}] + b_o`, and the
    carry's `slot` `(B,)` records the choice.

    Returns:
      `(logits (B, output_dim), read_weights (B, K) or None, new carry)`.
    """
    h, c, read, weights, state = self._advance(previous, carry, latents,
                                               slot_mask)
    if self.head is None:
      return self._output_logits(h), None, dict(h=h, c=c)
    new_carry = dict(h=h, c=c, read=read, state=state)
    if self.alignment == "soft":
      logits = self._output_logits(tf.concat([h, read], -1))
      return logits, weights, new_carry
    chosen = alignment_lib.hard_alignment(weights, read_noise)
    chosen_read = attention_lib.read_memory(chosen, latents)
    logits = self._output_logits(tf.concat([h, chosen_read], -1))
    if self.alignment == "gumbel":
      new_carry["read"] = chosen_read  # As in training (see `call`).
    new_carry["slot"] = tf.argmax(chosen, -1, output_type=tf.int32)
    return logits, weights, new_carry

  def step_log_probs(self, previous, carry, latents=None, slot_mask=None,
                     slot_logits=None):
    """One step's float32 log-probabilities of the next token `(B, V)`.

    ```none
    soft:                log softmax(W_o [h_t; r_t] + b_o)
    exact, variational:  log sum_k w_tk softmax(W_o [h_t; z_k] + b_o)
    gumbel:              log softmax(W_o [h_t; z_{a_t}] + b_o),
                         a_t = argmax_k w_tk
    ```
    Exact and variational carry the expected read, not the chosen slot's,
    so the mixture over slots is the model's next-token distribution. A
    gumbel decoder feeds the chosen slot's read back into its carry, so the
    next carry depends on a_t and the mixture is not a distribution over
    continuations: the step takes the mode slot (as `step` without noise).
    The carry's `slot` (non-soft) is that mode.

    Args:
      previous: `(B,)` int ids of the previous tokens.
      carry: the recurrent state (`initial_carry`, or a previous step's).
      latents: `(B, K, D)` or None.
      slot_mask: optional bool `(B, K)`.
      slot_logits: optional `slot_logits(latents)` `(B, K, V)`, computed once
        per sequence by the caller (exact and variational only).

    Returns:
      `(log_probs (B, V) float32, read_weights (B, K) or None, new carry)`.
    """
    if self.alignment not in alignment_lib.PER_SLOT_ALIGNMENTS:
      logits, weights, new_carry = self.step(previous, carry, latents,
                                             slot_mask)
      return tf.nn.log_softmax(tf.cast(logits, tf.float32)), weights, new_carry
    h, c, read, weights, state = self._advance(previous, carry, latents,
                                               slot_mask)
    if slot_logits is None:
      slot_logits = self.slot_logits(latents)
    hidden_kernel, _ = self._split_output_kernel(h.dtype)
    shared = tf.matmul(h, hidden_kernel) + self._output_bias(h.dtype)
    # A (B, K, V) tensor per step: fine for decoding, where there is no
    # backward pass to keep it for (training uses slot_log_normalizers).
    per_slot = tf.nn.log_softmax(
        tf.cast(shared[:, None, :] + slot_logits, tf.float32))
    prior = alignment_lib.safe_log(tf.cast(weights, tf.float32))
    log_probs = tf.reduce_logsumexp(prior[..., None] + per_slot, 1)
    new_carry = dict(h=h, c=c, read=read, state=state,
                     slot=tf.argmax(weights, -1, output_type=tf.int32))
    return log_probs, weights, new_carry

  def get_config(self):
    config = super().get_config()
    config.update(output_dim=self.output_dim, input_kind=self.input_kind,
                  embedding_dim=self.embedding_dim, units=self.units,
                  attention=self.attention_spec, wiring=self.wiring,
                  alignment=self.alignment,
                  tie_embeddings=self.tie_embeddings,
                  group_units=self.group_units)
    return config
