"""Unigram F1 of the released model's reconstructions of the PTB test split.

  .venv/bin/python results/reconstruction/score_release.py [N] > results/reconstruction/release.json

N: the first N test sentences only (default: all 3,761).

Loads release/ptb/5000 with TensorFlow and TF Text only, reconstructs every
test sentence through its `reconstruct_with_options` signature (the
posterior mean decoded by beam search, and greedily) and scores each
against its input with `inverse_draw_tf.reconstruction.unigram_f1`
(`<eos>` excluded, `<unk>` a word).
"""

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_text  # pylint: disable=unused-import

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from inverse_draw_tf import reconstruction  # pylint: disable=g-import-not-at-top

BATCH = 200


def main():
  model = tf.saved_model.load(os.path.join(ROOT, "release", "ptb", "5000"))
  reconstruct = model.signatures["reconstruct_with_options"]
  encode = model.signatures["encode"]
  with open(os.path.join(ROOT, "data", "ptb", "ptb.test.txt")) as f:
    sentences = [line.strip() for line in f if line.strip()]
  if len(sys.argv) > 1:
    sentences = sentences[:int(sys.argv[1])]
  result = dict(model="release/ptb/5000", split="test",
                num_sentences=len(sentences))
  for name, beam in (("beam_4", 4), ("greedy", 1)):
    start = time.time()
    scores, exact, examples, distinct = [], 0, [], set()
    for i in range(0, len(sentences), BATCH):
      batch = tf.constant(sentences[i:i + BATCH])
      # The input as the model tokenised it (lower case, <unk>).
      originals = encode(sentences=batch)["tokens"].numpy()
      out = reconstruct(sentences=batch, max_length=tf.constant([], tf.int32),
                        beam_size=tf.constant([beam]))["tokens"].numpy()
      for original, decoded in zip(originals, out):
        words = lambda row: [w.decode() for w in row
                             if w and w != b"<eos>"]
        reference, hypothesis = words(original), words(decoded)
        scores.append(reconstruction.unigram_f1(reference, hypothesis))
        exact += reference == hypothesis
        distinct.add(tuple(hypothesis))
        if len(examples) < 5:
          examples.append(dict(original=" ".join(reference),
                               reconstruction=" ".join(hypothesis)))
    result[name] = dict(beam_size=beam, f1=float(np.mean(scores)),
                        exact=exact / len(scores),
                        distinct_reconstructions=len(distinct),
                        seconds=round(time.time() - start, 1),
                        examples=examples)
  print(json.dumps(result, indent=1))


if __name__ == "__main__":
  main()
