"""Warm starts: a model's decoder from a trained language model, its
inference network from a trained run with latents, or the whole model from
a trained run of the same model (fine-tuning).

An Inverse DRAW decoder contains a language model: the same embedding, LSTM
and output layer, plus rows that take the read vector r_t (or the slot z_k)
into the LSTM gates (input feeding) and into the logits:

```none
gates_t  = [e(x_{t-1}); r_{t-1}; h_{t-1}] W + b      W = [W_e; W_r; W_h]
logits_t = [h_t; r_t] W_o + b_o                      W_o = [W_oh; W_or]
```

`warm_start_decoder` copies the language model's W_e, W_h, b, W_oh, b_o
and sets W_r = 0 and W_or = 0. The warm-started decoder then computes the
language model's distribution for every Z: at step 0 p(x | Z) and so the
marginal p(x) are the language model's exactly (its importance-sampled
bounds sit at or below it, by how far q(Z | x) is from the prior), and
training starts from the language model rather than from noise. Li et
al. 2020 (Optimus, https://arxiv.org/abs/2004.04092)
warm-start a text VAE's decoder from a pretrained language model the same
way; the fair control is the language model trained for the same extra
steps (`configs/ptb_lm.py:decoder_dropout=0.3,budget=warm`).

With `train.freeze_init_from` the copied weights stay the language model's
for the whole run (`frozen_gradient_masks`): only the encoder, posterior,
prior, attention and the read rows W_r, W_or learn. The decoder's own
continuation cannot then drift from the language model (continuing it for
6,000 steps made it 0.1 nats worse on test), so the latents have to earn
whatever they change.

`warm_start_inference` copies the other half: the inference network q(Z | x)
of a trained run with latents, i.e. the encoder (its embedding and BiLSTM)
and every level's posterior slot writer; the decoder, the priors, the
variational alignment's q(a_t | x, Z) (it infers the decoder's reads) and
everything else keep their fresh initialisation. This is Li et al. 2019
(https://arxiv.org/abs/1909.00868): train the model as an autoencoder first
(`objective.kl_schedule="zero"`), then start a new run from its inference
network with a fresh decoder and free bits, so training starts from a
posterior that already encodes the sentence rather than from a collapsed
one. The copy reads the source's best checkpoint, which for an autoencoder
is the one of best validation reconstruction (`train_lib.validation_score`),
as Li et al. take it. The two copies touch disjoint
weights, so `train.init_from` and `train.init_inference_from` combine: the
decoder from a language model, the inference network from an autoencoder.

`warm_start_model` (`train.init_model_from`) copies every weight of a run of
the same model: a second stage that trains a converged model further under
another objective or schedule, e.g. the IWAE bound (Burda et al. 2016,
`objective.training_samples`) after the ELBO, with a fresh optimizer and
step counter. The model's arguments must equal the source's, so the copy
is the source's function exactly at step 0.
"""

import os

import tensorflow as tf

from inverse_draw_tf import checkpoints
from inverse_draw_tf import config_lib

# Shapes that must agree between the language model's decoder and this one.
_MATCHING = ("input_kind", "output_dim", "embedding_dim", "units",
             "tie_embeddings", "group_units")
# Model arguments that must agree between two models for their inference
# networks to be interchangeable, besides every `posterior_*` argument.
_INFERENCE_MATCHING = ("observation", "vocab_size", "pixels_per_step",
                       "embedding_dim", "encoder_units", "encoder_context",
                       "num_slots", "latent_dim")
# The one posterior argument a copy may add (`warm_start_inference`).
_BATCHNORM = "posterior_mean_batchnorm_gamma"
# The one read-head argument a copy may change: a window's floor on its
# precision adds no weight (`attention.WindowAttention`).
_MIN_WIDTH = "min_width"


def _without_min_width(spec):
  """An attention spec with any window floor left out, for comparison."""
  if isinstance(spec, dict):
    return {key: value for key, value in spec.items() if key != _MIN_WIDTH}
  return spec


def warm_start_decoder(decoder, language_model_decoder):
  """Copies a language model's decoder weights into `decoder` (see above).

  Args:
    decoder: a built `model.Decoder`, with or without latents, any wiring.
    language_model_decoder: a built `model.Decoder` without latents.

  Raises:
    ValueError: the source reads latents, or a size differs (one line).
  """
  source = language_model_decoder
  if source.head is not None:
    raise ValueError(
        "cannot warm-start from a decoder that reads latents; pass a "
        "language model's run (model.num_slots=0).")
  for name in _MATCHING:
    ours, theirs = getattr(decoder, name), getattr(source, name)
    if ours != theirs:
      raise ValueError(
          f"cannot warm-start: the language model's decoder has {name}="
          f"{theirs!r} but this model's has {name}={ours!r}; train the "
          "language model with the same sizes and vocabulary.")
  for target, value in zip(_group_weights(decoder) + decoder.embed.weights,
                           _group_weights(source) + source.embed.weights):
    target.assign(value)
  cell = source.lstm.cell
  read_dim = decoder.read_dim  # 0 without latents (set by `build`).
  if decoder.lstm is not None:  # No read vector in the gates.
    decoder.lstm.cell.kernel.assign(cell.kernel)
    decoder.lstm.cell.recurrent_kernel.assign(cell.recurrent_kernel)
    decoder.lstm.cell.bias.assign(cell.bias)
  else:
    read_rows = tf.zeros([read_dim, 4 * decoder.units], decoder.kernel.dtype)
    decoder.kernel.assign(
        tf.concat([cell.kernel, read_rows, cell.recurrent_kernel], 0))
    decoder.bias.assign(cell.bias)
  # Tied, the state's output rows are the embedding copied above.
  if decoder.tie_embeddings:
    if decoder.read_output_kernel is not None:
      decoder.read_output_kernel.assign(
          tf.zeros_like(decoder.read_output_kernel))
    decoder.output_bias.assign(source.output_bias)
    return
  output = decoder.output_layer
  read_rows = tf.zeros([read_dim, decoder.output_dim], output.kernel.dtype)
  output.kernel.assign(
      tf.concat([source.output_layer.kernel, read_rows], 0))
  output.bias.assign(source.output_layer.bias)


def _group_weights(decoder):
  """The group autoregression's weights (images; none without it): they
  read only the decoder's state and the step's pixels, so they copy whole."""
  layer = decoder.group_autoregression
  return [] if layer is None else list(layer.weights)


def frozen_gradient_masks(model):
  """Gradient masks that keep the weights `warm_start_decoder` copies fixed.

  Adam moves a weight whose gradient is always zero by exactly zero (both
  moments stay zero), so multiplying the gradients by these masks before
  clipping freezes the copied language model and leaves the rest training.

  Args:
    model: a built `InverseDraw`.

  Returns:
    A list aligned with `model.trainable_variables`: for a copied variable a
    float mask of its shape, 0 on copied entries and 1 on the read rows; for
    every other variable `None` (trained as usual).
  """
  decoder = model.decoder
  read_dim = decoder.read_dim
  masks = {}

  def rows(variable, copied_before, copied_after):
    """1 on the `read_dim` rows between two copied blocks, 0 elsewhere."""
    columns = variable.shape[1]
    return tf.concat([tf.zeros([copied_before, columns]),
                      tf.ones([read_dim, columns]),
                      tf.zeros([copied_after, columns])], 0)

  copied = list(decoder.embed.weights) + _group_weights(decoder)
  if decoder.lstm is not None:
    copied += [decoder.lstm.cell.kernel, decoder.lstm.cell.recurrent_kernel,
               decoder.lstm.cell.bias]
  else:
    kernel = decoder.kernel
    masks[id(kernel)] = rows(
        kernel, kernel.shape[0] - read_dim - decoder.units, decoder.units)
    copied.append(decoder.bias)
  if decoder.tie_embeddings:  # The read rows are a weight of their own.
    copied.append(decoder.output_bias)
  else:
    output = decoder.output_layer
    masks[id(output.kernel)] = rows(output.kernel,
                                    output.kernel.shape[0] - read_dim, 0)
    copied.append(output.bias)
  for variable in copied:
    masks[id(variable)] = tf.zeros(variable.shape)
  return [masks.get(id(v)) for v in model.trainable_variables]


def inference_layers(model):
  """The layers that compute q(Z | x) in a model with latents: the encoder's
  embedding, its BiLSTM, then every level's posterior, bottom first."""
  return [model.encoder_embedding, model.encoder] + list(model.posteriors)


def warm_start_inference(model, source_model):
  """Copies `source_model`'s inference network into `model` (see above).

  Every weight of `inference_layers` (non-trainable ones too) takes the
  source's value; every other weight of `model` is left as it is. A model
  with BN-VAE (`posterior_mean_batchnorm_gamma` > 0) may copy from a source
  without it: its normalisation's weights stay fresh. From a source with the
  same BN-VAE, the normalisation (shift and moving statistics) is copied.
  A window read head may floor its precision (`min_width`) where the
  source's did not, or at another value: the weights are the same, and the
  copied window's precision is the source's plus the floor's change.

  Args:
    model: a built `InverseDraw` with latents.
    source_model: a built `InverseDraw` with latents, the same vocabulary and
      the same encoder and posterior arguments.

  Raises:
    ValueError: either model has no latents, or an argument or weight shape
      of the inference network differs (one line).
  """
  for which, candidate in (("the source run's model", source_model),
                           ("this model", model)):
    if not candidate.num_levels:
      raise ValueError(
          f"cannot copy the inference network: {which} has no latents "
          "(model.num_slots=0); copy between runs with slots, e.g. from "
          "one trained with objective.kl_schedule='zero'.")
  ours, theirs = model.get_config(), source_model.get_config()
  # BN-VAE on top of a source without it: the normalisation of the means
  # starts fresh (shift 0, statistics from the first batches), the rest is
  # copied; it maps the source's means to the fixed scale, affinely.
  adds_batchnorm = (not theirs.get(_BATCHNORM) and bool(ours.get(_BATCHNORM)))
  names = _INFERENCE_MATCHING + tuple(
      sorted(name for name in set(ours) | set(theirs)
             if name.startswith("posterior_") and
             not (adds_batchnorm and name == _BATCHNORM)))
  if model.num_levels > 1:  # The top-down posteriors read the level above.
    names += ("prior_attention",)
  for name in names:
    if _without_min_width(ours.get(name)) != _without_min_width(
        theirs.get(name)):
      raise ValueError(
          f"cannot copy the inference network: the source run's model has "
          f"{name}={theirs.get(name)!r} but this model's has "
          f"{name}={ours.get(name)!r}; copy from a run with the same "
          "vocabulary, encoder and posterior settings.")
  for layer, source_layer in zip(inference_layers(model),
                                 inference_layers(source_model)):
    # Only a normalisation the source lacks stays fresh; one both have (a
    # BN-VAE autoencoder's, say) is copied with its moving statistics.
    batchnorm = getattr(layer, "loc_batchnorm", None)
    fresh = ({id(v) for v in batchnorm.weights}
             if adds_batchnorm and batchnorm is not None else set())
    weights = [v for v in layer.weights if id(v) not in fresh]
    shapes = [tuple(v.shape) for v in weights]
    source_shapes = [tuple(v.shape) for v in source_layer.weights]
    if shapes != source_shapes:
      raise ValueError(
          f"cannot copy the inference network: the source's `{layer.name}` "
          f"has weights of shapes {source_shapes} but this model's has "
          f"{shapes}; copy from a run with the same vocabulary, encoder and "
          "posterior settings.")
    for target, value in zip(weights, source_layer.weights):
      target.assign(value)


def warm_start_model(model, source_model):
  """Copies every weight of `source_model` into `model` (see above).

  Args:
    model: a built `InverseDraw`.
    source_model: a built `InverseDraw` with the same `get_config()`.

  Raises:
    ValueError: an argument differs (one line, naming the first).
  """
  ours, theirs = model.get_config(), source_model.get_config()
  # The arguments that say what kind of model it is first: a language model
  # as the source is refused for its slots, not for a derived size.
  first = ("observation", "vocab_size", "num_slots")
  for name in first + tuple(sorted(set(ours) | set(theirs))):
    if ours.get(name) != theirs.get(name):
      raise ValueError(
          f"cannot fine-tune: the source run's model has {name}="
          f"{theirs.get(name)!r} but this model's has {name}="
          f"{ours.get(name)!r}; fine-tune with the source run's model "
          "config.")
  # Equal arguments build the same weights in the same order.
  for target, value in zip(model.weights, source_model.weights):
    target.assign(value)


def warm_start_from_run(model, source_workdir, vocabulary_path=None):
  """Warm-starts `model.decoder` from the best checkpoint of an LM's run.

  Args:
    model: a built `InverseDraw`.
    source_workdir: the workdir of a language model trained by bin/train.
    vocabulary_path: this run's vocab.txt (text), checked against the
      source's: the embedding and output rows are per token id.

  Returns:
    `(checkpoint_path, step)` of the restored language model.

  Raises:
    config_lib.ConfigError: no such run, a different vocabulary, or what
      `warm_start_decoder` refuses (one line each).
  """
  return _copy_from_run(
      lambda source: warm_start_decoder(model.decoder, source.decoder),
      source_workdir, vocabulary_path, key="init_from",
      source_kind="a language model", which="best")


def warm_start_inference_from_run(model, source_workdir,
                                  vocabulary_path=None):
  """Copies the inference network of a run's best checkpoint into `model`.

  Args:
    model: a built `InverseDraw` with latents.
    source_workdir: the workdir of a run with latents trained by bin/train
      (for Li et al.'s recipe, one with `objective.kl_schedule="zero"`).
    vocabulary_path: this run's vocab.txt (text), checked against the
      source's: the encoder's embedding rows are per token id.

  Returns:
    `(checkpoint_path, step)` of the restored run.

  Raises:
    config_lib.ConfigError: no such run, a different vocabulary, or what
      `warm_start_inference` refuses (one line each).
  """
  return _copy_from_run(
      lambda source: warm_start_inference(model, source), source_workdir,
      vocabulary_path, key="init_inference_from",
      source_kind="a run with latents", which="best")


def warm_start_model_from_run(model, source_workdir, vocabulary_path=None):
  """Copies every weight of a run's best checkpoint into `model`.

  Args:
    model: a built `InverseDraw`.
    source_workdir: the workdir of a run of the same model trained by
      bin/train.
    vocabulary_path: this run's vocab.txt (text), checked against the
      source's.

  Returns:
    `(checkpoint_path, step)` of the restored run.

  Raises:
    config_lib.ConfigError: no such run, a different vocabulary, or what
      `warm_start_model` refuses (one line each).
  """
  return _copy_from_run(
      lambda source: warm_start_model(model, source), source_workdir,
      vocabulary_path, key="init_model_from",
      source_kind="a run of the same model", which="best")


def _copy_from_run(copy, source_workdir, vocabulary_path, *, key,
                   source_kind, which):
  """Restores the run in `source_workdir` and calls `copy(source_model)`.

  Args:
    copy: copies what it needs from the restored `InverseDraw`; raises a
      one-line ValueError for a source that does not fit.
    source_workdir, vocabulary_path: see `warm_start_from_run`.
    key: the `config.train` key that names the run, for the messages.
    source_kind: what the run must be, for the messages.
    which: the checkpoint to restore, "best" or "latest".

  Returns:
    `(checkpoint_path, step)` of the restored run.

  Raises:
    config_lib.ConfigError: one line naming `train.<key>`.
  """
  if not tf.io.gfile.exists(os.path.join(source_workdir, "config.json")):
    raise config_lib.ConfigError(
        f"`train.{key}` is `{source_workdir}`, which has no config.json: "
        f"pass the workdir of {source_kind} trained by bin/train.")
  _, _, source, path, step = checkpoints.restore(source_workdir, which=which)
  if vocabulary_path is not None:
    source_vocabulary = os.path.join(source_workdir, "vocab.txt")
    if _read(source_vocabulary) != _read(vocabulary_path):
      raise config_lib.ConfigError(
          f"`train.{key}`: {source_vocabulary} differs from "
          f"{vocabulary_path}; warm-start from a run with the same "
          "input config (vocabulary).")
  try:
    copy(source)
  except ValueError as error:
    # bin/train reports a ConfigError as one line, naming the key.
    raise config_lib.ConfigError(f"`train.{key}`: {error}") from None
  return path, step


def _read(path):
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    return f.read()
