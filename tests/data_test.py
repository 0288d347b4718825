"""Tests of inverse_draw_tf/data.py on the bundled PTB and binarized MNIST."""

import collections
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import time
from unittest import mock

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from inverse_draw_tf import data
import test_case

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKETS = (8, 12, 16, 20, 24, 28, 32, 40, 48)  # As in configs/common.py.

# Ops that the serving graphs may contain: core TensorFlow ops that are much
# older than TF 2.12, and the two tensorflow-text ops registered under these
# names by tensorflow-text 2.12.1 (checked in its wheel), which a stock
# TF Serving build embeds.
TF_TEXT_2_12_OPS = frozenset({"CaseFoldUTF8",
                              "TFText>WhitespaceTokenizeWithOffsetsV2"})
CORE_OPS = frozenset({
    "AddV2", "All", "Assert", "BroadcastTo", "Cast", "ConcatV2", "Const",
    "Cumsum", "Equal", "ExpandDims", "Fill", "GatherV2", "Identity", "If",
    "Less", "LessEqual", "LogicalAnd", "LogicalNot", "LookupTableFindV2",
    "Max", "Maximum", "Mul", "NoOp", "NotEqual", "Pack", "Placeholder",
    "Prod", "RaggedGather", "RaggedTensorToTensor", "Range", "Reshape",
    "SelectV2", "Shape", "Squeeze", "StaticRegexFullMatch",
    "StaticRegexReplace", "StridedSlice", "Sub", "Sum", "Tile", "Transpose",
    "UnicodeTranscode", "UnsortedSegmentJoin", "UnsortedSegmentSum", "Where",
})
# What a SavedModel adds: table initialisation from the asset, and the
# checkpoint machinery.
SAVED_MODEL_OPS = frozenset({
    "AssignVariableOp", "HashTableV2", "InitializeTableFromTextFileV2",
    "MergeV2Checkpoints", "ReadVariableOp", "RestoreV2", "SaveV2", "Select",
    "ShardedFilename", "StatefulPartitionedCall", "StringJoin", "VarHandleOp",
    "VarIsInitializedOp",
})


@functools.lru_cache(maxsize=None)
def ptb_vocabulary():
  path = os.path.join(tf.compat.v1.test.get_temp_dir(), "ptb_vocab.txt")
  data.save_vocabulary(data.build_vocabulary(data.ptb_paths()["train"]), path)
  return data.Vocabulary(path)


@functools.lru_cache(maxsize=None)
def ptb_lines(split):
  return tuple(data.read_sentences(data.ptb_paths()[split]))


def rows_of(dataset):
  """Every row of every batch, without its padding."""
  rows = []
  for batch in dataset:
    for row in batch["tokens"].numpy():
      rows.append(row[row != data.PAD_ID])
  return rows


def digest_of(dataset, num_batches):
  digest = hashlib.sha256()
  for batch in dataset.take(num_batches):
    tokens = batch["tokens"].numpy()
    digest.update(str(tokens.shape).encode())
    digest.update(tokens.tobytes())
  return digest.hexdigest()


def op_types(graph_def):
  """Op types of a GraphDef, nested functions included."""
  types = {node.op for node in graph_def.node}
  for function in graph_def.library.function:
    types.update(node.op for node in function.node_def)
  return types


class NormalizationTest(test_case.TestCase):

  def test_identity_on_every_line_of_the_three_ptb_files(self):
    for split in data.SPLITS:
      lines = ptb_lines(split)
      tokens = data.normalize_text(tf.constant(lines)).to_list()
      self.assertLen(tokens, len(lines))
      mismatches = [(line, t) for line, t in zip(lines, tokens)
                    if [w.decode() for w in t] != line.split()]
      self.assertEmpty(mismatches, f"{split}: {len(mismatches)} lines differ, "
                       f"e.g. {mismatches[:2]}")

  def test_raw_sentences(self):
    cases = {
        "The U.S. economy didn't grow 3.5% in 1999, said Mr. Smith's firm "
        "(a $5 fund).":
            "the u.s. economy did n't grow N N in N said mr. smith 's firm "
            "a $ N fund",
        "It's 1,000,000 30-year bonds -- or 1/2 of AT&T's #2 unit!":
            "it 's N 30-year bonds or N of at&t 's # N unit",
        "Investors’ US$12.50 stake in “MGM/UA” fell… at 2:30 p.m.":
            "investors ' us$ N stake in mgm\\/ua fell at N p.m.",
        "  They'll say: 'We're   IN the 1980s'?  ":
            "they 'll say 'we 're in the 1980s '",
        "N n <unk> <eos> . - ... .5 -5": "N N <unk> <eos> N N",
        "": "",
    }
    tokens = data.normalize_text(tf.constant(list(cases))).to_list()
    for (raw, expected), got in zip(cases.items(), tokens):
      self.assertEqual([t.decode() for t in got], expected.split(), raw)

  def test_numbers_become_n_but_words_with_digits_stay(self):
    words = ["1,000", "3.5", "1987", "-5", ".5", "5.", "1/2", "2:30",
             "1980s", "30-year", "'80s", "20th", "p53", "mid-1990s"]
    tokens = data.normalize_text(tf.constant([" ".join(words)])).to_list()[0]
    self.assertEqual([t.decode() for t in tokens],
                     ["N"] * 8 + words[8:])

  def test_invalid_utf8_is_replaced_not_fatal(self):
    tokens = data.normalize_text(tf.constant([b"bad \xff byte"])).to_list()
    self.assertEqual(tokens, [[b"bad", "\ufffd".encode(), b"byte"]])


class VocabularyTest(test_case.TestCase):

  def test_ptb_vocabulary(self):
    tokens = data.load_vocabulary(ptb_vocabulary().vocabulary_path)
    self.assertLen(tokens, 10002)  # 9,999 word types (with <unk>) + 3.
    self.assertEqual(ptb_vocabulary().size, 10002)
    self.assertEqual(tuple(tokens[:4]), data.SPECIAL_TOKENS)
    self.assertEqual([data.PAD_ID, data.UNK_ID, data.BOS_ID, data.EOS_ID],
                     [tokens.index(t) for t in data.SPECIAL_TOKENS])
    counts = collections.Counter(
        w for line in ptb_lines("train") for w in line.split())
    self.assertEqual(set(tokens[4:]), set(counts) - {data.UNK})
    order = [(-counts[w], w) for w in tokens[4:]]
    self.assertEqual(order, sorted(order))  # Descending count, then a-z.

  def test_build_vocabulary_from_token_lists(self):
    token_lists = [["b", "a", "c"], ["a", "c", "<unk>"], ["c", "<eos>"]]
    specials = list(data.SPECIAL_TOKENS)
    self.assertEqual(data.build_vocabulary(token_lists),
                     specials + ["c", "a", "b"])
    self.assertEqual(data.build_vocabulary(token_lists, min_count=2),
                     specials + ["c", "a"])
    self.assertEqual(data.build_vocabulary(token_lists, max_size=5),
                     specials + ["c"])
    with self.assertRaisesRegex(ValueError, r"`max_size` must be at least 5 \(the special tokens and a word\), "
                                r"received 4\."):
      data.build_vocabulary(token_lists, max_size=4)
    with self.assertRaisesRegex(ValueError, r"`min_count` must be at least 1"):
      data.build_vocabulary(token_lists, min_count=0)

  def test_unk_unknown_words_and_special_tokens_in_text(self):
    vocabulary = ptb_vocabulary()
    ids = vocabulary.tokenize(tf.constant([
        "<unk> zyxwvut the", "<pad> <bos> <eos>"]))
    the = data.load_vocabulary(vocabulary.vocabulary_path).index("the")
    self.assertEqual(ids.to_list(),
                     [[data.UNK_ID, data.UNK_ID, the], [data.UNK_ID] * 3])
    self.assertEqual(ids.dtype, tf.int32)

  def test_sentence_final_period_falls_back_to_the_word(self):
    vocabulary = ptb_vocabulary()
    ids = vocabulary.tokenize(tf.constant(["The company SAID it expects "
                                           "sales to rise.",
                                           "made in the u.s."]))
    tokens = vocabulary.ids_to_tokens(ids.flat_values).numpy()
    self.assertEqual(b" ".join(tokens).decode(),
                     "the company said it expects sales to rise "
                     "made in the u.s.")

  def test_encode_and_detokenize_round_trip_on_ptb(self):
    vocabulary = ptb_vocabulary()
    for split in data.SPLITS:
      lines = ptb_lines(split)
      encoded = vocabulary.encode(tf.constant(lines)).numpy()
      lengths = np.array([len(line.split()) for line in lines])
      self.assertEqual(encoded.shape, (len(lines), lengths.max() + 1))
      self.assertAllEqual(encoded[np.arange(len(lines)), lengths],
                          np.full(len(lines), data.EOS_ID))
      self.assertAllEqual(np.sum(encoded != data.PAD_ID, axis=1), lengths + 1)
      decoded = [s.decode() for s in vocabulary.detokenize(encoded).numpy()]
      self.assertEqual(decoded, [" ".join(line.split()) for line in lines],
                       split)

  def test_encode(self):
    vocabulary = ptb_vocabulary()
    tokens = data.load_vocabulary(vocabulary.vocabulary_path)
    the, cat = tokens.index("the"), tokens.index("cat")
    sentences = tf.constant(["The cat", "the"])
    self.assertAllEqual(vocabulary.encode(sentences),
                        [[the, cat, data.EOS_ID], [the, data.EOS_ID, 0]])
    self.assertAllEqual(vocabulary.encode(sentences, add_eos=False),
                        [[the, cat], [the, data.PAD_ID]])
    self.assertEqual(vocabulary.encode(sentences).dtype, tf.int32)
    self.assertEqual(vocabulary.encode(tf.constant([], tf.string)).shape[0], 0)

  def test_detokenize_stops_at_first_eos_and_drops_padding(self):
    vocabulary = ptb_vocabulary()
    tokens = data.load_vocabulary(vocabulary.vocabulary_path)
    a, b, c = 4, 5, 6
    ids = tf.constant([[a, b, data.EOS_ID, c, data.EOS_ID],
                       [data.PAD_ID, a, data.PAD_ID, b, data.PAD_ID],
                       [data.EOS_ID, a, b, c, data.PAD_ID]])
    self.assertAllEqual(vocabulary.detokenize(ids),
                        [f"{tokens[a]} {tokens[b]}".encode(),
                         f"{tokens[a]} {tokens[b]}".encode(), b""])

  def test_ids_to_tokens(self):
    vocabulary = ptb_vocabulary()
    tokens = vocabulary.ids_to_tokens(
        tf.constant([[0, 1, 2], [3, 10001, 10002]], tf.int64))
    self.assertAllEqual(tokens, [[b"<pad>", b"<unk>", b"<bos>"],
                                 [b"<eos>", data.load_vocabulary(
                                     vocabulary.vocabulary_path)[-1].encode(),
                                  b"<unk>"]])

  def test_save_load_round_trip(self):
    path = os.path.join(self.create_tempdir().full_path, "v.txt")
    tokens = list(data.SPECIAL_TOKENS) + ["a", "b", "ü"]
    data.save_vocabulary(tokens, path)
    self.assertEqual(data.load_vocabulary(path), tokens)
    with open(path, "rb") as f:
      self.assertEqual(f.read(), "\n".join(tokens).encode() + b"\n")

  def test_save_writes_a_temp_file_then_renames_it(self):
    directory = self.create_tempdir().full_path
    path = os.path.join(directory, "v.txt")
    old = list(data.SPECIAL_TOKENS) + ["old"]
    new = list(data.SPECIAL_TOKENS) + ["new", "words"]
    data.save_vocabulary(old, path)
    rename = tf.io.gfile.rename
    seen = {}

    def spy(source, target, overwrite=False):
      # At the rename the target still holds the old file in full and the
      # temp file the new one in full.
      seen["target"] = data.load_vocabulary(target)
      seen["source"] = data.load_vocabulary(source)
      seen["source_dir"] = os.path.dirname(source)
      return rename(source, target, overwrite=overwrite)

    with mock.patch.object(tf.io.gfile, "rename", side_effect=spy):
      data.save_vocabulary(new, path)
    self.assertEqual(seen, dict(target=old, source=new, source_dir=directory))
    self.assertEqual(data.load_vocabulary(path), new)
    self.assertEqual(os.listdir(directory), ["v.txt"])

    # A crash before the rename leaves the old file and no temp file.
    with mock.patch.object(tf.io.gfile, "rename",
                           side_effect=OSError("disk full")):
      with self.assertRaisesRegex(OSError, "disk full"):
        data.save_vocabulary(old, path)
    self.assertEqual(data.load_vocabulary(path), new)
    self.assertEqual(os.listdir(directory), ["v.txt"])

  def test_vocabulary_file_errors(self):
    directory = self.create_tempdir().full_path
    path = os.path.join(directory, "v.txt")
    with self.assertRaisesRegex(
        data.DataError, r"^vocabulary file `.*missing\.txt` does not exist; "
        r"write one with"):
      data.load_vocabulary(os.path.join(directory, "missing.txt"))
    with self.assertRaisesRegex(data.DataError, r"^vocabulary file `.*"):
      data.Vocabulary(os.path.join(directory, "missing.txt"))
    with open(path, "w") as f:
      f.write("the\n<pad>\n<unk>\n<bos>\n<eos>\n")
    with self.assertRaisesRegex(
        data.DataError, r"^vocabulary `.*v\.txt` must start with \('<pad>', "
        r"'<unk>', '<bos>', '<eos>'\) on its first four lines, found \('the',"):
      data.load_vocabulary(path)
    with open(path, "w") as f:
      f.write("<pad>\n<unk>\n<bos>\n<eos>\nthe\ncat\nthe\n")
    with self.assertRaisesRegex(data.DataError,
                                r"must list each token once, found "
                                r"duplicates \['the'\]"):
      data.load_vocabulary(path)
    with self.assertRaisesRegex(data.DataError,
                                r"line 5 must be one token without "
                                r"whitespace, found 'a b'"):
      data.save_vocabulary(list(data.SPECIAL_TOKENS) + ["a b"], path)

  def test_serving_graph_ops_exist_in_tf_text_2_12(self):
    vocabulary = ptb_vocabulary()
    strings = tf.TensorSpec([None], tf.string)
    graphs = {
        "tokenize": (vocabulary.tokenize, strings),
        "encode": (vocabulary.encode, strings),
        "detokenize": (vocabulary.detokenize,
                       tf.TensorSpec([None, None], tf.int32)),
    }
    used = set()
    for name, (method, spec) in graphs.items():
      graph = tf.function(method).get_concrete_function(spec).graph
      types = op_types(graph.as_graph_def())
      self.assertContainsSubset(types, CORE_OPS | TF_TEXT_2_12_OPS,
                                f"{name} uses ops outside the allowlist: "
                                f"{sorted(types - CORE_OPS - TF_TEXT_2_12_OPS)}")
      used |= types
    self.assertContainsSubset(TF_TEXT_2_12_OPS, used)

  def test_vocabulary_file_is_a_saved_model_asset(self):
    directory = self.create_tempdir().full_path
    path = os.path.join(directory, "vocab.txt")
    data.save_vocabulary(
        data.build_vocabulary([["the", "cat", "sat", "the"]]), path)
    vocabulary = data.Vocabulary(path)
    module = tf.Module()
    module.vocabulary = vocabulary
    module.encode = tf.function(vocabulary.encode, input_signature=[
        tf.TensorSpec([None], tf.string)])
    export_dir = os.path.join(directory, "saved_model")
    tf.saved_model.save(module, export_dir)
    os.remove(path)  # The SavedModel must use its own copy.
    self.assertEqual(os.listdir(os.path.join(export_dir, "assets")),
                     ["vocab.txt"])
    restored = tf.saved_model.load(export_dir)
    self.assertAllEqual(restored.encode(tf.constant(["The dog sat."])),
                        [[4, data.UNK_ID, 6, data.EOS_ID]])
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
      saved_model.ParseFromString(f.read())
    types = op_types(saved_model.meta_graphs[0].graph_def)
    allowed = CORE_OPS | TF_TEXT_2_12_OPS | SAVED_MODEL_OPS
    self.assertContainsSubset(types, allowed,
                              f"outside the allowlist: {types - allowed}")


class TextDatasetTest(test_case.TestCase):

  def dataset(self, split="valid", batch_size=32, **kwargs):
    return data.text_dataset(data.ptb_paths()[split], ptb_vocabulary(),
                             batch_size, **kwargs)

  def reference_rows(self, split="valid"):
    """Each line's ids and <eos>, whole, in file order."""
    encoded = ptb_vocabulary().encode(tf.constant(ptb_lines(split))).numpy()
    return [row[row != data.PAD_ID] for row in encoded]

  def test_element_spec(self):
    self.assertEqual(self.dataset().element_spec,
                     {"tokens": tf.TensorSpec([None, None], tf.int32)})

  def test_rows_are_ids_then_eos_then_padding(self):
    dataset = self.dataset(shuffle=True, bucket_boundaries=BUCKETS)
    size = ptb_vocabulary().size
    num_rows = 0
    for batch in dataset:
      for row in batch["tokens"].numpy():
        length = int(np.sum(row != data.PAD_ID))
        self.assertEqual(row[length - 1], data.EOS_ID)
        self.assertAllEqual(row[length:], np.zeros_like(row[length:]))
        words = row[:length - 1]
        self.assertTrue(np.all((words >= data.UNK_ID) & (words < size)),
                        f"bad word ids in {row}")
        self.assertNotIn(data.EOS_ID, words)
        self.assertNotIn(data.BOS_ID, words)
        num_rows += 1
    self.assertEqual(num_rows, len(ptb_lines("valid")))

  def test_unshuffled_rows_follow_the_file(self):
    rows = rows_of(self.dataset())
    reference = self.reference_rows()
    self.assertLen(rows, len(reference))
    for row, expected in zip(rows, reference):
      self.assertAllEqual(row, expected)

  def test_length_policies(self):
    reference = self.reference_rows()
    limit = 20
    # "keep" (evaluation) and no max_length leave every sentence whole.
    for kwargs in (dict(max_length=limit, length_policy="keep"),
                   dict(length_policy="truncate")):
      rows = rows_of(self.dataset(**kwargs))
      self.assertEqual([r.tolist() for r in rows],
                       [r.tolist() for r in reference], kwargs)
    # "truncate": the first limit - 1 words, then <eos> at limit - 1.
    rows = rows_of(self.dataset(max_length=limit, length_policy="truncate"))
    self.assertLen(rows, len(reference))
    num_truncated = 0
    for row, whole in zip(rows, reference):
      if len(whole) <= limit:
        self.assertAllEqual(row, whole)
      else:
        num_truncated += 1
        self.assertAllEqual(row, np.append(whole[:limit - 1], data.EOS_ID))
    self.assertGreater(num_truncated, 100)
    # "drop": only the sentences that fit, in order.
    rows = rows_of(self.dataset(max_length=limit, length_policy="drop"))
    self.assertEqual([r.tolist() for r in rows],
                     [r.tolist() for r in reference if len(r) <= limit])

  def test_bucketing_reduces_padding_of_ptb_train(self):
    plain = data.padding_statistics(self.dataset(
        "train", 64, shuffle=True, seed=0))
    bucketed = data.padding_statistics(self.dataset(
        "train", 64, shuffle=True, seed=0, bucket_boundaries=BUCKETS))
    self.assertEqual(plain["tokens"], 929589)  # Train words + one <eos> each.
    self.assertEqual(bucketed["tokens"], plain["tokens"])
    self.assertLess(
        bucketed["padding_fraction"], 0.25 * plain["padding_fraction"],
        f"padding fraction at batch 64: bucketed "
        f"{bucketed['padding_fraction']:.4f} vs plain "
        f"{plain['padding_fraction']:.4f}")

  def test_buckets_group_similar_lengths(self):
    edges = (0,) + BUCKETS + (np.inf,)
    for batch in self.dataset(shuffle=True, bucket_boundaries=BUCKETS):
      lengths = np.sum(batch["tokens"].numpy() != data.PAD_ID, axis=1)
      bucket = np.searchsorted(edges, lengths, side="right")
      self.assertLen(set(bucket), 1, f"lengths {lengths} span buckets")

  def test_pad_to_bucket_boundary(self):
    widths = {int(b["tokens"].shape[1]) for b in self.dataset(
        max_length=40, bucket_boundaries=BUCKETS,
        pad_to_bucket_boundary=True)}
    self.assertContainsSubset(widths, {7, 11, 15, 19, 23, 27, 31, 39, 40})
    self.assertGreater(len(widths), 5)
    widths = {int(b["tokens"].shape[1]) for b in self.dataset(
        max_length=40, pad_to_bucket_boundary=True)}
    self.assertEqual(widths, {40})

  def test_pad_to_bucket_boundary_keeping_every_sentence_whole(self):
    # Evaluation under XLA: few shapes, the last bucket as wide as the
    # longest sentence (PTB valid: 74 tokens with <eos>), nothing cut.
    longest = max(len(line.split()) for line in ptb_lines("valid")) + 1
    batches = list(self.dataset(length_policy="keep", bucket_boundaries=BUCKETS,
                                pad_to_bucket_boundary=True))
    widths = {int(b["tokens"].shape[1]) for b in batches}
    self.assertContainsSubset(widths, {b - 1 for b in BUCKETS} | {longest})
    self.assertIn(longest, widths)
    tokens = sum(int(np.sum(b["tokens"].numpy() != data.PAD_ID))
                 for b in batches)
    self.assertEqual(tokens, sum(len(line.split()) + 1
                                 for line in ptb_lines("valid")))

  def test_drop_remainder(self):
    sizes = [int(b["tokens"].shape[0])
             for b in self.dataset(batch_size=64, drop_remainder=True)]
    self.assertEqual(sizes, [64] * (len(ptb_lines("valid")) // 64))

  def test_same_seed_same_batches_different_seed_different(self):
    def digest(seed):
      return digest_of(self.dataset(batch_size=64, shuffle=True, seed=seed,
                                    repeat=True, bucket_boundaries=BUCKETS),
                       num_batches=60)  # More than an epoch (52.7 batches).
    self.assertEqual(digest(3), digest(3))
    self.assertNotEqual(digest(3), digest(4))

  def test_each_epoch_is_reshuffled(self):
    num_lines = len(ptb_lines("valid"))
    first, second = [b["tokens"].numpy() for b in self.dataset(
        batch_size=num_lines, shuffle=True, seed=5, repeat=True).take(2)]
    self.assertFalse(first.shape == second.shape
                     and np.array_equal(first, second))
    def as_sorted(rows):
      return sorted(row[row != data.PAD_ID].tolist() for row in rows)
    self.assertEqual(as_sorted(first), as_sorted(second))
    self.assertEqual(as_sorted(first),
                     sorted(r.tolist() for r in self.reference_rows()))

  def test_same_batches_in_a_new_process_with_another_global_seed(self):
    # The same digest as `digest_of`, after another global seed.
    script = (
        "import hashlib, sys\n"
        "import tensorflow as tf\n"
        "from inverse_draw_tf import data\n"
        "tf.random.set_seed(1234)\n"
        "dataset = data.text_dataset(\n"
        "    data.ptb_paths()['valid'], data.Vocabulary(sys.argv[1]), 64,\n"
        f"    shuffle=True, seed=3, repeat=True, bucket_boundaries={BUCKETS})\n"
        "digest = hashlib.sha256()\n"
        "for batch in dataset.take(60):\n"
        "  tokens = batch['tokens'].numpy()\n"
        "  digest.update(str(tokens.shape).encode())\n"
        "  digest.update(tokens.tobytes())\n"
        "print(digest.hexdigest())\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO_ROOT)
    result = subprocess.run(
        [sys.executable, "-c", script, ptb_vocabulary().vocabulary_path],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        check=False)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    expected = digest_of(self.dataset(batch_size=64, shuffle=True, seed=3,
                                      repeat=True, bucket_boundaries=BUCKETS),
                         60)
    self.assertEqual(result.stdout.split()[-1], expected)

  def test_an_epoch_of_ptb_train_takes_seconds(self):
    start = time.perf_counter()
    dataset = self.dataset("train", 64, shuffle=True, max_length=64,
                           bucket_boundaries=BUCKETS)
    built = time.perf_counter() - start
    num_rows = sum(int(b["tokens"].shape[0]) for b in dataset)
    total = time.perf_counter() - start
    self.assertEqual(num_rows, len(ptb_lines("train")))
    self.assertLess(total, 30.0, f"build {built:.2f} s, build + one epoch "
                    f"{total:.2f} s")

  def test_padding_statistics(self):
    dataset = tf.data.Dataset.from_tensor_slices(
        {"tokens": [[5, 3, 0], [5, 6, 3], [3, 0, 0]]}).batch(2)
    self.assertEqual(data.padding_statistics(dataset),
                     dict(tokens=6, padded_positions=3,
                          padding_fraction=3 / 9))
    self.assertEqual(data.padding_statistics(dataset, max_batches=1),
                     dict(tokens=5, padded_positions=1,
                          padding_fraction=1 / 6))

  def test_errors(self):
    path = data.ptb_paths()["valid"]
    vocabulary = ptb_vocabulary()
    cases = [
        (dict(length_policy="cut", max_length=5),
         r"^`length_policy` must be one of \('truncate', 'drop', 'keep'\), "
         r"received 'cut'\.$"),
        (dict(batch_size=0), r"^`batch_size` must be a positive integer, "
         r"received 0\.$"),
        (dict(batch_size=2.5), r"received 2\.5\.$"),
        (dict(max_length=1), r"^`max_length` must be an integer of at least "
         r"2 .* received 1\.$"),
        (dict(bucket_boundaries=(10, 5)), r"^`bucket_boundaries` must be "
         r"strictly increasing positive integers, received \(10, 5\)\.$"),
        (dict(shuffle=True, seed="a"), r"^`seed` must be an integer, "
         r"received 'a'\.$"),
    ]
    for kwargs, message in cases:
      kwargs = dict(dict(batch_size=4), **kwargs)
      with self.subTest(kwargs=kwargs):
        with self.assertRaisesRegex(ValueError, message):
          data.text_dataset(path, vocabulary, **kwargs)
    with self.assertRaisesRegex(
        data.DataError, r"^text file `/nonexistent\.txt` does not exist; "
        r"pass a file with one sentence per line\.$"):
      data.text_dataset("/nonexistent.txt", vocabulary, 4)
    long_lines = os.path.join(self.create_tempdir().full_path, "long.txt")
    with open(long_lines, "w") as f:
      f.write("the cat sat\nthe dog ran away\n")
    with self.assertRaisesRegex(
        ValueError, r"^`max_length`=3 with length_policy='drop' removes "
        r"every sentence of `.*long\.txt`; raise it\.$"):
      data.text_dataset(long_lines, vocabulary, 4, max_length=3,
                        length_policy="drop")
    empty = os.path.join(self.create_tempdir().full_path, "empty.txt")
    with open(empty, "w") as f:
      f.write("\n  \n")
    with self.assertRaisesRegex(data.DataError, r"`.*empty\.txt` has no "
                                "sentences"):
      data.text_dataset(empty, vocabulary, 4)


class TextCorpusTest(test_case.TestCase):

  def test_ptb(self):
    corpus = data.TextCorpus.ptb()
    self.assertEqual(corpus.paths, data.ptb_paths())
    self.assertEqual(corpus.path("test"), data.ptb_paths()["test"])
    rows = rows_of(corpus.dataset("test", ptb_vocabulary(), 500,
                                  length_policy="keep"))
    self.assertLen(rows, len(ptb_lines("test")))

  def test_any_text_files(self):
    directory = self.create_tempdir().full_path
    train = os.path.join(directory, "mine.train.txt")
    with open(train, "w") as f:
      f.write("Hello there, world!\r\nThe U.S. economy grew 3%.\n\n")
    corpus = data.TextCorpus(train=train, valid=train)
    tokens = data.build_vocabulary(corpus.path("train"))
    # N twice ("3" and "%"), then the words seen once, alphabetically.
    self.assertEqual(tokens[4:], ["N", "economy", "grew", "hello", "the",
                                  "there", "u.s.", "world"])
    vocab_path = os.path.join(directory, "vocab.txt")
    data.save_vocabulary(tokens, vocab_path)
    vocabulary = data.Vocabulary(vocab_path)
    batch = next(iter(corpus.dataset("valid", vocabulary, 8)))["tokens"]
    self.assertAllEqual(vocabulary.detokenize(batch),
                        [b"hello there world", b"the u.s. economy grew N N"])
    with self.assertRaisesRegex(ValueError, r"^this corpus has no `test` "
                                r"file; pass `test=PATH` to TextCorpus\.$"):
      corpus.path("test")
    with self.assertRaisesRegex(ValueError, r"^`split` must be one of "
                                r"\('train', 'valid', 'test'\), received "
                                r"'dev'\.$"):
      corpus.path("dev")
    with self.assertRaisesRegex(data.DataError, r"^`valid` file `.*nope\.txt` "
                                r"does not exist"):
      data.TextCorpus(train=train, valid=os.path.join(directory, "nope.txt"))


class ChecksumTest(test_case.TestCase):

  def test_altered_or_missing_ptb_is_refused(self):
    directory = self.create_tempdir().full_path
    for path in data.ptb_paths().values():
      shutil.copy(path, directory)
    self.assertEqual(data.verify_ptb(directory), data.ptb_paths(directory))
    with open(os.path.join(directory, "ptb.valid.txt"), "a") as f:
      f.write(" one more line \n")
    with self.assertRaisesRegex(
        data.DataError, r"^PTB file `.*ptb\.valid\.txt` was altered: sha256 "
        r"[0-9a-f]{64}, expected c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4"
        r"cf87d8ff1cc34df1bf2; restore it with `git checkout -- data/ptb`\.$"):
      data.verify_ptb(directory)
    with self.assertRaisesRegex(data.DataError, r"was altered"):
      data.TextCorpus.ptb(directory)
    shutil.copy(data.ptb_paths()["valid"], directory)
    os.remove(os.path.join(directory, "ptb.test.txt"))
    with self.assertRaisesRegex(data.DataError,
                                r"^PTB file `.*ptb\.test\.txt` is missing; "
                                r"restore it with"):
      data.verify_ptb(directory)

  def test_altered_or_malformed_mnist_is_refused(self):
    directory = self.create_tempdir().full_path
    with np.load(data.verify_binarized_mnist()) as archive:
      arrays = {k: archive[k] for k in archive}
    path = os.path.join(directory, "mnist.npz")
    np.savez(path, **arrays)
    self.assertEqual(data.verify_binarized_mnist(path), path)
    altered = dict(arrays, test=arrays["test"].copy())
    altered["test"][0, 0] ^= 1
    np.savez(path, **altered)
    with self.assertRaisesRegex(
        data.DataError, r"^binarized MNIST `test` array in `.*mnist\.npz` was "
        r"altered: sha256 [0-9a-f]{64}, expected 9fcd8da6f0fdf09b"):
      data.load_binarized_mnist("test", path)
    np.savez(path, **dict(arrays, valid=arrays["valid"][:, :97]))
    with self.assertRaisesRegex(
        data.DataError, r"`valid` array in `.*` is uint8 \(10000, 97\), "
        r"expected uint8 \(10000, 98\)"):
      data.verify_binarized_mnist(path)
    with self.assertRaisesRegex(data.DataError, r"^binarized MNIST file "
                                r"`.*missing\.npz` is missing"):
      data.image_dataset("train", 8, path=os.path.join(directory,
                                                        "missing.npz"))


class MnistTest(test_case.TestCase):

  def test_splits(self):
    means = {"train": 0.130562, "valid": 0.131127, "test": 0.132512}
    for split, size in data.MNIST_SIZES.items():
      images = data.load_binarized_mnist(split)
      self.assertEqual(images.shape, (size, 28, 28))
      self.assertEqual(images.dtype, np.uint8)
      self.assertAllInSet(np.unique(images), [0, 1])
      self.assertAllClose(images.mean(), means[split], atol=1e-6)
    self.assertEqual((50000, 10000, 10000), tuple(data.MNIST_SIZES.values()))
    with self.assertRaisesRegex(ValueError, r"^`split` must be one of "
                                r"\('train', 'valid', 'test'\), received "
                                r"'dev'\.$"):
      data.load_binarized_mnist("dev")

  def test_digits_are_not_transposed(self):
    # MNIST digits are scaled to 20 pixels in height; most are narrower, so
    # a transposed (column-major) reading would make most wider than tall.
    images = data.load_binarized_mnist("valid")
    rows = np.any(images, axis=2)
    cols = np.any(images, axis=1)
    height = 28 - np.argmax(rows, 1) - np.argmax(rows[:, ::-1], 1)
    width = 28 - np.argmax(cols, 1) - np.argmax(cols[:, ::-1], 1)
    self.assertGreater(np.mean(height > width), 0.8)

  def test_image_dataset(self):
    dataset = data.image_dataset("valid", 64, shuffle=True, seed=0)
    self.assertEqual(dataset.element_spec, {
        "pixels": tf.TensorSpec([None, 28, 28], tf.float32)})
    batches = [b["pixels"].numpy() for b in dataset]
    self.assertEqual([len(b) for b in batches], [64] * 156 + [16])
    self.assertAllInSet(np.unique(np.concatenate(batches)), [0.0, 1.0])
    # Every image once, in a shuffled order.
    images = data.load_binarized_mnist("valid").reshape(10000, -1)
    got = np.concatenate(batches).reshape(10000, -1).astype(np.uint8)
    self.assertFalse(np.array_equal(got, images))
    self.assertEqual(sorted(map(bytes, got)), sorted(map(bytes, images)))
    again = next(iter(data.image_dataset("valid", 64, shuffle=True, seed=0)))
    self.assertAllEqual(again["pixels"], batches[0])
    unshuffled = next(iter(data.image_dataset("valid", 64)))["pixels"]
    self.assertAllEqual(unshuffled, images[:64].reshape(64, 28, 28))

  def test_image_dataset_errors(self):
    with self.assertRaisesRegex(ValueError, r"^`batch_size` must be a "
                                r"positive integer, received -1\.$"):
      data.image_dataset("train", -1)
    with self.assertRaisesRegex(ValueError, r"received 'training'"):
      data.image_dataset("training", 8)


if __name__ == "__main__":
  tf.test.main()
