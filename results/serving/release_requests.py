"""One request to release/ptb/5000 in a fresh process: wall time and peak RSS.

  for r in score_200 score_201 encode_1000 ...; do
    .venv/bin/python results/serving/release_requests.py $r >> results/serving/release_requests.jsonl
  done

Imports only TensorFlow and TF Text, as a server does. The requests are
those issue 25 reproduced against the previous export (which took over
16 GB for `score` of 2,000 sentences, 7.8 GB for `encode` of 2,000, 6.1 GB
and 60 s for `sample` of 100,000, 78 s for `decode` with max_length
100,000).
"""

import json
import os
import resource
import sys
import time

import tensorflow as tf
import tensorflow_text  # pylint: disable=unused-import

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def main(name):
  model = tf.saved_model.load(os.path.join(ROOT, "release", "ptb", "5000"))
  signatures = model.signatures
  with open(os.path.join(ROOT, "data", "ptb", "ptb.test.txt")) as f:
    lines = [line.strip() for line in f if line.strip()]
  sentences = lambda n: tf.constant((lines * 3)[:n])
  ints = lambda v: tf.constant(v, tf.int32)
  latents = lambda n: tf.random.stateless_normal([n, 8, 16], [1, 2])
  decode_options = lambda length: dict(
      max_length=ints([length]), temperature=tf.constant([1.0]),
      seed=ints([]), beam_size=ints([]))
  calls = {
      "score_200": lambda: signatures["score"](sentences=sentences(200)),
      "score_201": lambda: signatures["score"](sentences=sentences(201)),
      "score_2000": lambda: signatures["score"](sentences=sentences(2000)),
      "score_1000_S10": lambda: signatures["score_with_options"](
          sentences=sentences(1000), num_samples=ints([10]), seed=ints([])),
      "encode_1000": lambda: signatures["encode"](sentences=sentences(1000)),
      "reconstruct_100": lambda: signatures["reconstruct"](
          sentences=sentences(100)),
      "sample_1000": lambda: signatures["sample"](num_samples=ints(1000)),
      "sample_100000": lambda: signatures["sample"](num_samples=ints(100000)),
      "decode_1000_len200": lambda: signatures["decode_with_options"](
          latents=latents(1000), **decode_options(200)),
      "decode_len100000": lambda: signatures["decode_with_options"](
          latents=latents(1), **decode_options(100000)),
  }
  loaded_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  start = time.time()
  try:
    outputs = calls[name]()
    result = {key: value.shape.as_list() for key, value in outputs.items()}
  except tf.errors.InvalidArgumentError as error:
    message = [line for line in error.message.splitlines() if "`" in line]
    result = "refused: " + message[0].split("] [")[0].split("[", 1)[1]
  print(json.dumps(dict(
      request=name, seconds=round(time.time() - start, 1),
      peak_rss_mib=round(resource.getrusage(
          resource.RUSAGE_SELF).ru_maxrss / 1024),
      rss_after_load_mib=round(loaded_mib), result=result)))


if __name__ == "__main__":
  main(sys.argv[1])
