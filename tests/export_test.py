"""SavedModel export, checked the way TensorFlow Serving would use it: loaded
in a separate process that imports only tensorflow and tensorflow_text."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from configs import common
from inverse_draw_tf import checkpoints
from inverse_draw_tf import data
from inverse_draw_tf import export
from inverse_draw_tf import objectives
from inverse_draw_tf import train_lib
import subprocess_utils as sp

SENTENCES = ["the company said it expects sales to rise",
             "stocks fell sharply in heavy trading",
             "mr. smith is chairman of the board",
             "prices of bonds were mixed"]


def overfit_config(path, runlocal_steps=400):
  config = common.get_config()
  config.seed = 1
  config.input.update(dataset="text", train_path=path, valid_path=path,
                      test_path=path, batch_size=4, eval_batch_size=4,
                      max_length=20, bucket_boundaries=())
  config.model.update(embedding_dim=32, encoder_units=32, decoder_units=64,
                      posterior_units=32, num_slots=3, latent_dim=8,
                      word_dropout=0.0, decoder_wiring="output_only")
  config.optimizer.update(schedule="constant", learning_rate=3e-3)
  # Four sentences need log 4 nats; a floor of 1 nat per slot keeps the
  # posterior from collapsing before the decoder learns to read it.
  config.objective.update(kl_schedule="none", free_bits=1.0)
  config.train.update(num_steps=runlocal_steps, log_every=100,
                      eval_every=runlocal_steps, eval_batches=1,
                      checkpoint_every=runlocal_steps)
  config.evals.update(num_samples=10, chunk_size=10, batch_size=4)
  return config


def run_client(saved_model_dir, requests, directory):
  request_path = os.path.join(directory, "requests.json")
  with open(request_path, "w") as f:
    json.dump(requests, f)
  done = subprocess.run(
      [sys.executable, os.path.join(sp.REPO_ROOT, "tests", "serving_client.py"),
       saved_model_dir, request_path], capture_output=True, text=True,
      timeout=300, check=False, env=sp.environment(),
      cwd="/")  # Not the repo: our package must not be importable by path.
  if done.returncode:
    raise AssertionError(done.stderr[-3000:])
  return json.loads(done.stdout.strip().splitlines()[-1])


class TextExportTest(tf.test.TestCase):

  RAW = "The Company SAID it expects sales to rise."

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tf.compat.v1.test.get_temp_dir()
    corpus = os.path.join(cls.root, "corpus.txt")
    with open(corpus, "w") as f:
      f.write("\n".join(SENTENCES) + "\n")
    cls.workdir = os.path.join(cls.root, "overfit")
    train_lib.train(overfit_config(corpus), cls.workdir)
    cls.export_dir = os.path.join(cls.root, "export")
    cls.path = export.export_run(cls.workdir, cls.export_dir)
    cls.client = run_client(cls.path, {
        "score": {"sentences": [SENTENCES + [cls.RAW], "string"],
                  "num_samples": [[20], "int32"]},
        "serving_default": {"sentences": [SENTENCES[:2], "string"]},
        "encode": {"sentences": [SENTENCES, "string"]},
        "encode#raw": {"sentences": [[SENTENCES[0], cls.RAW], "string"]},
        "reconstruct": {"sentences": [SENTENCES, "string"]},
        "sample": {"num_samples": [[3], "int32"],
                   "temperature": [[0.7], "float32"], "seed": [[], "int32"]},
        "score#empty": {"sentences": [[], "string"],
                        "num_samples": [[], "int32"]},
        "score#zero_samples": {"sentences": [["a b"], "string"],
                               "num_samples": [[0], "int32"]},
        "score#bad_bytes": {"sentences": [["caf\udce9 \x00 prices"], "string"],
                            "num_samples": [[], "int32"]},
    }, cls.root)

  def test_layout_and_version(self):
    self.assertEqual(os.path.basename(self.path), "400")  # The step.
    self.assertEqual(sorted(os.listdir(self.export_dir)), ["400"])
    self.assertTrue(os.path.exists(os.path.join(self.path, "assets",
                                                "vocab.txt")))
    with self.assertRaisesRegex(export.ExportError, r"already exists; pass "
                                r"--overwrite"):
      export.export_run(self.workdir, self.export_dir)
    export.export_run(self.workdir, self.export_dir, version=7)
    export.export_run(self.workdir, self.export_dir, version=7, overwrite=True)
    self.assertEqual(sorted(os.listdir(self.export_dir)), ["400", "7"])

  def test_client_imports_only_tensorflow(self):
    self.assertEqual(self.client["modules"], [])
    self.assertEqual(self.client["signatures"],
                     ["decode", "encode", "reconstruct", "sample", "score",
                      "serving_default"])

  def test_score_matches_the_in_process_model(self):
    _, inputs, model, _, _ = checkpoints.restore(self.workdir)
    # The same five sentences: the noise of each row depends on the batch.
    batch = {"tokens": inputs.vocabulary.encode(
        tf.constant(SENTENCES + [self.RAW]))}
    seed = tf.constant(export.SERVING_SEED)
    nll = -objectives.iwae_bound(model, batch, 20, seed=seed,
                                 chunk_size=export.IWAE_CHUNK_SIZE)
    terms = objectives.evidence_lower_bound(model, batch, seed=seed)
    score = self.client["score"]
    self.assertEqual(score["nll"]["dtype"], "float32")
    self.assertEqual(score["nll"]["shape"], [5])
    self.assertEqual(score["num_tokens"]["dtype"], "int32")
    self.assertAllClose(score["nll"]["value"], nll, atol=1e-5, rtol=1e-5)
    self.assertAllClose(score["elbo"]["value"], terms["elbo"], atol=1e-5,
                        rtol=1e-5)
    self.assertAllClose(score["kl"]["value"], terms["kl"], atol=1e-5,
                        rtol=1e-5)
    self.assertEqual(score["num_tokens"]["value"][:4],
                     [len(s.split()) + 1 for s in SENTENCES])
    # Raw text is normalised in-graph exactly as in training.
    tokens = self.client["encode#raw"]["tokens"]
    self.assertEqual(tokens["shape"], [2, 9])
    self.assertEqual(tokens["value"][:9], tokens["value"][9:])
    self.assertEqual(sorted(self.client["serving_default"]),
                     ["elbo", "kl", "nll", "num_tokens"])

  def test_float16_weights_halve_the_size_and_keep_the_scores(self):
    export_dir = os.path.join(self.root, "export_float16")
    path = export.export_run(self.workdir, export_dir,
                             weights_dtype="float16")
    size = lambda p: os.path.getsize(os.path.join(
        p, "variables", "variables.data-00000-of-00001"))
    self.assertBetween(size(path) / size(self.path), 0.45, 0.55)
    client = run_client(path, {
        "score": {"sentences": [SENTENCES + [self.RAW], "string"],
                  "num_samples": [[20], "int32"]},
        "encode": {"sentences": [SENTENCES, "string"]}}, self.root)
    self.assertEqual(client["modules"], [])
    self.assertEqual(client["score"]["nll"]["dtype"], "float32")
    # The same noise, weights rounded to 11 significant bits.
    self.assertAllClose(client["score"]["nll"]["value"],
                        self.client["score"]["nll"]["value"], atol=0.05)
    self.assertNotAllClose(client["score"]["nll"]["value"],
                           self.client["score"]["nll"]["value"], atol=1e-7,
                           rtol=0)
    self.assertAllClose(client["encode"]["posterior_mean"]["value"],
                        self.client["encode"]["posterior_mean"]["value"],
                        atol=0.02)
    with self.assertRaisesRegex(export.ExportError, r"`weights_dtype` must "
                                r"be one of \('float32', 'float16'\)"):
      export.export_run(self.workdir, export_dir, version=1,
                        weights_dtype="int8")

  def test_encode_outputs(self):
    encoded = self.client["encode"]
    self.assertEqual(encoded["posterior_mean"]["shape"], [4, 3, 8])
    self.assertEqual(encoded["posterior_stddev"]["shape"], [4, 3, 8])
    self.assertAllGreater(encoded["posterior_stddev"]["value"], 0.0)
    self.assertEqual(encoded["tokens"]["dtype"], "string")
    width = encoded["tokens"]["shape"][1]
    tokens = np.array(encoded["tokens"]["value"]).reshape(4, width)
    self.assertEqual(list(tokens[1][:7]),
                     SENTENCES[1].split() + ["<eos>"])
    self.assertEqual(tokens[1][7:].tolist(), [""] * (width - 7))
    attention = np.array(encoded["posterior_attention"]["value"]).reshape(
        4, 3, width)
    self.assertAllClose(attention.sum(-1), np.ones([4, 3]), atol=1e-5)
    self.assertEqual(encoded["assignment"]["shape"], [4, width, 3])
    assignment = np.array(encoded["assignment"]["value"]).reshape(4, width, 3)
    # Every word, <eos> included, is assigned to the slots with mass 1.
    self.assertAllClose(assignment[1, :7].sum(-1), np.ones(7), atol=1e-5)

  def test_decode_of_encode_round_trips_the_overfit_sentences(self):
    encoded = self.client["encode"]
    latents = np.array(encoded["posterior_mean"]["value"]).reshape(4, 3, 8)
    decoded = run_client(self.path, {"decode": {
        "latents": [latents.tolist(), "float32"],
        "max_length": [[15], "int32"], "temperature": [[0.0], "float32"],
        "seed": [[], "int32"]}}, self.create_tempdir().full_path)["decode"]
    self.assertEqual(decoded["sentences"]["value"], SENTENCES)
    self.assertEqual(decoded["attention"]["shape"], [4, 15, 3])
    attention = np.array(decoded["attention"]["value"]).reshape(4, 15, 3)
    lengths = [len(s.split()) + 1 for s in SENTENCES]
    for row, length in enumerate(lengths):
      self.assertAllClose(attention[row, :length].sum(-1), np.ones(length),
                          atol=1e-5)
    self.assertEqual(self.client["reconstruct"]["reconstructions"]["value"],
                     SENTENCES)

  def test_sample(self):
    sample = self.client["sample"]
    self.assertEqual(sample["sentences"]["shape"], [3])
    self.assertEqual(sample["latents"]["shape"], [3, 3, 8])
    self.assertEqual(sample["attention"]["shape"][::2], [3, 3])

  def test_bad_input_gives_clear_errors(self):
    self.assertIn("`sentences` must hold at least one sentence",
                  self.client["score#empty"]["error"])
    self.assertIn("`num_samples` must be a positive integer",
                  self.client["score#zero_samples"]["error"])
    bad = self.client["score#bad_bytes"]
    self.assertTrue(np.isfinite(bad["nll"]["value"][0]))
    decoded = run_client(self.path, {"decode": {
        "latents": [np.zeros([1, 2, 8]).tolist(), "float32"],
        "max_length": [[], "int32"], "temperature": [[], "float32"],
        "seed": [[], "int32"]}}, self.create_tempdir().full_path)["decode"]
    self.assertIn("`latents` must have shape [N, 3, 8]", decoded["error"])

  def test_graph_uses_only_stock_serving_ops(self):
    types = export.graph_op_types(self.path)
    self.assertEmpty(types & export.PYTHON_OPS)
    text_ops = types - _core_ops(types)
    self.assertTrue(text_ops, "the tokeniser must be in the graph")
    self.assertLessEqual(text_ops, export.SERVING_TEXT_OPS,
                         f"ops outside core TF and tensorflow-text 2.12.1: "
                         f"{sorted(text_ops - export.SERVING_TEXT_OPS)}")

  def test_saved_model_cli(self):
    # TF's own CLI with the tensorflow-text ops registered. `run` loads the
    # SavedModel in a TF1 session, as TensorFlow Serving does.
    cli = [sys.executable, os.path.join(sp.REPO_ROOT, "bin",
                                        "saved_model_cli")]
    shown = subprocess.run(cli + ["show", "--dir", self.path, "--all"],
                           capture_output=True, text=True, check=False,
                           env=sp.environment())
    self.assertEqual(shown.returncode, 0, shown.stderr[-2000:])
    for name in ("score", "encode", "decode", "reconstruct", "sample"):
      self.assertIn(f"signature_def['{name}']", shown.stdout)
    samples = os.path.join(self.create_tempdir().full_path, "samples.npy")
    np.save(samples, np.array([5], np.int32))
    ran = subprocess.run(
        cli + ["run", "--dir", self.path, "--tag_set", "serve",
               "--signature_def", "score", "--input_exprs",
               "sentences=['the company said it expects sales to rise']",
               "--inputs", f"num_samples={samples}"],
        capture_output=True, text=True, check=False, env=sp.environment())
    self.assertEqual(ran.returncode, 0, ran.stderr[-2000:])
    self.assertRegex(ran.stdout, r"Result for output key nll:\n\[\d+\.\d+\]")

  def test_tfsm_layer_loads_an_endpoint(self):
    layer = keras.layers.TFSMLayer(self.path, call_endpoint="encode")
    out = layer(tf.constant(SENTENCES[:2]))
    self.assertEqual(out["posterior_mean"].shape, (2, 3, 8))

  def test_predict_request_matches_the_signature(self):
    loaded = tf.saved_model.load(self.path)
    signature = loaded.signatures["score"]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "inverse_draw"
    request.model_spec.signature_name = "score"
    request.inputs["sentences"].CopyFrom(
        tf.make_tensor_proto(SENTENCES[:2], dtype=tf.string))
    request.inputs["num_samples"].CopyFrom(
        tf.make_tensor_proto([10], dtype=tf.int32))
    specs = signature.structured_input_signature[1]
    self.assertEqual(set(request.inputs), set(specs))
    for name, proto in request.inputs.items():
      self.assertEqual(tf.dtypes.as_dtype(proto.dtype), specs[name].dtype)
    # What a server does with it: tensors from the protos into the signature.
    outputs = signature(**{name: tf.constant(tf.make_ndarray(proto))
                           for name, proto in request.inputs.items()})
    self.assertEqual(outputs["nll"].shape, (2,))
    parsed = predict_pb2.PredictRequest.FromString(
        request.SerializeToString())
    self.assertEqual(parsed.model_spec.signature_name, "score")


def _core_ops(op_types):
  """Those of `op_types` that TensorFlow alone registers (asked in a process
  that never imports tensorflow-text)."""
  script = ("import json, sys\n"
            "import tensorflow as tf\n"
            "from tensorflow.python.framework import op_def_registry\n"
            "names = json.loads(sys.argv[1])\n"
            "print(json.dumps([n for n in names if op_def_registry.get(n)]))")
  done = subprocess.run(
      [sys.executable, "-c", script, json.dumps(sorted(op_types))],
      capture_output=True, text=True, check=True, env=sp.environment(),
      cwd="/")
  return set(json.loads(done.stdout.strip().splitlines()[-1]))


class ImageExportTest(tf.test.TestCase):

  @pytest.mark.slow  # 34 s on 2 idle cores; `make test-all` runs it.
  def test_image_signatures(self):
    root = self.create_tempdir().full_path
    from configs import mnist  # pylint: disable=g-import-not-at-top
    config = mnist.get_config("runlocal")
    config.train.update(num_steps=2, eval_every=2, checkpoint_every=2)
    workdir = os.path.join(root, "mnist")
    train_lib.train(config, workdir)
    path = export.export_run(workdir, os.path.join(root, "export"))
    images = data.load_binarized_mnist("test")[:2]
    out = run_client(path, {
        "score": {"images": [images.astype(np.float32).tolist(), "float32"],
                  "num_samples": [[4], "int32"]},
        "score_uint8": {"images": [(images * 255).tolist(), "uint8"],
                        "num_samples": [[4], "int32"]},
        "encode": {"images": [images.astype(np.float32).tolist(), "float32"]},
        "sample": {"num_samples": [[2], "int32"], "temperature": [[], "float32"],
                   "seed": [[3], "int32"]},
        "serving_default": {"images": [images.astype(np.float32).tolist(),
                                       "float32"]},
    }, root)
    latents = np.array(out["encode"]["posterior_mean"]["value"]).reshape(
        2, 8, 16)
    decoded = run_client(path, {"decode": {
        "latents": [latents.tolist(), "float32"],
        "temperature": [[0.0], "float32"], "seed": [[], "int32"]}},
                         root)["decode"]
    self.assertEqual(decoded["images"]["shape"], [2, 28, 28])
    self.assertEqual(decoded["attention"]["shape"], [2, 28, 8])
    self.assertAllInSet(decoded["images"]["value"], [0.0, 1.0])
    self.assertEqual(out["signatures"], ["decode", "encode", "sample", "score",
                                         "score_uint8", "serving_default"])
    self.assertAllClose(out["score"]["nll"]["value"],
                        out["score_uint8"]["nll"]["value"], atol=1e-5)
    self.assertAllGreater(out["score"]["nll"]["value"], 0.0)
    self.assertEqual(out["encode"]["posterior_attention"]["shape"], [2, 8, 28])
    self.assertEqual(out["sample"]["images"]["shape"], [2, 28, 28])
    self.assertAllInSet(out["sample"]["images"]["value"], [0.0, 1.0])


if __name__ == "__main__":
  tf.test.main()
