"""Loads an exported SavedModel the way a server would and calls every
signature. Imports only tensorflow and tensorflow_text (never our package),
so it proves the export stands on its own.

  python tests/serving_client.py SAVED_MODEL_DIR REQUEST_JSON

REQUEST_JSON maps signature names to their inputs (lists, with a "dtype"
entry per input: {"score": {"sentences": [[...], "string"], ...}}); prints
one JSON object with every output, its dtype and shape.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import tensorflow_text  # pylint: disable=unused-import,g-import-not-at-top


def _bytes(value):
  """Strings to bytes; lone surrogates ("\\udce9") become raw bytes (0xE9),
  so a request can carry invalid UTF-8."""
  if isinstance(value, list):
    return [_bytes(v) for v in value]
  return value.encode("utf-8", "surrogateescape")


def main(saved_model_dir, request_path):
  loaded = tf.saved_model.load(saved_model_dir)
  with open(request_path) as f:
    requests = json.load(f)
  results = {"signatures": sorted(loaded.signatures),
             "modules": sorted(name for name in sys.modules
                               if name.startswith("inverse_draw"))}
  for name, inputs in requests.items():
    signature = loaded.signatures[name.split("#")[0]]
    kwargs = {key: tf.constant(_bytes(value) if dtype == "string" else value,
                               dtype=dtype)
              for key, (value, dtype) in inputs.items()}
    try:
      outputs = signature(**kwargs)
    except tf.errors.InvalidArgumentError as error:
      results[name] = {"error": error.message}
      continue
    results[name] = {
        key: {"dtype": value.dtype.name, "shape": value.shape.as_list(),
              "value": [v.decode("utf-8", "replace") if isinstance(v, bytes)
                        else v for v in value.numpy().ravel().tolist()]}
        for key, value in outputs.items()}
  print(json.dumps(results))


if __name__ == "__main__":
  main(*sys.argv[1:])
