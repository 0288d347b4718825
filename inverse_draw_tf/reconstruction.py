"""How much of a sentence its latents carry: decode them and compare.

A sentence is encoded to its posterior mean and decoded by beam search (or
greedily); the reconstruction is scored against the input by unigram F1,
the harmonic mean of the clipped word overlap's precision and recall, with
`<eos>` and `<pad>` excluded and `<unk>` counted as a word. A language
model (no latents) "reconstructs" every sentence as its own greedy output,
which is the baseline: F1 above it is information the latents carry.
"""

import collections
import time

import numpy as np
import tensorflow as tf

from inverse_draw_tf import data

EXCLUDED_IDS = frozenset({data.PAD_ID, data.EOS_ID, data.BOS_ID})


def words_of(ids):
  """A row of token ids -> the words before `<eos>`, specials removed."""
  words = []
  for token in np.asarray(ids).tolist():
    if token == data.EOS_ID:
      break
    if token not in EXCLUDED_IDS:
      words.append(token)
  return words


def unigram_f1(reference, hypothesis):
  """Unigram F1 of two word sequences (any hashable words).

  Overlap counts each word at most as often as it occurs in both (clipped
  counts). Two empty sequences score 1; one empty sequence scores 0.
  """
  if not reference and not hypothesis:
    return 1.0
  overlap = sum((collections.Counter(reference) &
                 collections.Counter(hypothesis)).values())
  if not overlap:
    return 0.0
  precision = overlap / len(hypothesis)
  recall = overlap / len(reference)
  return 2 * precision * recall / (precision + recall)


def make_reconstruct_fn(model, max_length, beam_size):
  """A compiled `tokens (B, T) -> decoded ids (B, L)`: beam search (greedy
  when `beam_size` is 1) from the posterior mean, or the model's own greedy
  output for a model without latents."""
  if beam_size < 1:
    raise ValueError(f"`beam_size` must be >= 1, received {beam_size}.")

  @tf.function(reduce_retracing=True)
  def reconstruct(tokens):
    if not model.num_levels:
      return model.generate(None, max_length, greedy=True,
                            batch_size=tf.shape(tokens)[0])["elements"]
    latents = model.posterior_mean({"tokens": tokens})["posterior_loc"][0]
    if beam_size == 1:
      return model.generate(latents, max_length, greedy=True)["elements"]
    return model.beam_search(latents, max_length, beam_size)["elements"]

  return reconstruct


def evaluate_reconstructions(model, dataset, *, beam_size=4, max_length=None,
                             max_examples=None, num_kept=20, tokens=None,
                             log_fn=None):
  """Mean unigram F1 of each sentence's reconstruction against it.

  Args:
    model: a text `InverseDraw` (with or without latents).
    dataset: batches with `tokens` `(B, T)`.
    beam_size: beam width (1: greedy).
    max_length: the decoding limit (default: each batch's width + 5, room
      for a reconstruction a little longer than the longest input).
    max_examples: stop after this many sentences.
    num_kept: the first sentences returned with their reconstructions.
    tokens: optional vocabulary (id -> word list): the kept sentences as
      space-joined words instead of id lists.
    log_fn: optional progress logger.

  Returns:
    dict: `f1` (mean), `exact` (share reproduced word for word),
    `num_examples`, `beam_size`, `seconds`, `examples` (up to `num_kept`
    dicts of `original` and `reconstruction` id lists and `f1`).
  """
  if model.observation != "text":
    raise ValueError("reconstruction F1 compares words: it needs a text "
                     "model.")
  functions = {}
  scores, exact, kept = [], 0, []
  start = time.time()
  for batch in dataset:
    ids = batch["tokens"]
    if max_examples is not None:
      ids = ids[:max_examples - len(scores)]
    limit = max_length or int(ids.shape[1]) + 5
    if limit not in functions:
      functions[limit] = make_reconstruct_fn(model, limit, beam_size)
    decoded = functions[limit](ids).numpy()
    for original, reconstruction in zip(ids.numpy(), decoded):
      reference, hypothesis = words_of(original), words_of(reconstruction)
      score = unigram_f1(reference, hypothesis)
      scores.append(score)
      exact += reference == hypothesis
      if len(kept) < num_kept:
        show = ((lambda row: " ".join(tokens[i] for i in row))
                if tokens is not None else list)
        kept.append(dict(original=show(reference),
                         reconstruction=show(hypothesis), f1=score))
    if log_fn:
      log_fn(f"reconstructed {len(scores)} sentences, mean F1 "
             f"{np.mean(scores):.3f}")
    if max_examples is not None and len(scores) >= max_examples:
      break
  if not scores:
    raise ValueError("the split yielded no sentences to reconstruct.")
  return dict(f1=float(np.mean(scores)), exact=exact / len(scores),
              num_examples=len(scores), beam_size=beam_size,
              seconds=time.time() - start, examples=kept)
