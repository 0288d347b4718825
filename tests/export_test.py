"""SavedModel export, checked the way TensorFlow Serving would use it: loaded
in a separate process that imports only tensorflow and tensorflow_text."""

import json
import os
import re
import subprocess
import sys

from absl.testing import parameterized
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
from inverse_draw_tf import serving
from inverse_draw_tf import train_lib
import subprocess_utils as sp

SENTENCES = ["the company said it expects sales to rise",
             "stocks fell sharply in heavy trading",
             "mr. smith is chairman of the board",
             "prices of bonds were mixed"]


TEXT_SIGNATURES = ["decode", "decode_with_options", "encode", "reconstruct",
                   "reconstruct_with_options", "sample", "sample_with_options",
                   "score", "score_with_options", "serving_default"]


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


def train_two_steps_and_export(config, root):
  """A run of `config` trained for two steps under `root`, exported; its
  SavedModel's path."""
  config.train.update(num_steps=2, eval_every=2, checkpoint_every=2)
  workdir = os.path.join(root, "run")
  train_lib.train(config, workdir)
  return export.export_run(workdir, os.path.join(root, "export"))


class TextExportTest(tf.test.TestCase):

  RAW = "The Company SAID it expects sales to rise."
  SCORE_REQUEST = {"sentences": [SENTENCES + [RAW], "string"],
                   "num_samples": [[20], "int32"], "seed": [[3], "int32"]}

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
        "score_with_options": cls.SCORE_REQUEST,
        # The same sentences in another batch, order and company.
        "score_with_options#shuffled": {
            "sentences": [[SENTENCES[2], "a b c", SENTENCES[0]], "string"],
            "num_samples": [[20], "int32"], "seed": [[3], "int32"]},
        "score_with_options#other_seed": {
            "sentences": [SENTENCES[:1], "string"],
            "num_samples": [[20], "int32"], "seed": [[4], "int32"]},
        "score": {"sentences": [SENTENCES[:2], "string"]},
        "score#repeated": {"sentences": [[SENTENCES[1]] * 4, "string"]},
        "serving_default": {"sentences": [SENTENCES[:2], "string"]},
        "encode": {"sentences": [SENTENCES, "string"]},
        "encode#raw": {"sentences": [[SENTENCES[0], cls.RAW], "string"]},
        "reconstruct": {"sentences": [SENTENCES, "string"]},
        "sample_with_options": {
            "num_samples": [[3], "int32"], "temperature": [[0.7], "float32"],
            "seed": [[], "int32"], "max_length": [[], "int32"]},
        "sample_with_options#more": {
            "num_samples": [[70], "int32"], "temperature": [[0.7], "float32"],
            "seed": [[], "int32"], "max_length": [[], "int32"]},
        "sample": {"num_samples": [2, "int32"]},
        "score#empty": {"sentences": [[], "string"]},
        "score_with_options#zero_samples": {
            "sentences": [["a b"], "string"], "num_samples": [[0], "int32"],
            "seed": [[], "int32"]},
        "score#bad_bytes": {"sentences": [["caf\udce9 \x00 prices"],
                                          "string"]},
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
    self.assertEqual(self.client["signatures"], TEXT_SIGNATURES)

  def test_score_matches_the_in_process_model(self):
    _, inputs, model, _, _ = checkpoints.restore(self.workdir)
    # By hand, one sentence at a time, each with its own noise: the seed
    # folded with a fingerprint of the sentence's tokens.
    nll, elbo, kl = [], [], []
    for sentence in SENTENCES + [self.RAW]:
      tokens = inputs.vocabulary.encode(tf.constant([sentence]))
      seed = serving.example_seed(tf.constant([3, 0]), tokens[0])
      nll.append(-objectives.iwae_bound(
          model, {"tokens": tokens}, 20, seed=seed,
          chunk_size=serving.IWAE_CHUNK_SIZE)[0])
      terms = objectives.evidence_lower_bound(
          model, {"tokens": tokens},
          seed=tf.random.experimental.stateless_fold_in(seed, 1))
      elbo.append(terms["elbo"][0])
      kl.append(terms["kl"][0])
    terms = dict(elbo=elbo, kl=kl)
    score = self.client["score_with_options"]
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

  def test_a_score_depends_on_the_sentence_seed_and_samples_alone(self):
    scores = lambda name: self.client[name]["nll"]["value"]
    alone = scores("score_with_options")
    shuffled = scores("score_with_options#shuffled")
    # Whatever its batch, its place in it and its company.
    self.assertEqual(shuffled[0], alone[2])
    self.assertEqual(shuffled[2], alone[0])
    repeated = scores("score#repeated")
    self.assertEqual(repeated, [repeated[0]] * 4)
    self.assertEqual(scores("score")[1], repeated[0])
    self.assertEqual(scores("serving_default"), scores("score"))
    # A different seed draws different noise.
    self.assertNotEqual(scores("score_with_options#other_seed")[0], alone[0])

  def test_float16_weights_halve_the_size_and_keep_the_scores(self):
    export_dir = os.path.join(self.root, "export_float16")
    path = export.export_run(self.workdir, export_dir,
                             weights_dtype="float16")
    size = lambda p: os.path.getsize(os.path.join(
        p, "variables", "variables.data-00000-of-00001"))
    self.assertBetween(size(path) / size(self.path), 0.45, 0.55)
    client = run_client(path, {
        "score_with_options": {
            "sentences": [SENTENCES + [self.RAW], "string"],
            "num_samples": [[20], "int32"], "seed": [[3], "int32"]},
        "encode": {"sentences": [SENTENCES, "string"]}}, self.root)
    self.assertEqual(client["modules"], [])
    score = client["score_with_options"]["nll"]
    self.assertEqual(score["dtype"], "float32")
    # The same noise, weights rounded to 11 significant bits.
    float32_score = self.client["score_with_options"]["nll"]["value"]
    self.assertAllClose(score["value"], float32_score, atol=0.05)
    self.assertNotAllClose(score["value"], float32_score, atol=1e-7, rtol=0)
    self.assertAllClose(client["encode"]["posterior_mean"]["value"],
                        self.client["encode"]["posterior_mean"]["value"],
                        atol=0.02)
    with self.assertRaisesRegex(export.ExportError, r"`weights_dtype` must "
                                r"be one of \('float32', 'float16'\)"):
      export.export_run(self.workdir, export_dir, version=1,
                        weights_dtype="int8")

  @pytest.mark.slow  # A whole export again; `make test-all` runs it.
  def test_upgrade_re_exports_an_export_from_its_own_weights(self):
    path = export.upgrade_export(self.path, self.workdir,
                                 os.path.join(self.root, "upgraded"), 9)
    self.assertEqual(os.path.basename(path), "9")
    upgraded = tf.saved_model.load(path).signatures
    encoded = upgraded["encode"](sentences=tf.constant(SENTENCES))
    self.assertAllClose(
        tf.reshape(encoded["posterior_mean"], [-1]),
        self.client["encode"]["posterior_mean"]["value"], atol=1e-5)
    scored = upgraded["score_with_options"](
        sentences=tf.constant(SENTENCES + [self.RAW]),
        num_samples=tf.constant([20]), seed=tf.constant([3]))
    self.assertAllClose(scored["nll"],
                        self.client["score_with_options"]["nll"]["value"],
                        atol=1e-5)
    # A run whose model the stored weights do not fit.
    other = os.path.join(self.root, "other_run")
    os.makedirs(other, exist_ok=True)
    with open(os.path.join(self.workdir, "config.json")) as f:
      config = json.load(f)
    config["model"]["latent_dim"] = 6
    with open(os.path.join(other, "config.json"), "w") as f:
      json.dump(config, f)
    with self.assertRaisesRegex(export.ExportError,
                                r"do not fit the model of .*other_run"):
      export.upgrade_export(self.path, other,
                            os.path.join(self.root, "upgraded"), 10)

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
    options = lambda **values: {
        name: [[values[name]] if name in values else [], dtype]
        for name, dtype in (("max_length", "int32"),
                            ("temperature", "float32"), ("seed", "int32"),
                            ("beam_size", "int32"))}
    decoded = run_client(self.path, {
        "decode_with_options": dict(latents=[latents.tolist(), "float32"],
                                    **options(max_length=15,
                                              temperature=0.0)),
        "decode_with_options#beam": dict(latents=[latents.tolist(),
                                                  "float32"],
                                         **options(beam_size=3)),
        "decode_with_options#cut": dict(latents=[latents.tolist(), "float32"],
                                        **options(max_length=3,
                                                  temperature=0.0)),
        "decode": {"latents": [latents.tolist(), "float32"]},
    }, self.create_tempdir().full_path)
    greedy = decoded["decode_with_options"]
    self.assertEqual(greedy["sentences"]["value"], SENTENCES)
    self.assertEqual(decoded["decode_with_options#beam"]["sentences"]["value"],
                     SENTENCES)
    # The longest output (7 words and <eos>) sets the width.
    lengths = [len(s.split()) + 1 for s in SENTENCES]
    self.assertEqual(greedy["attention"]["shape"], [4, max(lengths), 3])
    attention = np.array(greedy["attention"]["value"]).reshape(
        4, max(lengths), 3)
    for row, length in enumerate(lengths):
      self.assertAllClose(attention[row, :length].sum(-1), np.ones(length),
                          atol=1e-5)
    # A length limit ends every sentence in <eos>.
    cut = np.array(decoded["decode_with_options#cut"]["tokens"]["value"])
    self.assertEqual(cut.reshape(4, 3)[:, -1].tolist(), ["<eos>"] * 4)
    self.assertEqual(decoded["decode"]["sentences"]["shape"], [4])
    self.assertEqual(self.client["reconstruct"]["reconstructions"]["value"],
                     SENTENCES)

  def test_sample(self):
    sample = self.client["sample_with_options"]
    self.assertEqual(sample["sentences"]["shape"], [3])
    self.assertEqual(sample["latents"]["shape"], [3, 3, 8])
    self.assertEqual(sample["attention"]["shape"][::2], [3, 3])
    # Drawn in chunks: sample j depends on j and the seed, not on how many.
    more = self.client["sample_with_options#more"]
    self.assertEqual(more["latents"]["shape"], [70, 3, 8])
    self.assertEqual(more["sentences"]["value"][:3],
                     sample["sentences"]["value"])
    self.assertEqual(self.client["sample"]["sentences"]["shape"], [2])

  def test_bad_input_gives_clear_errors(self):
    self.assertIn("`sentences` must hold at least one sentence",
                  self.client["score#empty"]["error"])
    self.assertIn("`num_samples` must be between 1 and 5000",
                  self.client["score_with_options#zero_samples"]["error"])
    bad = self.client["score#bad_bytes"]
    self.assertTrue(np.isfinite(bad["nll"]["value"][0]))
    latents = lambda value, rows=1: [np.full([rows, 3, 8], value).tolist(),
                                     "float32"]
    decode = lambda z, max_length=(), temperature=(), beam_size=(): {
        "latents": z, "max_length": [list(max_length), "int32"],
        "temperature": [list(temperature), "float32"],
        "seed": [[], "int32"], "beam_size": [list(beam_size), "int32"]}
    sentences = lambda count: {"sentences": [["a b"] * count, "string"]}
    errors = run_client(self.path, {
        "decode#shape": {"latents": [np.zeros([1, 2, 8]).tolist(),
                                     "float32"]},
        "decode#nan": {"latents": latents(np.nan)},
        "decode#inf": {"latents": latents(np.inf)},
        "decode_with_options#nan_temperature": decode(
            latents(0.0), temperature=[np.nan]),
        "decode_with_options#zero_length": decode(latents(0.0), [0]),
        "decode_with_options#negative_length": decode(latents(0.0), [-1]),
        "decode_with_options#long": decode(latents(0.0), [201]),
        "decode_with_options#beam": decode(latents(0.0), beam_size=[17]),
        "decode#rows": {"latents": latents(0.0, rows=1001)},
        "score#many": sentences(1001),
        "encode#many": sentences(1001),
        "reconstruct#many": sentences(1001),
        "score_with_options#samples": dict(
            sentences(1), num_samples=[[5001], "int32"], seed=[[], "int32"]),
        "score_with_options#work": dict(
            sentences(101), num_samples=[[1000], "int32"],
            seed=[[], "int32"]),
        "sample#many": {"num_samples": [1001, "int32"]},
        "sample#none": {"num_samples": [0, "int32"]},
    }, self.create_tempdir().full_path)
    expected = {
        "decode#shape": "`latents` must have shape [N, 3, 8]",
        "decode#nan": "`latents` must be finite (no NaN or inf)",
        "decode#inf": "`latents` must be finite (no NaN or inf)",
        "decode_with_options#nan_temperature":
            "`temperature` must be finite (no NaN or inf)",
        "decode_with_options#zero_length":
            "`max_length` must be between 1 and 200",
        "decode_with_options#negative_length":
            "`max_length` must be between 1 and 200",
        "decode_with_options#long": "`max_length` must be between 1 and 200",
        "decode_with_options#beam": "`beam_size` must be between 1 and 16",
        "decode#rows": "`latents` holds at most 1000 latent rows a call",
        "score#many": "`sentences` holds at most 1000 sentences a call",
        "encode#many": "`sentences` holds at most 1000 sentences a call",
        "reconstruct#many": "`sentences` holds at most 1000 sentences a call",
        "score_with_options#samples": "`num_samples` must be between 1 and "
                                      "5000",
        "score_with_options#work": "examples x `num_samples` must be at most "
                                   "20000 a call",
        "sample#many": "`num_samples` must be between 1 and 1000",
        "sample#none": "`num_samples` must be between 1 and 1000",
    }
    for name, message in expected.items():
      self.assertIn("error", errors[name], name)
      self.assertIn(message, errors[name]["error"], name)

  def test_graph_uses_only_stock_serving_ops(self):
    # No XLA cluster either (the likelihood's is left out of exports).
    self.assertEqual(export.xla_compiled_functions(self.path), [])
    types = export.graph_op_types(self.path)
    self.assertEmpty(types & serving.PYTHON_OPS)
    text_ops = types - _core_ops(types)
    self.assertTrue(text_ops, "the tokeniser must be in the graph")
    self.assertLessEqual(text_ops, serving.SERVING_TEXT_OPS,
                         f"ops outside core TF and tensorflow-text 2.12.1: "
                         f"{sorted(text_ops - serving.SERVING_TEXT_OPS)}")

  def test_saved_model_cli(self):
    # TF's own CLI with the tensorflow-text ops registered. `run` loads the
    # SavedModel in a TF1 session, as TensorFlow Serving does.
    cli = [sys.executable, os.path.join(sp.REPO_ROOT, "bin",
                                        "saved_model_cli")]
    shown = subprocess.run(cli + ["show", "--dir", self.path, "--all"],
                           capture_output=True, text=True, check=False,
                           env=sp.environment())
    self.assertEqual(shown.returncode, 0, shown.stderr[-2000:])
    for name in TEXT_SIGNATURES:
      self.assertIn(f"signature_def['{name}']", shown.stdout)
    # The essential input alone is enough, in a TF1 session as in TF Serving.
    ran = subprocess.run(
        cli + ["run", "--dir", self.path, "--tag_set", "serve",
               "--signature_def", "score", "--input_exprs",
               "sentences=['the company said it expects sales to rise']"],
        capture_output=True, text=True, check=False, env=sp.environment())
    self.assertEqual(ran.returncode, 0, ran.stderr[-2000:])
    self.assertRegex(ran.stdout, r"Result for output key nll:\n\[\d+\.\d+\]")
    # Options from .npy files: --input_exprs takes Python literals only,
    # which would not be int32.
    directory = self.create_tempdir().full_path
    samples = os.path.join(directory, "samples.npy")
    np.save(samples, np.array([5], np.int32))
    seed = os.path.join(directory, "seed.npy")
    np.save(seed, np.array([], np.int32))
    ran = subprocess.run(
        cli + ["run", "--dir", self.path, "--tag_set", "serve",
               "--signature_def", "score_with_options", "--input_exprs",
               "sentences=['the company said it expects sales to rise']",
               "--inputs", f"num_samples={samples};seed={seed}"],
        capture_output=True, text=True, check=False, env=sp.environment())
    self.assertEqual(ran.returncode, 0, ran.stderr[-2000:])

  def test_tfsm_layer_loads_an_endpoint(self):
    layer = keras.layers.TFSMLayer(self.path, call_endpoint="encode")
    out = layer(tf.constant(SENTENCES[:2]))
    self.assertEqual(out["posterior_mean"].shape, (2, 3, 8))

  def test_predict_requests_match_the_signatures(self):
    # What a PredictRequest carries (every input its signature lists) and
    # what a server does with it: tensors from the protos into the signature.
    loaded = tf.saved_model.load(self.path)
    for name, inputs in (
        ("score", dict(sentences=(SENTENCES[:2], tf.string))),
        ("score_with_options", dict(sentences=(SENTENCES[:2], tf.string),
                                    num_samples=([10], tf.int32),
                                    seed=([], tf.int32)))):
      signature = loaded.signatures[name]
      request = predict_pb2.PredictRequest()
      request.model_spec.name = "inverse_draw"
      request.model_spec.signature_name = name
      for key, (value, dtype) in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
      parsed = predict_pb2.PredictRequest.FromString(
          request.SerializeToString())
      specs = signature.structured_input_signature[1]
      self.assertEqual(set(parsed.inputs), set(specs))
      for key, proto in parsed.inputs.items():
        self.assertEqual(tf.dtypes.as_dtype(proto.dtype), specs[key].dtype)
      outputs = signature(**{key: tf.constant(tf.make_ndarray(proto))
                             for key, proto in parsed.inputs.items()})
      self.assertEqual(outputs["nll"].shape, (2,))


  def test_documented_requests_work_over_rest_and_grpc(self):
    with open(os.path.join(sp.REPO_ROOT, "docs", "serving.md")) as f:
      doc = f.read()
    bodies = re.findall(r'`(\{"signature_name": .*?\})` \|', doc)
    self.assertEqual(
        sorted(json.loads(b.replace("LATENTS", "0"))["signature_name"]
               for b in bodies),
        [name for name in TEXT_SIGNATURES if name != "serving_default"])
    # The page's own gRPC helper, run as written.
    snippet = doc[doc.index("DTYPES = "):doc.index("stub = ")]
    namespace = dict(tf=tf, predict_pb2=predict_pb2)
    exec(snippet, namespace)  # pylint: disable=exec-used
    latents = np.array(self.client["encode"]["posterior_mean"]["value"])
    latents = json.dumps(latents.reshape(4, 3, 8)[:2].tolist())
    loaded = tf.saved_model.load(self.path)
    for body in bodies:
      body = json.loads(body.replace("LATENTS", latents))
      signature = loaded.signatures[body["signature_name"]]
      specs = signature.structured_input_signature[1]
      self.assertEqual(set(body["inputs"]), set(specs), body)
      # REST: each JSON value as a tensor of the signature's dtype.
      rest = signature(**{name: tf.constant(value, specs[name].dtype)
                          for name, value in body["inputs"].items()})
      # gRPC: the PredictRequest the helper builds, as a server parses it.
      request = predict_pb2.PredictRequest.FromString(
          namespace["predict_request"](body).SerializeToString())
      grpc = signature(**{name: tf.constant(tf.make_ndarray(proto))
                          for name, proto in request.inputs.items()})
      for name, value in rest.items():
        self.assertAllEqual(value, grpc[name], f"{body} {name}")


class HierarchyExportTest(tf.test.TestCase):

  @pytest.mark.slow  # 165 s beside two training runs; `make test-all` runs it.
  def test_encode_exports_each_levels_assignment(self):
    root = self.create_tempdir().full_path
    from configs import ptb  # pylint: disable=g-import-not-at-top
    config = ptb.get_config("levels=2,prior_alignment=exact,runlocal")
    path = train_two_steps_and_export(config, root)
    out = run_client(path, {
        "encode": {"sentences": [SENTENCES[:3], "string"]},
        "sample_with_options": {
            "num_samples": [[2], "int32"], "temperature": [[], "float32"],
            "seed": [[3], "int32"], "max_length": [[6], "int32"]},
        "score": {"sentences": [SENTENCES[:3], "string"]}}, root)
    lower, upper = config.model.num_slots
    level_2 = out["encode"]["assignment_level_2"]
    self.assertEqual(level_2["shape"], [3, lower, upper])
    self.assertAllClose(np.array(level_2["value"]).reshape(
        3, lower, upper).sum(-1), np.ones([3, lower]), atol=1e-5)
    self.assertNotIn("assignment_level_3", out["encode"])
    # Sampling draws each lower slot's upper slot inside the graph.
    self.assertEqual(out["sample_with_options"]["sentences"]["shape"], [2])
    self.assertTrue(np.all(np.isfinite(out["score"]["nll"]["value"])))


class TiedExportTest(tf.test.TestCase):

  @pytest.mark.slow  # A training run and a client process; `make test-all`.
  def test_tied_decoder_exports_and_serves(self):
    root = self.create_tempdir().full_path
    from configs import ptb  # pylint: disable=g-import-not-at-top
    config = ptb.get_config(
        "tie_embeddings,alignment=exact,attention=window,runlocal")
    path = train_two_steps_and_export(config, root)
    out = run_client(path, {
        "score": {"sentences": [SENTENCES[:2], "string"]},
        "reconstruct": {"sentences": [SENTENCES[:2], "string"]}}, root)
    self.assertTrue(np.all(np.isfinite(out["score"]["nll"]["value"])))
    self.assertEqual(out["reconstruct"]["reconstructions"]["shape"], [2])
    restored = checkpoints.restore(os.path.join(root, "run"), which="latest")
    self.assertTrue(restored.model.decoder.tie_embeddings)


class LocalEncoderExportTest(tf.test.TestCase):

  @pytest.mark.slow  # A training run and a client process; `make test-all`.
  def test_local_encoder_exports_and_serves(self):
    root = self.create_tempdir().full_path
    from configs import ptb  # pylint: disable=g-import-not-at-top
    config = ptb.get_config("encoder_context=2,alignment=exact,"
                            "attention=window,posterior_window_step=3.0,"
                            "runlocal")
    path = train_two_steps_and_export(config, root)
    out = run_client(path, {
        "score": {"sentences": [SENTENCES[:2], "string"]},
        "encode": {"sentences": [SENTENCES[:2], "string"]}}, root)
    restored = checkpoints.restore(os.path.join(root, "run"), which="latest")
    self.assertEqual(restored.model.encoder.context, 2)
    # The served posterior means are the in-process model's.
    tokens = restored.inputs.vocabulary.encode(tf.constant(SENTENCES[:2]))
    expected = restored.model.posterior_mean({"tokens": tokens})
    served = out["encode"]["posterior_mean"]
    self.assertAllClose(np.array(served["value"]).reshape(served["shape"]),
                        expected["latents"][0], atol=1e-5)
    self.assertTrue(np.all(np.isfinite(out["score"]["nll"]["value"])))


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


class ImageExportTest(tf.test.TestCase, parameterized.TestCase):

  # The second case's decoder draws each row's pixels one by one (its
  # `group_autoregression` layer's weights are in the SavedModel too).
  @parameterized.parameters("runlocal", "runlocal,row_autoregression=8")
  @pytest.mark.slow  # 34 s on 2 idle cores; `make test-all` runs it.
  def test_image_signatures(self, config_arg):
    root = self.create_tempdir().full_path
    from configs import mnist  # pylint: disable=g-import-not-at-top
    path = train_two_steps_and_export(mnist.get_config(config_arg), root)
    images = data.load_binarized_mnist("test")[:2]
    out = run_client(path, {
        "score_with_options": {
            "images": [images.astype(np.float32).tolist(), "float32"],
            "num_samples": [[4], "int32"], "seed": [[], "int32"]},
        "score_uint8_with_options": {
            "images": [(images * 255).tolist(), "uint8"],
            "num_samples": [[4], "int32"], "seed": [[], "int32"]},
        "score_with_options#reversed": {
            "images": [images[::-1].astype(np.float32).tolist(), "float32"],
            "num_samples": [[4], "int32"], "seed": [[], "int32"]},
        "score_uint8": {"images": [(images * 255).tolist(), "uint8"]},
        "encode": {"images": [images.astype(np.float32).tolist(), "float32"]},
        "sample_with_options": {
            "num_samples": [[2], "int32"], "temperature": [[], "float32"],
            "seed": [[3], "int32"]},
        "sample": {"num_samples": [1, "int32"]},
        "serving_default": {"images": [images.astype(np.float32).tolist(),
                                       "float32"]},
        "decode#nan": {"latents": [np.full([1, 8, 16], np.nan).tolist(),
                                   "float32"]},
        "score#many": {"images": [np.zeros([1001, 28, 28]).tolist(),
                                  "float32"]},
    }, root)
    latents = np.array(out["encode"]["posterior_mean"]["value"]).reshape(
        2, 8, 16)
    decoded = run_client(path, {"decode_with_options": {
        "latents": [latents.tolist(), "float32"],
        "temperature": [[0.0], "float32"], "seed": [[], "int32"]}},
                         root)["decode_with_options"]
    self.assertEqual(decoded["images"]["shape"], [2, 28, 28])
    self.assertEqual(decoded["attention"]["shape"], [2, 28, 8])
    self.assertAllInSet(decoded["images"]["value"], [0.0, 1.0])
    self.assertEqual(out["signatures"], [
        "decode", "decode_with_options", "encode", "sample",
        "sample_with_options", "score", "score_uint8",
        "score_uint8_with_options", "score_with_options", "serving_default"])
    nll = out["score_with_options"]["nll"]["value"]
    self.assertAllClose(nll, out["score_uint8_with_options"]["nll"]["value"],
                        atol=1e-5)
    # Each image's noise is its own: the same scores in the other order.
    self.assertEqual(out["score_with_options#reversed"]["nll"]["value"],
                     nll[::-1])
    self.assertAllGreater(nll, 0.0)
    self.assertEqual(out["serving_default"]["nll"]["shape"], [2])
    self.assertEqual(out["score_uint8"]["nll"]["shape"], [2])
    self.assertEqual(out["sample"]["images"]["shape"], [1, 28, 28])
    self.assertIn("`latents` must be finite", out["decode#nan"]["error"])
    self.assertIn("`images` holds at most 1000 images a call",
                  out["score#many"]["error"])
    self.assertEqual(out["encode"]["posterior_attention"]["shape"], [2, 8, 28])
    sample = out["sample_with_options"]["images"]
    self.assertEqual(sample["shape"], [2, 28, 28])
    self.assertAllInSet(sample["value"], [0.0, 1.0])


if __name__ == "__main__":
  tf.test.main()
