"""Tests of inverse_draw_tf/data.py on the bundled PTB and binarized MNIST."""

import os
import shutil

import numpy as np
import tensorflow as tf

from inverse_draw_tf import data


class NormalizationTest(tf.test.TestCase):

  def test_identity_on_every_ptb_line(self):
    for split, path in data.verify_ptb().items():
      lines = data.read_sentences(path)
      tokens = data.normalize_text(tf.constant(lines)).to_list()
      mismatches = [(line, t) for line, t in zip(lines, tokens)
                    if [w.decode() for w in t] != line.split()]
      self.assertEmpty(mismatches, f"{split}: {mismatches[:2]}")

  def test_raw_sentence(self):
    tokens = data.normalize_text(tf.constant([
        "The U.S. economy didn't grow 3.5% in 1999, said Mr. Smith's firm "
        "(a $5 fund).", "It's 1,000 30-year bonds!"])).to_list()
    self.assertEqual(
        [[t.decode() for t in sentence] for sentence in tokens],
        [["the", "u.s.", "economy", "did", "n't", "grow", "N", "in", "N",
          "said", "mr.", "smith", "'s", "firm", "a", "$", "N", "fund"],
         ["it", "'s", "N", "30-year", "bonds"]])


class VocabularyTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.tokens = data.build_vocabulary(data.ptb_paths()["train"])
    cls.path = os.path.join(tf.compat.v1.test.get_temp_dir(), "vocab.txt")
    data.save_vocabulary(cls.tokens, cls.path)
    cls.vocabulary = data.Vocabulary(cls.path)

  def test_ptb_vocabulary(self):
    self.assertLen(self.tokens, 10002)  # 9,999 word types + 3 specials.
    self.assertEqual(self.tokens[:5], ["<pad>", "<unk>", "<bos>", "<eos>",
                                       "the"])
    self.assertEqual(self.vocabulary.size, 10002)
    ids = self.vocabulary.tokenize(tf.constant(["<unk> zyxwvut the"]))
    self.assertAllEqual(ids, [[data.UNK_ID, data.UNK_ID, 4]])

  def test_encode_and_detokenize_round_trip_on_ptb(self):
    lines = data.read_sentences(data.ptb_paths()["valid"])[:200]
    encoded = self.vocabulary.encode(tf.constant(lines))
    lengths = [len(line.split()) for line in lines]
    self.assertAllEqual(encoded.numpy()[np.arange(200), lengths],
                        [data.EOS_ID] * 200)
    decoded = [s.decode() for s in
               self.vocabulary.detokenize(encoded).numpy()]
    self.assertEqual(decoded, [" ".join(line.split()) for line in lines])

  def test_sentence_final_period_falls_back_to_the_word(self):
    ids = self.vocabulary.tokenize(tf.constant(["the cat sat.",
                                                "made in the u.s."]))
    tokens = self.vocabulary.ids_to_tokens(ids.flat_values).numpy()
    self.assertEqual([t.decode() for t in tokens],
                     ["the", "cat", "sat", "made", "in", "the", "u.s."])

  def test_save_is_atomic_and_load_checks_the_file(self):
    directory = self.create_tempdir().full_path
    path = os.path.join(directory, "v.txt")
    data.save_vocabulary(["<pad>", "<unk>", "<bos>", "<eos>", "a"], path)
    self.assertEqual(os.listdir(directory), ["v.txt"])  # No temp file left.
    self.assertEqual(data.load_vocabulary(path)[-1], "a")
    with open(path, "w") as f:
      f.write("a\nb\n")
    with self.assertRaisesRegex(data.DataError, r"must start with"):
      data.load_vocabulary(path)
    with self.assertRaisesRegex(data.DataError, r"does not exist"):
      data.load_vocabulary(os.path.join(directory, "missing.txt"))


class TextDatasetTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.paths = data.ptb_paths()
    path = os.path.join(tf.compat.v1.test.get_temp_dir(), "vocab2.txt")
    data.save_vocabulary(data.build_vocabulary(cls.paths["train"]), path)
    cls.vocabulary = data.Vocabulary(path)

  def dataset(self, **kwargs):
    return data.text_dataset(self.paths["valid"], self.vocabulary, 32,
                             **kwargs)

  def test_batches_end_with_eos_then_padding(self):
    batch = next(iter(self.dataset()))["tokens"].numpy()
    for row in batch:
      length = np.sum(row != data.PAD_ID)
      self.assertEqual(row[length - 1], data.EOS_ID)
      self.assertTrue(np.all(row[length:] == data.PAD_ID))
      self.assertNotIn(data.EOS_ID, row[:length - 1])

  def test_evaluation_keeps_every_sentence_in_order(self):
    lines = data.read_sentences(self.paths["valid"])
    count = sum(int(b["tokens"].shape[0]) for b in self.dataset())
    self.assertEqual(count, len(lines))
    first = next(iter(self.dataset()))["tokens"].numpy()[0]
    self.assertEqual(np.sum(first != 0), len(lines[0].split()) + 1)

  def test_bucketing_reduces_padding(self):
    plain = data.padding_statistics(self.dataset(shuffle=True, seed=1))
    bucketed = data.padding_statistics(self.dataset(
        shuffle=True, seed=1, bucket_boundaries=(8, 12, 16, 20, 24, 32, 40)))
    self.assertEqual(plain["tokens"], bucketed["tokens"])
    self.assertLess(bucketed["padding_fraction"],
                    0.5 * plain["padding_fraction"],
                    f"bucketed {bucketed} vs plain {plain}")

  def test_same_seed_same_order_across_epochs(self):
    def first_batches(seed):
      dataset = self.dataset(shuffle=True, seed=seed, repeat=True,
                             bucket_boundaries=(10, 20))
      return [b["tokens"].numpy() for b in dataset.take(120)]  # > 1 epoch.
    a, b, c = first_batches(3), first_batches(3), first_batches(4)
    for x, y in zip(a, b):
      self.assertAllEqual(x, y)
    self.assertFalse(all(x.shape == y.shape and np.array_equal(x, y)
                         for x, y in zip(a, c)))

  def test_length_policies(self):
    lengths = [len(line.split()) + 1
               for line in data.read_sentences(self.paths["valid"])]
    limit = 20
    truncated = [b["tokens"].numpy() for b in self.dataset(
        max_length=limit, length_policy="truncate")]
    rows = np.concatenate([np.pad(t, [(0, 0), (0, limit - t.shape[1])])
                           for t in truncated])
    self.assertLen(rows, len(lengths))
    self.assertLessEqual(max(t.shape[1] for t in truncated), limit)
    long_rows = rows[np.array(lengths) > limit]
    self.assertAllEqual(long_rows[:, limit - 1],
                        [data.EOS_ID] * len(long_rows))
    dropped = sum(int(b["tokens"].shape[0]) for b in self.dataset(
        max_length=limit, length_policy="drop"))
    self.assertEqual(dropped, sum(n <= limit for n in lengths))

  def test_errors(self):
    with self.assertRaisesRegex(ValueError, r"`length_policy` must be one of"):
      self.dataset(length_policy="cut", max_length=5)
    with self.assertRaisesRegex(ValueError, r"`batch_size` must be a positive"):
      data.text_dataset(self.paths["valid"], self.vocabulary, 0)
    with self.assertRaisesRegex(data.DataError, r"does not exist"):
      data.text_dataset("/nonexistent.txt", self.vocabulary, 4)

  def test_any_text_file_works(self):
    path = os.path.join(self.create_tempdir().full_path, "mine.txt")
    with open(path, "w") as f:
      f.write("Hello there, world.\nThe U.S. economy grew 3%.\n\n")
    tokens = data.build_vocabulary(path)
    self.assertIn("hello", tokens)
    self.assertIn("N", tokens)
    vocab_path = path + ".vocab"
    data.save_vocabulary(tokens, vocab_path)
    batches = list(data.text_dataset(path, data.Vocabulary(vocab_path), 8))
    self.assertEqual(batches[0]["tokens"].shape[0], 2)


class ChecksumTest(tf.test.TestCase):

  def test_altered_ptb_is_refused(self):
    directory = self.create_tempdir().full_path
    for path in data.ptb_paths().values():
      shutil.copy(path, directory)
    data.verify_ptb(directory)
    with open(os.path.join(directory, "ptb.valid.txt"), "a") as f:
      f.write(" one more line \n")
    with self.assertRaisesRegex(
        data.DataError, r"PTB file `.*ptb\.valid\.txt` was altered: sha256 "
        r"[0-9a-f]{64}, expected c9fe6985"):
      data.verify_ptb(directory)
    shutil.copy(data.ptb_paths()["valid"], directory)
    os.remove(os.path.join(directory, "ptb.test.txt"))
    with self.assertRaisesRegex(data.DataError, r"ptb\.test\.txt` is missing"):
      data.verify_ptb(directory)

  def test_altered_mnist_is_refused(self):
    path = os.path.join(self.create_tempdir().full_path, "mnist.npz")
    with np.load(data.verify_binarized_mnist()) as archive:
      arrays = {k: archive[k] for k in archive}
    arrays["test"] = arrays["test"].copy()
    arrays["test"][0, 0] ^= 1
    np.savez_compressed(path, **arrays)
    with self.assertRaisesRegex(data.DataError,
                                r"`test` array .* was altered"):
      data.verify_binarized_mnist(path)


class MnistTest(tf.test.TestCase):

  def test_splits(self):
    train = data.load_binarized_mnist("train")
    self.assertEqual(train.shape, (50000, 28, 28))
    self.assertAllInSet(np.unique(train), [0, 1])
    self.assertAllClose(train.mean(), 0.130562, atol=1e-6)
    self.assertEqual(data.load_binarized_mnist("test").shape, (10000, 28, 28))
    with self.assertRaisesRegex(ValueError, r"`split` must be one of"):
      data.load_binarized_mnist("dev")

  def test_image_dataset(self):
    batch = next(iter(data.image_dataset("valid", 16, shuffle=True, seed=0)))
    self.assertEqual(batch["pixels"].shape, (16, 28, 28))
    self.assertEqual(batch["pixels"].dtype, tf.float32)
    self.assertAllInSet(batch["pixels"], [0.0, 1.0])


if __name__ == "__main__":
  tf.test.main()
