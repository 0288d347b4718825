"""Data: the bundled Penn Treebank and binarized MNIST, one text normalisation
shared by training and serving, the vocabulary, and `tf.data` pipelines.

Text batches are `{"tokens": int32 (batch_size, T)}`: each row the sentence's
ids, then `<eos>`, then `<pad>` (id 0). There is no `<bos>`: the model adds it.
Image batches are `{"pixels": float32 (batch_size, 28, 28)}` with values 0/1.

`normalize_text` uses only ops that a stock TF Serving build can run (core
`tf.strings` ops and tensorflow-text 2.12 ops), because the exported
SavedModel tokenises raw strings in-graph with the very same function.
"""

import collections
import hashlib
import os

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "data")
SPLITS = ("train", "valid", "test")
LENGTH_POLICIES = ("truncate", "drop", "keep")

# sha256 of the bundled files (see data/ptb/README.md).
PTB_SHA256 = {
    "train": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "valid": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "test": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
# sha256 of each array's raw bytes; the .npz hash depends on zip timestamps
# (see data/binarized_mnist/README.md).
MNIST_SHA256 = {
    "train": "727146c35424b019f3e350e1e69faa05644a0abaf787e3f4e1a9632220a13906",
    "valid": "a256ac44ae26be720fad8616a05ed6ecfd1619930d9a208379bb2a4405df5b6d",
    "test": "9fcd8da6f0fdf09b2ba30fe63a0bb784042a0de82563172530229b983e294ff2",
}
MNIST_SIZES = {"train": 50000, "valid": 10000, "test": 10000}


class DataError(ValueError):
  """A missing, altered or malformed data file (one line, with the fix)."""


def _check_split(split):
  if split not in SPLITS:
    raise ValueError(f"`split` must be one of {SPLITS}, received {split!r}.")


def _check_batch_size(batch_size):
  if int(batch_size) != batch_size or batch_size < 1:
    raise ValueError(
        f"`batch_size` must be a positive integer, received {batch_size!r}.")


# -- Normalisation ---------------------------------------------------------

# Punctuation that the Mikolov PTB files dropped; raw text loses it too.
_DROPPED_PUNCTUATION = r"[,;:!?()\[\]{}\"`%]"
# PTB splits clitics off ("do n't", "it 's"); so do we, for raw text.
_NEGATION = r"([a-z])n't\b"
_CLITIC = r"([a-z])'(s|re|ve|ll|m|d)\b"
# A whole token that is a number becomes N ("1,000", "3.5", "1987"), but not
# tokens with digits inside words ("30-year", "1980s"), as in PTB.
_NUMBER = r"^([+-]?[0-9][0-9,.]*|n)$"
_RULE = r"[.\-]+"


def normalize_text(sentences):
  """Raw sentences -> PTB-style tokens.

  Case-fold, split clitics and a `$` before digits, drop the punctuation PTB
  removed, tokenise on whitespace, and replace number tokens by `N`. It is
  the identity on the PTB files (every line gives back `line.split()`).

  Args:
    sentences: string tensor `(N,)`.

  Returns:
    string `tf.RaggedTensor` `(N, None)`.
  """
  # Invalid UTF-8 (possible in raw serving requests) becomes U+FFFD instead
  # of failing the request.
  text = tf.strings.unicode_transcode(
      tf.convert_to_tensor(sentences, tf.string), "UTF-8", "UTF-8",
      errors="replace")
  text = tf_text.case_fold_utf8(text)
  text = tf.strings.regex_replace(text, _NEGATION, r"\1 n't")
  text = tf.strings.regex_replace(text, _CLITIC, r"\1 '\2")
  text = tf.strings.regex_replace(text, r"\$([0-9])", r"$ \1")
  # Thousands separators go before the commas do: "1,000,000" stays one
  # number (twice, as matches cannot overlap: "1,0" then ",0").
  for _ in range(2):
    text = tf.strings.regex_replace(text, r"([0-9]),([0-9])", r"\1\2")
  text = tf.strings.regex_replace(text, _DROPPED_PUNCTUATION, " ")
  tokens = tf_text.WhitespaceTokenizer().tokenize(text)
  # Tokens of dots and dashes alone ("." after a dropped bracket, "--",
  # "...") are punctuation PTB removed too.
  tokens = tf.ragged.boolean_mask(
      tokens, tf.logical_not(tf.strings.regex_full_match(tokens, _RULE)))
  # Case folding turned PTB's number token N into "n" (no PTB word is "n"):
  # both it and any number become N again.
  return tf.ragged.map_flat_values(tf.strings.regex_replace, tokens,
                                   _NUMBER, "N")


# -- Vocabulary ------------------------------------------------------------


def read_sentences(path):
  """The lines of a one-sentence-per-line text file (empty lines dropped)."""
  if not tf.io.gfile.exists(path):
    raise DataError(f"text file `{path}` does not exist; pass a file with "
                    "one sentence per line.")
  with tf.io.gfile.GFile(path) as f:
    return [line.rstrip("\n") for line in f if line.strip()]


def build_vocabulary(source, max_size=None, min_count=1):
  """Special tokens, then words by descending count (ties alphabetical).

  Args:
    source: a text file path, or a list of token lists.
    max_size: cap on the total size including the special tokens.
    min_count: drop words seen fewer times.
  """
  if isinstance(source, str):
    sentences = read_sentences(source)
    tokenized = normalize_text(tf.constant(sentences)).to_list()
    counts = collections.Counter(
        t.decode("utf-8") for sentence in tokenized for t in sentence)
  else:
    counts = collections.Counter(t for sentence in source for t in sentence)
  for token in SPECIAL_TOKENS:
    counts.pop(token, None)
  words = sorted((w for w, c in counts.items() if c >= min_count),
                 key=lambda w: (-counts[w], w))
  tokens = list(SPECIAL_TOKENS) + words
  return tokens[:max_size] if max_size else tokens


def save_vocabulary(tokens, path):
  """Writes one token per line (temp file, then rename: never half-written)."""
  temp = f"{path}.tmp-{os.getpid()}"
  with tf.io.gfile.GFile(temp, "w") as f:
    f.write("\n".join(tokens) + "\n")
  tf.io.gfile.rename(temp, path, overwrite=True)


def load_vocabulary(path):
  """Reads a vocabulary file written by `save_vocabulary`."""
  if not tf.io.gfile.exists(path):
    raise DataError(f"vocabulary file `{path}` does not exist; it is written "
                    "by bin/train into the workdir.")
  with tf.io.gfile.GFile(path) as f:
    tokens = f.read().splitlines()
  if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
    raise DataError(f"vocabulary file `{path}` must start with "
                    f"{SPECIAL_TOKENS}, found {tuple(tokens[:4])}.")
  return tokens


class Vocabulary(tf.Module):
  """Token <-> id tables backed by a vocabulary file (a SavedModel asset).

  Example:

  >>> vocabulary = Vocabulary("runs/ptb/vocab.txt")
  >>> vocabulary.encode(tf.constant(["The cat sat."]))  # ids, <eos>, <pad>
  """

  def __init__(self, vocabulary_path, name=None):
    super().__init__(name=name)
    tokens = load_vocabulary(vocabulary_path)
    self.vocabulary_path = vocabulary_path
    self._size = len(tokens)
    self.asset = tf.saved_model.Asset(vocabulary_path)
    self.token_to_id = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            self.asset, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        default_value=UNK_ID)
    self.id_to_token = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            self.asset, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
        default_value=UNK)

  @property
  def size(self):
    return self._size

  def lookup(self, tokens):
    """String tokens (any shape, or ragged) -> int32 ids.

    A token ending in "." that is not in the vocabulary falls back to the
    token without it ("sat." -> "sat"), so raw sentence-final periods work
    while abbreviations in the vocabulary ("u.s.", "corp.") stay whole.
    """
    if isinstance(tokens, tf.RaggedTensor):
      return tf.ragged.map_flat_values(self.lookup, tokens)
    ids = self.token_to_id.lookup(tokens)
    stripped = self.token_to_id.lookup(
        tf.strings.regex_replace(tokens, r"\.$", ""))
    ids = tf.where(tf.equal(ids, UNK_ID), stripped, ids)
    return tf.cast(ids, tf.int32)

  def tokenize(self, sentences):
    """Raw sentences `(N,)` -> ragged int32 ids `(N, None)` (no <bos>/<eos>)."""
    return self.lookup(normalize_text(sentences))

  def encode(self, sentences, add_eos=True):
    """Raw sentences -> dense int32 `(N, T)`: ids, `<eos>`, then `<pad>`."""
    ids = self.tokenize(sentences)
    if add_eos:
      eos = tf.fill([ids.nrows(), 1], tf.constant(EOS_ID, tf.int32))
      ids = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
    return ids.to_tensor(default_value=PAD_ID)

  def ids_to_tokens(self, ids):
    """int ids (any shape) -> string tokens."""
    return self.id_to_token.lookup(tf.cast(ids, tf.int64))

  def detokenize(self, ids):
    """int `(N, T)` -> strings `(N,)`: up to the first `<eos>`, no `<pad>`."""
    ids = tf.cast(ids, tf.int32)
    before_eos = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32),
                                    axis=1), 0)
    keep = tf.logical_and(before_eos, tf.not_equal(ids, PAD_ID))
    tokens = tf.ragged.boolean_mask(self.ids_to_tokens(ids), keep)
    return tf.strings.reduce_join(tokens, axis=1, separator=" ")


# -- Text pipelines --------------------------------------------------------


def _sha256(path):
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def ptb_paths(data_dir=None):
  """`{split: path}` of the bundled PTB files."""
  data_dir = data_dir or os.path.join(DATA_DIR, "ptb")
  return {split: os.path.join(data_dir, f"ptb.{split}.txt") for split in SPLITS}


def verify_ptb(data_dir=None):
  """Checks the PTB files against their published sha256; returns the paths."""
  paths = ptb_paths(data_dir)
  for split, path in paths.items():
    if not tf.io.gfile.exists(path):
      raise DataError(f"PTB file `{path}` is missing; restore it from git "
                      "(`git checkout -- data/ptb`).")
    actual = _sha256(path)
    if actual != PTB_SHA256[split]:
      raise DataError(
          f"PTB file `{path}` was altered: sha256 {actual}, expected "
          f"{PTB_SHA256[split]}; restore it from git (`git checkout -- "
          "data/ptb`).")
  return paths


def _apply_length_policy(ids, max_length, length_policy):
  """ids ragged `(N, None)` with <eos> last; see `text_dataset`."""
  if max_length is None or length_policy == "keep":
    return ids
  lengths = ids.row_lengths()
  if length_policy == "drop":
    return tf.ragged.boolean_mask(ids, lengths <= max_length)
  # Truncate: keep the first max_length - 1 words and put <eos> last.
  clipped = ids[:, :max_length]
  last = clipped.row_starts() + clipped.row_lengths() - 1
  rows_to_fix = tf.boolean_mask(last, lengths > max_length)
  flat = tf.tensor_scatter_nd_update(
      clipped.flat_values, rows_to_fix[:, None],
      tf.fill(tf.shape(rows_to_fix), tf.constant(EOS_ID, tf.int32)))
  return clipped.with_flat_values(flat)


def text_dataset(path, vocabulary, batch_size, *, shuffle=False, seed=0,
                 repeat=False, max_length=None, length_policy="keep",
                 bucket_boundaries=None, pad_to_bucket_boundary=False,
                 drop_remainder=False, shuffle_buffer=None):
  """Batches of `{"tokens": int32 (B, T)}` from a one-sentence-per-line file.

  The file is tokenised once, in one batched call, then sliced: an epoch of
  PTB train costs about a second to build.

  Length policy (lengths count `<eos>`): "keep" leaves every sentence whole
  (use it for evaluation); "truncate" keeps the first `max_length - 1` words
  and the `<eos>`; "drop" removes longer sentences.

  Args:
    path: text file, one sentence per line.
    vocabulary: a `Vocabulary`.
    batch_size: examples per batch.
    shuffle: shuffle the examples (the whole file: PTB fits easily).
    seed: shuffle seed; the same seed gives the same batches in the same
      order on every run, including after `repeat`.
    repeat: repeat forever (each epoch reshuffled, deterministically).
    max_length: the length limit for the policy, or None.
    length_policy: "keep", "truncate" or "drop".
    bucket_boundaries: sorted lengths; batches group sentences of similar
      length, padded to the bucket boundary (few distinct shapes, so few
      retraces). None: plain padded batches.
    pad_to_bucket_boundary: pad each batch to its bucket's upper boundary
      instead of its longest sentence, so only `len(bucket_boundaries)`
      shapes occur (what XLA, which compiles per shape, wants). Needs every
      length below the last boundary: it is extended to `max_length + 1`.
    drop_remainder: drop a final smaller batch (data-parallel training).
    shuffle_buffer: buffer size (default: the whole file).
  """
  _check_batch_size(batch_size)
  if length_policy not in LENGTH_POLICIES:
    raise ValueError(f"`length_policy` must be one of {LENGTH_POLICIES}, "
                     f"received {length_policy!r}.")
  if length_policy != "keep" and (max_length is None or max_length < 2):
    raise ValueError(f"`max_length` must be at least 2 with length_policy="
                     f"{length_policy!r}, received {max_length!r}.")
  sentences = read_sentences(path)
  ids = vocabulary.encode(tf.constant(sentences))  # (N, T) with <eos>.
  ids = tf.RaggedTensor.from_tensor(ids, padding=PAD_ID)
  ids = _apply_length_policy(ids, max_length, length_policy)
  dataset = tf.data.Dataset.from_tensor_slices(
      (ids.to_tensor(default_value=PAD_ID), ids.row_lengths()))
  dataset = dataset.map(lambda row, length: row[:length])
  if shuffle:
    dataset = dataset.shuffle(shuffle_buffer or int(ids.nrows()), seed=seed,
                              reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  if bucket_boundaries:
    boundaries = list(bucket_boundaries)
    if pad_to_bucket_boundary:
      if max_length is None or length_policy == "keep":
        raise ValueError("`pad_to_bucket_boundary` needs a `max_length` and a "
                         "length_policy of 'truncate' or 'drop'.")
      boundaries = [b for b in boundaries if b <= max_length]
      boundaries.append(max_length + 1)
    dataset = dataset.bucket_by_sequence_length(
        lambda x: tf.shape(x)[0], bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=PAD_ID, drop_remainder=drop_remainder,
        pad_to_bucket_boundary=pad_to_bucket_boundary)
  else:
    dataset = dataset.padded_batch(batch_size, padded_shapes=[None],
                                   padding_values=PAD_ID,
                                   drop_remainder=drop_remainder)
  dataset = dataset.map(lambda tokens: {"tokens": tokens},
                        num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)


def padding_statistics(dataset, max_batches=None):
  """Share of padded positions in a text dataset (the cost of padding)."""
  tokens = padded = 0
  for index, batch in enumerate(dataset):
    if max_batches is not None and index >= max_batches:
      break
    values = batch["tokens"].numpy()
    tokens += int(np.sum(values != PAD_ID))
    padded += int(np.sum(values == PAD_ID))
  total = max(1, tokens + padded)
  return dict(tokens=tokens, padded_positions=padded,
              padding_fraction=padded / total)


# -- Binarized MNIST -------------------------------------------------------


def _mnist_path(path=None):
  return path or os.path.join(DATA_DIR, "binarized_mnist",
                              "binarized_mnist.npz")


def verify_binarized_mnist(path=None):
  """Checks each packed array against its published sha256."""
  path = _mnist_path(path)
  if not tf.io.gfile.exists(path):
    raise DataError(f"binarized MNIST file `{path}` is missing; restore it "
                    "from git (`git checkout -- data/binarized_mnist`).")
  with np.load(path) as archive:
    for split in SPLITS:
      if split not in archive:
        raise DataError(f"binarized MNIST file `{path}` has no `{split}` "
                        "array; restore it from git.")
      actual = hashlib.sha256(
          np.ascontiguousarray(archive[split]).tobytes()).hexdigest()
      if actual != MNIST_SHA256[split]:
        raise DataError(
            f"binarized MNIST `{split}` array in `{path}` was altered: sha256 "
            f"{actual}, expected {MNIST_SHA256[split]}; restore it from git.")
  return path


def load_binarized_mnist(split, path=None):
  """uint8 `(N, 28, 28)` images in {0, 1} (upright, row-major)."""
  _check_split(split)
  path = verify_binarized_mnist(path)
  with np.load(path) as archive:
    pixels = np.unpackbits(archive[split], axis=1)
  return pixels.reshape(-1, 28, 28)


def image_dataset(split, batch_size, *, shuffle=False, seed=0, repeat=False,
                  drop_remainder=False, path=None):
  """Batches of `{"pixels": float32 (B, 28, 28)}` of binarized MNIST."""
  _check_batch_size(batch_size)
  images = load_binarized_mnist(split, path)
  dataset = tf.data.Dataset.from_tensor_slices(images)
  if shuffle:
    dataset = dataset.shuffle(len(images), seed=seed,
                              reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  dataset = dataset.map(lambda x: {"pixels": tf.cast(x, tf.float32)},
                        num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)
