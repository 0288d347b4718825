"""The model's training-time dropouts, drawn per example row.

Each mask is drawn for `total_rows` examples from a stateless seed and then
sliced by `rows` to the rows this call computes, so a replica of a
data-parallel step drops exactly what one device would on the global batch
(see `InverseDraw.call`'s `sample_rows`).
"""

import tensorflow as tf

from inverse_draw_tf import data


def word_dropout(inputs, rate, seed, total_rows, rows):
  """Replaces each decoder input token by `<unk>` with probability `rate`
  (Bowman et al. 2016, https://arxiv.org/abs/1511.06349); `<bos>` stays."""
  shape = tf.stack([total_rows, tf.shape(inputs)[1]])
  keep = rows(tf.random.stateless_uniform(shape, seed)) >= rate
  # <bos> always survives: it tells the decoder where the sentence starts.
  keep = tf.logical_or(keep, tf.equal(inputs, data.BOS_ID))
  return tf.where(keep, inputs, tf.fill(tf.shape(inputs), data.UNK_ID))


def decoder_dropout_masks(rate, widths, seed, total_rows, rows, length,
                          dtype):
  """`{name: (B, length, width)}` keep masks scaled by 1 / (1 - rate), one
  per `(name, width)` in `widths` (see `Decoder`'s `dropout_masks`)."""
  keep = 1.0 - rate
  masks = {}
  for index, (key, width) in enumerate(widths):
    uniform = tf.random.stateless_uniform(
        tf.stack([total_rows, length, width]),
        tf.random.experimental.stateless_fold_in(seed, index))
    masks[key] = rows(tf.cast(uniform < keep, dtype) / keep)
  return masks


def slot_dropout(slot_mask, rate, seed, total_rows, rows):
  """Hides each slot of `slot_mask` `(B, K)` with probability `rate`."""
  shape = tf.stack([total_rows, tf.shape(slot_mask)[1]])
  keep = rows(tf.random.stateless_uniform(
      shape, tf.random.experimental.stateless_fold_in(seed, 1 << 22))) >= rate
  kept = tf.logical_and(slot_mask, keep)
  # A row that would lose every slot keeps them all: the decoder must read
  # something, and an all-masked memory reads zeros.
  return tf.where(tf.reduce_any(kept, -1, keepdims=True), kept, slot_mask)
