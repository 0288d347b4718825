"""The Inverse DRAW model: an LSTM that emits an observation while reading a
memory of stochastic latent vectors, and its mirror-image posterior.

```none
Generative model (one level):
  Z = (z_1, ..., z_K),  z_k ~ N(0, I_D)                     latent memory
  h_t = LSTM(h_{t-1}, [x_{t-1}; r_{t-1}])                    controller
  (r_t, w_t) = attend(h_t, Z)                                read, read_weights
  x_t ~ p(x_t | h_t, r_t)                Categorical (text) / Bernoulli (images)

Approximate posterior:
  M = BiLSTM(x)                                              observation memory
  g_k = LSTM(g_{k-1}, [z_{k-1}; m_{k-1}])
  (m_k, v_k) = attend(g_k, M)
  q(z_k | z_<k, x) = N(mu(g_k, m_k), sigma(g_k, m_k))        reparameterised

Hierarchy (levels 0 = bottom .. L-1 = top):
  p(Z_{L-1}) = N(0, I);  p(Z_l | Z_{l+1}) = slot writer attending over Z_{l+1}
  q(Z_l | x, Z_{l+1}) = slot writer attending over M and Z_{l+1} (top-down)
```
The decoder has two wirings: `input_feeding` (as written above; the read of
step t-1 enters the LSTM at step t, as in the NTM) and `output_only` (the LSTM
sees only x_{<t}; the read joins the output layer, so the LSTM runs as one
fused op and attention is computed for all steps at once).

`num_slots=0` is a plain LSTM language model (or autoregressive image model)
and `num_slots=1` a Bowman-style sentence VAE, on the same decoder.

`decoder_alignment` turns the read into a choice of one slot per element
(exact marginalisation, Gumbel-softmax or variational; `alignment.py`), and
`decoder_normalizer` makes the read weights sparse (`normalizers.normalize`).
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from inverse_draw_tf import alignment as alignment_lib
from inverse_draw_tf import arguments
from inverse_draw_tf import attention as attention_lib
from inverse_draw_tf import data
from inverse_draw_tf import decoder as decoder_lib
from inverse_draw_tf import dropout
from inverse_draw_tf import encoders
from inverse_draw_tf import generation
from inverse_draw_tf import likelihood
from inverse_draw_tf import mixture_prior
from inverse_draw_tf import normalizers
from inverse_draw_tf import slots

tfd = tfp.distributions

_PACKAGE = "inverse_draw_tf"
OBSERVATIONS = arguments.OBSERVATIONS
WIRINGS = arguments.WIRINGS
POSTERIORS = arguments.POSTERIORS
ALIGNMENTS = arguments.ALIGNMENTS
NORMALIZERS = arguments.NORMALIZERS
# `call`'s outputs with one entry per level (empty lists without latents).
LEVEL_OUTPUTS = ("kl", "kl_monte_carlo", "kl_per_dimension",
                 "posterior_weights", "posterior_loc", "posterior_scale",
                 "latents", "level_assignment", "prior_read_weights")


def check_arguments(given):
  """Raises a one-line error naming the first invalid `InverseDraw` argument
  (`arguments.check_constructor_arguments`): the constructor runs it, and
  `config_lib.validate` runs it on `config.model` without building a model."""
  arguments.check_constructor_arguments(InverseDraw.__init__, given)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InverseDraw(keras.Model):
  """Inverse DRAW: a VAE whose decoder attends over a memory of latents.

  See the module docstring for the maths. Terms, as the whole package uses
  them: a *slot* is one of the K_l latent vectors of a level (the latent
  memory); the decoder's *read weights* w_t = p(a_t | h_t)
  (`decoder_weights`) say which slots it reads before it sees element t;
  the *assignment* says which slot produced element t: the alignment
  posterior p(a_t | x_t, h_t, Z) for the "exact" and "variational"
  alignments, else the read weights (`posterior_mean` returns it).

  The model maps a batch to the per-example terms every objective needs
  (`objectives.py` turns them into the ELBO and the IWAE bound):

  ```none
  log_likelihood = sum_t mask_t log p(x_t | x_<t, Z)
  kl[l]          = KL(q(Z_l | ...) || p(Z_l | Z_{l+1}))   per slot, analytic
                   along the sampled path
  log_prior      = sum_l log p(Z_l | Z_{l+1});  log_posterior = sum_l log q(Z_l | ...)
  ```

  Args:
    observation: "text" (token ids, Categorical) or "binary_image" (pixels in
      {0, 1}, Bernoulli).
    vocab_size: text vocabulary size including the special tokens.
    image_shape: `(height, width)` of images.
    pixels_per_step: elements emitted per decoder step for images (default
      one 28-pixel row); must divide `height * width`.
    group_autoregressive_units: 0 (a step's pixels independent given its
      state) or the hidden units that make them autoregressive in order
      (`group_autoregression.py`; images only).
    embedding_dim: size of the embedded (or projected) elements.
    encoder_units: units of each direction of the BiLSTM encoder (the
      observation memory has `2 * encoder_units` per element either way).
    encoder_context: 0 (a BiLSTM over the whole observation) or c > 0: each
      element's vector sees the c elements on each side only
      (`encoders.LocalEncoder`), so a posterior window reads its own span.
    decoder_units: decoder LSTM units.
    posterior_units, prior_units: slot-writer LSTM units.
    num_slots: K per level, bottom first (an int for one level). 0 gives the
      plain autoregressive model without latents.
    latent_dim: D per level (an int applies to all).
    slots_per_token: if > 0, the bottom level uses
      `min(num_slots, ceil(slots_per_token * length))` slots per example (the
      rest are masked); 0 keeps K fixed.
    decoder_attention: spec of the decoder's read head (`attention.get`).
    posterior_attention: spec of the posterior's head over the observation.
    prior_attention: spec of the heads that read the level above (the
      hierarchical prior and the top-down posterior).
    decoder_wiring: "input_feeding" or "output_only".
    posterior_type: "recurrent" (slot writer) or "mean_pooled" (ablation).
    word_dropout: probability of replacing a decoder input token by `<unk>`
      in training (Bowman et al. 2016, https://arxiv.org/abs/1511.06349).
    min_scale: floor on posterior and prior standard deviations.
    decoder_alignment: how the decoder uses its read weights
      w_t = p(a_t | h_t) (see `alignment.py` and `Decoder`):
      "soft" reads the average `sum_k w_tk z_k` (the default);
      "exact" makes each element come from one slot a_t and marginalises it,
      `log p(x_t | ...) = logsumexp_k [log w_tk + log p(x_t | h_t, z_k)]`;
      "gumbel" reads one slot, a straight-through Gumbel-softmax sample of
      w_t at temperature `read_temperature` in training and the argmax slot
      otherwise (so evaluation bounds the likelihood of the argmax-read
      model, a deterministic decoder, not of the stochastic hard-attention
      model trained; training maximises a single-alignment estimate
      E_a[log p(x_t | z_a)] <= log E_a[p(x_t | z_a)]);
      "variational" trains the exact model's likelihood through
      `E_q[log p(x_t | h_t, z_{a_t})] - KL(q(a_t | x) || p(a_t | h_t))`
      with a_t a straight-through Gumbel-softmax sample of the inference
      network q (`AlignmentInference`) in training, and evaluates (with
      `training=False`) the exact marginal, the same model as "exact".
    decoder_normalizer: "softmax", "sparsemax" or "entmax15": how the
      decoder's read head turns scores into weights (`normalizers.normalize`).
    decoder_dropout: in training, the probability of zeroing each unit of
      the decoder's embedded inputs and of its LSTM outputs before the output
      layer (non-recurrent dropout, Zaremba et al. 2014,
      https://arxiv.org/abs/1409.2329; the language model without latents
      gets the same regularisation, so the comparison stays fair).
    slot_dropout: in training, the probability of hiding each bottom-level
      slot from the decoder (its attention renormalises over the rest; a
      row that would lose every slot keeps them all). Needs a content or
      dot-product decoder head (location and window heads assume the
      unmasked slots come first).
    posterior_mean_batchnorm_gamma: 0 (off), or gamma of BN-VAE (Zhu et
      al. 2020, https://arxiv.org/abs/2004.12585): every level's posterior
      batch-normalises its means per slot and dimension to a fixed scale
      gamma and a learned shift (`slots.PosteriorMeanBatchNorm`; batch
      statistics with `training`, moving ones otherwise), which floors the
      batch-averaged KL of each slot with a N(0, I) prior at about
      D gamma^2 / 2 nats.
    posterior_mean_batchnorm_levels: with `posterior_mean_batchnorm_gamma`,
      how many levels, from the bottom, normalise their means; 0 (the
      default) means every level. In a hierarchy, 1 forces information
      into the lowest level only and leaves the levels above to take what
      they choose, so their KL above a free-bits floor measures a choice.
    prior_alignment: how a slot of a level below the top comes from the
      level above under the prior: "soft" (a Gaussian around the read's
      blend, `slots.SlotWriter`) or "exact" (a mixture: one upper slot,
      chosen by the read weights and marginalised; that level's `kl` is
      then the Monte Carlo `log q - log p`, its `kl_per_dimension` None;
      `mixture_prior.py`).
    tie_embeddings: the decoder's output rows for its state are its input
      embedding's transpose (text, `decoder_units == embedding_dim`;
      `decoder.Decoder`).
    **kwargs: `keras.Model` arguments (`name`).

  Call arguments:
    batch: dict with `tokens` int `(batch_size, T)` (ids, `<eos>` last,
      `<pad>`=0 after) or `pixels` float `(batch_size, H, W)`.
    training: enables word, decoder and slot dropout, and the batch
      statistics of `posterior_mean_batchnorm_gamma`.
    seed: int `(2,)` stateless seed for the latent noise (and the dropouts).
    noise: optional list, per level, of `(batch_size, K_l, D_l)` standard
      normal noise; overrides `seed` for the latents.
    encoded: optional `(observation_memory, mask)` from `encode_observation`,
      to reuse one encoding across importance samples.
    sample_rows: optional `(row_offset, total_rows)`: draw the randomness for
      `total_rows` examples and use rows `row_offset:row_offset+batch_size`.
      A replica of a data-parallel step passes its slice of the global batch,
      so every example gets the noise it would get on one device.
    read_temperature: tau of the Gumbel-softmax samples of the "gumbel" and
      "variational" alignments in training (annealed by the training loop).

  Returns:
    dict: `log_likelihood` `(B,)`, `element_log_prob` `(B, T)`,
    `element_mask` `(B, T)`, `kl` list per level of `(B, K_l)` (analytic,
    masked slots 0), `kl_per_dimension` list per level of `(B, K_l, D_l)`
    (the same KL per latent dimension) and `kl_monte_carlo` (`log q - log p`
    per slot), `log_prior`
    and `log_posterior` `(B,)`, `slot_mask` list per level of `(B, K_l)`,
    `decoder_weights` `(B, T, K_0)`, `posterior_weights` list per level of
    `(B, K_l, T)`, `posterior_loc`/`posterior_scale` lists of `(B, K_l, D_l)`,
    `latents` list of samples `(B, K_l, D_l)`; per level below the top,
    `prior_read_weights` `(B, K_l, K_{l+1})` and `level_assignment` (the
    same, or with `prior_alignment="exact"` the posterior over the upper
    slot that generated each slot). The "exact" and "variational"
    alignments add `alignment_posterior` `(B, T, K_0)`,
    p(a_t = k | x_t, h_t, Z) (the word-to-latent assignment) and
    `slot_log_likelihood` `(B, T, K_0)`, log p(x_t | h_t, z_k);
    "variational" adds `alignment_inference` q(a_t | x) `(B, T, K_0)` and
    `alignment_kl` `(B, T)` (0 on padding).

  Example:

  >>> model = InverseDraw(vocab_size=20, embedding_dim=8, encoder_units=8,
  ...                     decoder_units=16, posterior_units=8, num_slots=3,
  ...                     latent_dim=4)
  >>> out = model({"tokens": tf.constant([[5, 6, 3, 0]])})
  >>> out["kl"][0].shape
  TensorShape([1, 3])
  """

  def __init__(self, observation="text", vocab_size=10002,
               image_shape=(28, 28), pixels_per_step=28, embedding_dim=256,
               encoder_units=256, encoder_context=0, decoder_units=512,
               posterior_units=256, prior_units=256, num_slots=8, latent_dim=32,
               slots_per_token=0.0, decoder_attention="content",
               posterior_attention="content", prior_attention="content",
               decoder_wiring="input_feeding", posterior_type="recurrent",
               word_dropout=0.0, min_scale=1e-4, decoder_alignment="soft",
               decoder_normalizer="softmax", slot_dropout=0.0,
               decoder_dropout=0.0, posterior_mean_batchnorm_gamma=0.0,
               posterior_mean_batchnorm_levels=0,
               prior_alignment="soft", tie_embeddings=False,
               group_autoregressive_units=0, **kwargs):
    super().__init__(**kwargs)
    check_arguments({k: v for k, v in locals().items()
                     if k not in ("self", "kwargs", "__class__")})
    slot_counts = list(num_slots) if isinstance(num_slots,
                                                (list, tuple)) else [num_slots]
    height, width = image_shape
    self.observation = observation
    self.vocab_size = int(vocab_size)
    self.image_shape = (int(height), int(width))
    self.pixels_per_step = int(pixels_per_step)
    self.embedding_dim = int(embedding_dim)
    self.encoder_units = int(encoder_units)
    self.encoder_context = int(encoder_context)
    self.decoder_units = int(decoder_units)
    self.posterior_units = int(posterior_units)
    self.prior_units = int(prior_units)
    self.num_slots = [int(k) for k in slot_counts if k > 0]
    self.num_levels = len(self.num_slots)
    self.latent_dim = [int(d) for d in arguments.per_level(
        latent_dim, max(self.num_levels, 1), "latent_dim")][:self.num_levels]
    self.slots_per_token = float(slots_per_token)
    self.decoder_attention = decoder_attention
    self.posterior_attention = posterior_attention
    self.prior_attention = prior_attention
    self.decoder_wiring = decoder_wiring
    self.posterior_type = posterior_type
    self.word_dropout = float(word_dropout)
    self.min_scale = float(min_scale)
    self.decoder_alignment = decoder_alignment
    self.decoder_normalizer = decoder_normalizer
    self.slot_dropout = float(slot_dropout)
    self.decoder_dropout = float(decoder_dropout)
    self.posterior_mean_batchnorm_gamma = float(posterior_mean_batchnorm_gamma)
    self.posterior_mean_batchnorm_levels = int(posterior_mean_batchnorm_levels)
    self.prior_alignment = prior_alignment

    text = observation == "text"
    self.element_dim = self.vocab_size if text else self.pixels_per_step
    decoder_spec = decoder_attention
    if decoder_normalizer != "softmax":
      decoder_spec = dict({"type": decoder_attention} if isinstance(
          decoder_attention, str) else decoder_attention,
                          normalizer=decoder_normalizer)
    self.decoder = decoder_lib.Decoder(
        output_dim=self.element_dim,
        input_kind="tokens" if text else "vectors",
        embedding_dim=embedding_dim, units=decoder_units,
        attention=decoder_spec if self.num_levels else None,
        wiring=decoder_wiring, alignment=decoder_alignment,
        tie_embeddings=tie_embeddings, name="decoder",
        group_units=group_autoregressive_units)
    if not self.num_levels:
      return
    if decoder_alignment == "variational":
      self.alignment_inference = alignment_lib.AlignmentInference(
          posterior_units, name="alignment_inference")
    if text:
      self.encoder_embedding = keras.layers.Embedding(
          self.vocab_size, embedding_dim, name="encoder_embedding")
    else:
      self.encoder_embedding = keras.layers.Dense(embedding_dim,
                                                  name="encoder_embedding")
    self.encoder = encoders.get(encoder_units, encoder_context)
    self.posteriors, self.priors = [], []
    for level, (k, d) in enumerate(zip(self.num_slots, self.latent_dim)):
      top = level == self.num_levels - 1
      if posterior_type == "mean_pooled":
        posterior = slots.MeanPooledPosterior(
            k, d, posterior_units, min_scale=min_scale,
            loc_batchnorm_gamma=self.batchnorm_gamma(level),
            name=f"posterior_{level}")
      else:
        heads = [posterior_attention] + ([] if top else [prior_attention])
        posterior = slots.SlotWriter(
            k, d, posterior_units, heads, min_scale=min_scale,
            loc_batchnorm_gamma=self.batchnorm_gamma(level),
            name=f"posterior_{level}")
      self.posteriors.append(posterior)
      # Named attributes too: tf.train.Checkpoint does not see into lists.
      setattr(self, f"posterior_{level}", posterior)
      if not top:
        writer = (mixture_prior.MixtureSlotPrior if prior_alignment == "exact"
                  else slots.SlotWriter)
        prior = writer(k, d, prior_units, [prior_attention],
                       min_scale=min_scale, name=f"prior_{level}")
        self.priors.append(prior)
        setattr(self, f"prior_{level}", prior)

  def build(self, input_shape=None):
    """Creates every weight by running a one-example batch through `call`.

    (Keras calls this when reviving a saved model; the batch's shape does not
    matter, weights depend only on the constructor arguments.)
    """
    del input_shape
    self.call(example_batch(self, batch_size=1, length=2))

  # -- Observations -------------------------------------------------------

  def elements(self, batch):
    """The observation as a sequence: `(targets, decoder_inputs, mask)`.

    Text: targets are the ids `(B, T)`, inputs `<bos>` followed by the
    targets shifted right. Images: targets are the pixels grouped
    `(B, T, pixels_per_step)`, inputs the previous group (zeros first).
    """
    if self.observation == "text":
      if "tokens" not in batch:
        raise ValueError("a text model needs `batch['tokens']` (int ids); "
                         f"received keys {sorted(batch)}.")
      targets = tf.cast(batch["tokens"], tf.int32)
      mask = tf.not_equal(targets, data.PAD_ID)
      bos = tf.fill([tf.shape(targets)[0], 1], data.BOS_ID)
      inputs = tf.concat([bos, targets[:, :-1]], axis=1)
      return targets, inputs, mask
    if "pixels" not in batch:
      raise ValueError("an image model needs `batch['pixels']` (B, H, W); "
                       f"received keys {sorted(batch)}.")
    pixels = tf.cast(batch["pixels"], self.compute_dtype)
    targets = tf.reshape(pixels, [tf.shape(pixels)[0], -1,
                                  self.pixels_per_step])
    inputs = tf.pad(targets[:, :-1], [[0, 0], [1, 0], [0, 0]])
    mask = tf.ones(tf.shape(targets)[:2], tf.bool)
    return targets, inputs, mask

  def element_distribution(self, logits):
    """p(x_t | ...): batch shape `(B, T)`, normalised in float32."""
    logits = tf.cast(logits, tf.float32)
    if self.observation == "text":
      return tfd.Categorical(logits=logits)
    return tfd.Independent(tfd.Bernoulli(logits=logits),
                           reinterpreted_batch_ndims=1)

  # -- Latents ------------------------------------------------------------

  def encode_observation(self, batch):
    """Observation memory `(B, T, 2 * encoder_units)` and its mask."""
    targets, _, mask = self.elements(batch)
    embedded = self.encoder_embedding(targets)
    return encoders.encode(self.encoder, embedded, mask), mask

  def slot_masks(self, element_mask):
    """Bool masks of the slots in use, per level."""
    batch_size = tf.shape(element_mask)[0]
    masks = [tf.ones([batch_size, k], tf.bool) for k in self.num_slots]
    if self.slots_per_token > 0:
      lengths = tf.reduce_sum(tf.cast(element_mask, tf.float32), axis=1)
      used = tf.clip_by_value(tf.math.ceil(self.slots_per_token * lengths),
                              1.0, float(self.num_slots[0]))
      masks[0] = tf.sequence_mask(tf.cast(used, tf.int32), self.num_slots[0])
    return masks

  def sample_noise(self, batch_size, seed):
    """Standard normal noise for every level's slots, from a stateless seed."""
    return [tf.random.stateless_normal(
        [batch_size, k, d], tf.random.experimental.stateless_fold_in(seed, l),
        dtype=self.compute_dtype)
            for l, (k, d) in enumerate(zip(self.num_slots, self.latent_dim))]

  def batchnorm_gamma(self, level):
    """BN-VAE's gamma for `level`'s posterior means (0: not normalised)."""
    levels = self.posterior_mean_batchnorm_levels or self.num_levels
    return self.posterior_mean_batchnorm_gamma if level < levels else 0.0

  def infer_latents(self, observation_memory, observation_mask, slot_masks,
                    noise, training=False):
    """Samples the posterior top-down and scores it under prior and posterior.

    `training` selects the batch statistics of the posterior means'
    normalisation (`posterior_mean_batchnorm_gamma` > 0); the slot masks
    keep masked slots out of them.

    Returns:
      dict of per-level lists, `posterior` and `prior` (`tfd.Distribution`s
      along the sampled path) and `LEVEL_OUTPUTS` (as `call` returns them);
      plus `log_prior` and `log_posterior` `(B,)`.
    """
    num_levels = self.num_levels
    levels = [None] * num_levels
    above = None
    for level in reversed(range(num_levels)):
      memories = [(observation_memory, observation_mask)]
      if above is not None:
        memories.append(above)
      q = self.posteriors[level](memories, noise[level],
                                 slot_mask=slot_masks[level],
                                 training=training)
      posterior = slots.gaussian_slots(q["loc"], q["scale"])
      mixture, level_assignment, log_p = False, None, None
      if above is None:
        prior = slots.standard_normal_slots(tf.shape(q["loc"])[0],
                                            self.num_slots[level],
                                            self.latent_dim[level])
      else:
        p = self.priors[level]([above], noise[level], given_slots=q["sample"])
        level_assignment = p["read_weights"][0]  # Soft; exact's just below.
        mixture = "mixture_logits" in p
        if mixture:
          prior = mixture_prior.mixture_slots(p["mixture_logits"], p["loc"],
                                              p["scale"])
          log_p, level_assignment = mixture_prior.log_prob_and_assignment(
              p["mixture_logits"], p["loc"], p["scale"], q["sample"])
        else:
          prior = slots.gaussian_slots(p["loc"], p["scale"])
      # Densities in float32 whatever the compute dtype (mixed precision).
      slot_weight = tf.cast(slot_masks[level], tf.float32)
      sample = tf.cast(q["sample"], tf.float32)
      log_q = posterior.log_prob(sample) * slot_weight
      if log_p is None:
        log_p = prior.log_prob(sample)
      log_p *= slot_weight
      levels[level] = dict(
          posterior=posterior, prior=prior, latents=q["sample"],
          posterior_loc=q["loc"], posterior_scale=q["scale"],
          # A Gaussian's KL to a mixture has no closed form: Monte Carlo.
          kl=(log_q - log_p if mixture else
              tfd.kl_divergence(posterior, prior) * slot_weight),
          # The same KL per latent dimension (both are Gaussians with
          # diagonal covariance): what per-dimension free bits floor.
          kl_per_dimension=None if mixture else tfd.kl_divergence(
              posterior.distribution, prior.distribution) *
          slot_weight[..., None],
          level_assignment=level_assignment,
          prior_read_weights=None if above is None else p["read_weights"][0],
          kl_monte_carlo=log_q - log_p,
          log_prior=tf.reduce_sum(log_p, -1),
          log_posterior=tf.reduce_sum(log_q, -1),
          posterior_weights=q["read_weights"][0])
      above = (q["sample"], slot_masks[level])
    result = {key: [lv[key] for lv in levels] for key in levels[0]}
    result["level_assignment"] = result["level_assignment"][:-1]
    result["prior_read_weights"] = result["prior_read_weights"][:-1]
    result["log_prior"] = tf.add_n(result["log_prior"])
    result["log_posterior"] = tf.add_n(result["log_posterior"])
    return result

  def posterior_log_prob(self, encoded, latents, slot_masks):
    """`log q(Z | x)` of given latents (all levels), `(B,)`.

    Evaluates each level's conditionals along the given slots (teacher
    forcing), e.g. to score one example's latents under another's posterior
    for the aggregate posterior in the mutual information.
    """
    observation_memory, observation_mask = encoded
    total = 0.0
    for level in range(self.num_levels):
      memories = [(observation_memory, observation_mask)]
      if level + 1 < self.num_levels:
        memories.append((latents[level + 1], slot_masks[level + 1]))
      q = self.posteriors[level](memories, latents[level],
                                 given_slots=latents[level])
      log_q = slots.gaussian_slots(q["loc"], q["scale"]).log_prob(
          tf.cast(latents[level], tf.float32))
      total += tf.reduce_sum(
          log_q * tf.cast(slot_masks[level], log_q.dtype), -1)
    return total

  def sample_prior(self, batch_size, seed):
    """Latents drawn from the (hierarchical) prior, bottom level first."""
    noise = self.sample_noise(batch_size, seed)
    latents = [None] * self.num_levels
    latents[-1] = noise[-1]
    for level in reversed(range(self.num_levels - 1)):
      above = (latents[level + 1],
               tf.ones(tf.shape(latents[level + 1])[:2], tf.bool))
      choice = {} if self.prior_alignment == "soft" else dict(
          choice_noise=tf.random.stateless_uniform(
              tf.shape(noise[level])[:2],
              tf.random.experimental.stateless_fold_in(seed, 1 << 24 | level)))
      latents[level] = self.priors[level]([above], noise[level],
                                          **choice)["sample"]
    return latents

  # -- Forward ------------------------------------------------------------

  def call(self, batch, training=False, seed=None, noise=None, encoded=None,
           sample_rows=None, read_temperature=1.0):
    if seed is None:
      seed = tf.constant([0, 0], tf.int32)
    targets, inputs, mask = self.elements(batch)
    batch_size = tf.shape(targets)[0]
    if sample_rows is None:
      row_offset, total_rows = 0, batch_size
    else:
      row_offset, total_rows = sample_rows
    rows = lambda t: t[row_offset:row_offset + batch_size]
    if training and self.word_dropout > 0:
      inputs = dropout.word_dropout(
          inputs, self.word_dropout,
          tf.random.experimental.stateless_fold_in(seed, 1 << 20),
          total_rows, rows)
    outputs = {}
    latents, slot_mask = None, None
    if self.num_levels:
      memory, memory_mask = (self.encode_observation(batch) if encoded is None
                             else encoded)
      slot_masks = self.slot_masks(mask)
      if noise is None:
        noise = [rows(n) for n in self.sample_noise(total_rows, seed)]
      inferred = self.infer_latents(memory, memory_mask, slot_masks, noise,
                                    training=training)
      latents, slot_mask = inferred["latents"][0], slot_masks[0]
      outputs.update({key: inferred[key] for key in LEVEL_OUTPUTS + (
          "log_prior", "log_posterior")}, slot_mask=slot_masks)
    else:
      # Densities are float32 in every precision (build_model).
      zeros = tf.zeros([batch_size], tf.float32)
      outputs.update({key: [] for key in LEVEL_OUTPUTS}, log_prior=zeros,
                     log_posterior=zeros, slot_mask=[])
    decoder_mask, read_noise = slot_mask, None
    if latents is not None and training:
      if self.slot_dropout > 0:
        decoder_mask = dropout.slot_dropout(slot_mask, self.slot_dropout,
                                            seed, total_rows, rows)
      if self.decoder_alignment in ("gumbel", "variational"):
        shape = tf.stack([total_rows, tf.shape(targets)[1],
                          tf.shape(latents)[1]])
        read_noise = rows(alignment_lib.gumbel_noise(
            shape, tf.random.experimental.stateless_fold_in(seed, 1 << 21),
            latents.dtype))
    dropout_masks = None
    if training and self.decoder_dropout > 0:
      dropout_masks = dropout.decoder_dropout_masks(
          self.decoder_dropout, (("inputs", self.embedding_dim),
                                 ("outputs", self.decoder_units)),
          tf.random.experimental.stateless_fold_in(seed, 1 << 23),
          total_rows, rows, tf.shape(inputs)[1], self.compute_dtype)
    # No gradient to keep logits for: the decoder scores the text in blocks.
    # (Pixels it never scores; their targets give the group offsets.)
    scored = not training and self.observation == "text"
    decoded = self.decoder(
        inputs, latents, decoder_mask,
        read_noise=read_noise if self.decoder_alignment == "gumbel" else None,
        read_temperature=read_temperature, dropout_masks=dropout_masks,
        targets=targets if scored or self.observation != "text" else None)
    if self.decoder_alignment in alignment_lib.PER_SLOT_ALIGNMENTS:
      inference = (
          self.alignment_inference(memory, latents, decoder_mask)
          if self.decoder_alignment == "variational" else None)
      log_prob, aligned = alignment_lib.aligned_log_prob(
          decoded, targets, mask, self.observation, inference=inference,
          read_noise=read_noise, read_temperature=read_temperature,
          training=training)
      outputs.update(aligned)
    elif scored:
      log_prob = decoded["log_prob"]
    elif self.observation == "text":
      # element_distribution's log_prob, without its (B, T, V) overheads.
      log_prob = likelihood.categorical_log_prob(decoded["logits"], targets)
    else:
      log_prob = self.element_distribution(decoded["logits"]).log_prob(
          targets)
    log_prob *= tf.cast(mask, log_prob.dtype)
    outputs.update(
        element_log_prob=log_prob, element_mask=mask,
        log_likelihood=tf.reduce_sum(log_prob, axis=1))
    if self.num_levels:
      outputs["decoder_weights"] = decoded["read_weights"]
      outputs["decoder_attention_state"] = decoded["attention_state"]
    return outputs

  def posterior_mean(self, batch):
    """The model along the posterior mean path: every slot at its mean (zero
    noise; the recurrent posterior feeds each mean back, the mode of its
    Gaussian conditionals). Evaluation, validation, the report and the
    exported `encode` / `reconstruct` all read this one path.

    Returns:
      `call`'s outputs (`latents` = `posterior_loc`, and `level_assignment`
      along it); with latents also `assignment` `(B, T, K_0)`, the slot that
      produced each element (the alignment posterior p(a_t | x, Z) if the
      model has one, else the read weights p(a_t | h_t)).
    """
    if not self.num_levels:
      return self(batch)
    targets, _, _ = self.elements(batch)
    batch_size = tf.shape(targets)[0]
    noise = [tf.zeros([batch_size, k, d], self.compute_dtype)
             for k, d in zip(self.num_slots, self.latent_dim)]
    outputs = self(batch, noise=noise)
    outputs["assignment"] = outputs.get("alignment_posterior",
                                        outputs["decoder_weights"])
    return outputs

  # -- Generation ---------------------------------------------------------

  def generate(self, latents, max_length, temperature=1.0, seed=None,
               slot_mask=None, greedy=False, batch_size=None):
    """Decodes elements from bottom-level latents; see `generation.generate`."""
    return generation.generate(self, latents, max_length,
                               temperature=temperature, seed=seed,
                               slot_mask=slot_mask, greedy=greedy,
                               batch_size=batch_size)

  def beam_search(self, latents, max_length, beam_size, slot_mask=None,
                  length_normalize=True, batch_size=None):
    """The most probable text given bottom-level latents, by beam search;
    see `generation.beam_search`."""
    return generation.beam_search(self, latents, max_length, beam_size,
                                  slot_mask=slot_mask,
                                  length_normalize=length_normalize,
                                  batch_size=batch_size)

  def get_config(self):
    config = super().get_config()
    config.update(
        observation=self.observation, vocab_size=self.vocab_size,
        image_shape=self.image_shape, pixels_per_step=self.pixels_per_step,
        num_slots=self.num_slots or 0, latent_dim=self.latent_dim or 1,
        **{key: getattr(self, key) for key in (
            "embedding_dim", "encoder_units", "encoder_context",
            "decoder_units",
            "posterior_units", "prior_units", "slots_per_token",
            "decoder_attention", "posterior_attention", "prior_attention",
            "decoder_wiring", "posterior_type", "word_dropout", "min_scale",
            "decoder_alignment", "decoder_normalizer", "slot_dropout",
            "decoder_dropout", "posterior_mean_batchnorm_gamma",
            "posterior_mean_batchnorm_levels", "prior_alignment")},
        tie_embeddings=self.decoder.tie_embeddings,
        group_autoregressive_units=self.decoder.group_units)
    return config


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def build_model(model_config, vocab_size=None, name="inverse_draw",
                precision="float32"):
  """`InverseDraw(**model_config)`, plus the vocabulary size for text.

  Args:
    model_config: the `config.model` section (a ConfigDict or dict).
    vocab_size: the vocabulary's size (text only).
    name: the model's name.
    precision: a Keras dtype policy of `PRECISIONS` for every layer:
      "mixed_*" keeps the variables in float32 and computes matmuls and
      recurrences in bfloat16 or float16; the log-softmaxes, densities, KLs
      and the loss stay float32 (`element_distribution`,
      `alignment.aligned_log_prob`, `slots.gaussian_slots`).
  """
  if precision not in PRECISIONS:
    raise ValueError(f"`precision` must be one of {PRECISIONS}, received "
                     f"{precision!r}.")
  kwargs = (model_config.to_dict() if hasattr(model_config, "to_dict")
            else dict(model_config))
  if kwargs.get("observation", "text") == "text":
    kwargs["vocab_size"] = vocab_size
  # Sub-layers take the global policy when they are constructed.
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(precision)
  try:
    return InverseDraw(**kwargs, name=name)
  finally:
    keras.config.set_dtype_policy(previous)


def example_batch(model, batch_size=2, length=5):
  """A tiny batch that builds every weight of `model`."""
  if model.observation == "text":
    tokens = np.full([batch_size, length], len(data.SPECIAL_TOKENS), np.int32)
    tokens[:, -1] = data.EOS_ID
    return {"tokens": tf.constant(tokens)}
  return {"pixels": tf.zeros([batch_size, *model.image_shape])}
