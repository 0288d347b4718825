"""TensorBoard summaries written during training.

`write_summaries` writes a record of scalars (training or validation metrics)
under a prefix; `TrainingSummaries` draws the word-to-slot maps and the
reconstructions of a few fixed validation examples at every validation, with
the report's `collect` and `figures` modules.
"""

import html

import numpy as np
import tensorflow as tf

from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf.report import collect
from inverse_draw_tf.report import figures


def write_summaries(writer, step, metrics, prefix):
  """Writes each number of `metrics` as scalar `<prefix>/<key>` (a list as
  `<prefix>/<key>/<index>`, a list of lists one level deeper; None is
  skipped). Passed as float64: a Python
  float is converted to float32 first, which raises for a value out of its
  range, such as an autoencoder's perplexity exp(-ELBO / tokens); stored,
  such a value reads as inf."""
  def write(name, value):
    if isinstance(value, (list, tuple)):
      for index, item in enumerate(value):
        write(f"{name}/{index}", item)
    elif value is not None:
      tf.summary.scalar(name, np.asarray(value, np.float64))

  with writer.as_default(step=step):
    for key, value in metrics.items():
      write(f"{prefix}/{key}", value)


class TrainingSummaries:
  """Attention maps and reconstructions of a fixed set of validation
  examples, written to TensorBoard at every validation.

  Writes `attention/example_<i>` images (the word-to-slot map of example
  i) and a `reconstructions` text table (original, greedy reconstruction
  from the posterior mean, sampled reconstruction) for text, or a
  `reconstructions` image for images. Does nothing for a model without
  latents or with `num_examples=0`.

  Args:
    model: the `InverseDraw` being trained.
    inputs: the run's `data.Input`.
    num_examples: how many validation examples (the first ones).
    seed: seed of the sampled reconstruction.
  """

  def __init__(self, model, inputs, num_examples, seed=0):
    if isinstance(num_examples, bool) or not isinstance(
        num_examples, int) or num_examples < 0:
      raise config_lib.ConfigError(
          "`config.train.summary_examples` must be an integer >= 0 (0 "
          f"disables), received {num_examples!r}.")
    self.model = model
    self.inputs = inputs
    self.num_examples = num_examples
    self.seed = seed
    self.batch = None
    self.active = num_examples > 0 and model.num_levels > 0
    self.mean_path = collect.make_mean_path_fn(model) if self.active else None
    self.elements_info = None

  def _fixed_batch(self):
    dataset = self.inputs.eval_dataset("valid", self.num_examples)
    return next(iter(dataset))

  def write(self, writer, step):
    """Writes the summaries of the current weights at `step`."""
    if not self.active:
      return
    model = self.model
    if self.batch is None:
      self.batch = self._fixed_batch()
      tokens = (data.load_vocabulary(self.inputs.vocabulary.vocabulary_path)
                if model.observation == "text" else None)
      self.elements_info = collect.Elements(model, tokens)
    elements_info = self.elements_info
    stats = collect.collect(model, [self.batch], elements_info,
                            num_shown=self.num_examples,
                            mean_path=self.mean_path)
    shown = stats["shown"]
    loc = np.stack([e["posterior_loc"][0] for e in shown])
    masks = np.stack([e["slot_mask"][0] for e in shown])
    # Room for a reconstruction a little longer than its original.
    max_length = (max(e["length"] for e in shown) + 5
                  if elements_info.text else elements_info.steps)
    seed = tf.constant([self.seed, step], tf.int32)
    sampled_latents = model(self.batch, seed=seed)["latents"][0]
    greedy = _generate_eager(model, loc, masks, max_length, 0.0, seed)
    sampled = _generate_eager(model, sampled_latents, masks, max_length, 1.0,
                              seed)
    with writer.as_default(step=step):
      for index, example in enumerate(shown):
        png = figures.figure_png(figures.draw_attention_map(
            collect.labels_of(elements_info, example),
            example["decoder_weights"], example["posterior_weights"][0],
            example["posterior_weights"][1] if model.num_levels > 1 else None,
            title=f"validation example {index}, step {step}",
            element=elements_info.noun), dpi=80)
        tf.summary.image(f"attention/example_{index}",
                         tf.io.decode_png(png, channels=3)[None])
      if elements_info.text:
        tf.summary.text("reconstructions", _markdown_table(
            elements_info, shown, greedy, sampled))
      else:
        images = elements_info.to_images
        grid = np.concatenate([
            np.stack([e["pixels"] for e in shown]),
            images(greedy["elements"]), images(sampled["elements"])], 2)
        tf.summary.image("reconstructions",
                         tf.constant(grid[..., None], tf.float32),
                         max_outputs=len(shown))


def _generate_eager(model, latents, masks, max_length, temperature, seed):
  """`model.generate` run eagerly, as NumPy arrays."""
  out = model.generate(tf.convert_to_tensor(latents, model.compute_dtype),
                       max_length, temperature=temperature, seed=seed,
                       slot_mask=tf.constant(masks))
  return {k: v.numpy() for k, v in out.items()}


def markdown_escape(text):
  """`text` safe in TensorBoard's Markdown: HTML (`<unk>`) and the Markdown
  characters PTB words contain (`\\*`, `\\/`) escaped."""
  text = html.escape(text, quote=False)
  for char in "\\`*_|[]":
    text = text.replace(char, "\\" + char)
  return text


def _markdown_table(elements_info, shown, greedy, sampled):
  """Original / greedy / sampled sentences as a Markdown table, each word
  followed by the slot that produced it (`market:2`)."""
  cell = lambda words, slots: " ".join(
      f"{markdown_escape(w)}:{k}" for w, k in zip(words, slots)) or "-"
  lines = ["| # | original | greedy | sampled |", "|---|---|---|---|"]
  for i, (example, g, s) in enumerate(zip(
      shown, collect.decoded_words(elements_info, greedy),
      collect.decoded_words(elements_info, sampled))):
    original = cell(*collect.words_of(elements_info, example))
    lines.append(f"| {i} | {original} | {cell(*g)} | {cell(*s)} |")
  lines.append("")
  lines.append("Each word is followed by the slot that produced it "
               "(the decoder's argmax).")
  return "\n".join(lines)
