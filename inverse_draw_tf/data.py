"""Data: the bundled Penn Treebank and binarized MNIST, one text normalisation
shared by training and serving, the vocabulary, and `tf.data` pipelines.

Text batches are `{"tokens": int32 (batch_size, T)}`: each row the sentence's
ids, then `<eos>`, then `<pad>` (id 0). There is no `<bos>`: the model adds it.
Image batches are `{"pixels": float32 (batch_size, 28, 28)}` with values 0/1.

`normalize_text` and the `Vocabulary` methods use only core TensorFlow ops and
tensorflow-text ops that exist in tensorflow-text 2.12 (`CaseFoldUTF8`,
`WhitespaceTokenizeWithOffsetsV2`), because the exported SavedModel tokenises
raw strings in-graph with the very same functions and a stock TF Serving build
embeds tensorflow-text 2.12.1.
"""

import collections
import hashlib
import os
import tempfile

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

# sha256 of the bundled files (data/ptb/README.md).
PTB_SHA256 = {
    "train": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "valid": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "test": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
# sha256 of each packed array's raw bytes; the .npz file's own hash depends on
# zip timestamps (data/binarized_mnist/README.md).
MNIST_SHA256 = {
    "train": "727146c35424b019f3e350e1e69faa05644a0abaf787e3f4e1a9632220a13906",
    "valid": "a256ac44ae26be720fad8616a05ed6ecfd1619930d9a208379bb2a4405df5b6d",
    "test": "9fcd8da6f0fdf09b2ba30fe63a0bb784042a0de82563172530229b983e294ff2",
}
MNIST_SIZES = {"train": 50000, "valid": 10000, "test": 10000}
_MNIST_PACKED_WIDTH = 28 * 28 // 8


class DataError(ValueError):
  """A missing, altered or malformed data file (one line, with the fix)."""


def _check_split(split):
  if split not in SPLITS:
    raise ValueError(f"`split` must be one of {SPLITS}, received {split!r}.")


def _check_seed(seed):
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
    raise ValueError(f"`seed` must be an integer, received {seed!r}.")


def _check_batch_size(batch_size):
  if (isinstance(batch_size, bool)
      or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
    raise ValueError("`batch_size` must be a positive integer, received "
                     f"{batch_size!r}.")


# -- Normalisation ---------------------------------------------------------

# Mikolov's PTB removed this punctuation; raw text loses it too: runs of dots
# or dashes ("said...", "a--b"), curly double quotes and long dashes as well.
# (Case folding applies NFKC first, which already turned "…" into "...".)
_DROPPED_PUNCTUATION = "[,;:!?()\\[\\]{}\"`“”„«»–—]|\\.\\.+|--+"
# PTB splits clitics off ("did n't", "it 's", "investors '").
_NEGATION = r"([a-z])n't\b"
_CLITIC = r"([a-z])'(s|re|ve|ll|m|d)\b"
_PLURAL_POSSESSIVE = r"s'(\s|$)"
# A whole token that is a number becomes N ("1,000", "3.5", "1987", "1/2"),
# but not a token with digits inside a word ("30-year", "1980s", "'80s"), as
# in PTB. Case folding turned PTB's own N into "n" (no PTB word is "n").
_NUMBER = r"^([+-]?[0-9.,:]*[0-9][0-9.,:]*(\\/[0-9]+)?|n)$"
# Tokens of dots and dashes alone ("." after a dropped bracket, " - ").
_RULE = r"[.\-]+"


def normalize_text(sentences):
  """Raw sentences -> PTB-style tokens.

  Case-folds (with NFKC); drops the punctuation Mikolov's PTB removed
  (`, ; : ! ? ( ) [ ] { } "`, runs of dots or dashes, lone dots or dashes)
  but keeps what it kept (`u.s.`, `mr.`, `at&t`, `$`, `#`, `'`, `<unk>`);
  splits off clitics (`did n't`, `it 's`, `investors '`) and a `$` or `#`
  before a number; escapes `/` and `*` as PTB does (`mgm\\/ua`);
  whitespace-tokenises; and replaces every number token by `N`, and `%` by a
  second `N`, as PTB writes "5 %" as "N N". A sentence-final period stays on
  its word ("rise."): `Vocabulary` looks such a token up without it, while
  abbreviations ("u.s.") keep theirs. The function is the identity on the
  PTB files: every line gives back `line.split()`.

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
  text = tf.strings.regex_replace(text, "[‘’′]", "'")
  # Thousands separators and clock times go before commas and colons do:
  # "1,000,000" stays one number (twice, as matches cannot overlap).
  for _ in range(2):
    text = tf.strings.regex_replace(text, r"([0-9])[,:]([0-9])", r"\1\2")
  text = tf.strings.regex_replace(text, _DROPPED_PUNCTUATION, " ")
  text = tf.strings.regex_replace(text, r"([$#])([0-9.])", r"\1 \2")
  text = tf.strings.regex_replace(text, "%", " N ")
  # Unescape first so that PTB's own `\/` and `\*` are not escaped twice.
  text = tf.strings.regex_replace(text, r"\\([/*])", r"\1")
  text = tf.strings.regex_replace(text, r"([/*])", r"\\\1")
  text = tf.strings.regex_replace(text, _NEGATION, r"\1 n't")
  text = tf.strings.regex_replace(text, _CLITIC, r"\1 '\2")
  text = tf.strings.regex_replace(text, _PLURAL_POSSESSIVE, r"s '\1")
  tokens = tf_text.WhitespaceTokenizer().tokenize(text)
  tokens = tf.ragged.boolean_mask(
      tokens, tf.logical_not(tf.strings.regex_full_match(tokens, _RULE)))
  return tf.ragged.map_flat_values(tf.strings.regex_replace, tokens,
                                   _NUMBER, "N")


# -- Vocabulary ------------------------------------------------------------


def read_sentences(path):
  """The non-empty lines of a one-sentence-per-line UTF-8 text file."""
  if not tf.io.gfile.exists(path):
    raise DataError(f"text file `{path}` does not exist; pass a file with "
                    "one sentence per line.")
  with tf.io.gfile.GFile(path, "rb") as f:
    lines = f.read().decode("utf-8", errors="replace").split("\n")
  sentences = [line.rstrip("\r") for line in lines if line.strip()]
  if not sentences:
    raise DataError(f"text file `{path}` has no sentences; pass a file with "
                    "one sentence per line.")
  return sentences


def build_vocabulary(token_lists_or_path, max_size=None, min_count=1):
  """Special tokens, then words by descending count (ties alphabetical).

  PTB's own `<unk>` is the special token, not a second entry: PTB train gives
  its 9,999 word types plus `<pad>`, `<bos>`, `<eos>`, 10,002 entries.

  Args:
    token_lists_or_path: a text file (one sentence per line, normalised with
      `normalize_text`), or an iterable of token lists (used as they are).
    max_size: cap on the size including the four special tokens, or None.
    min_count: drop words seen fewer times.

  Returns:
    The list of tokens; a token's index is its id.
  """
  if max_size is not None and max_size < len(SPECIAL_TOKENS) + 1:
    raise ValueError(f"`max_size` must be at least {len(SPECIAL_TOKENS) + 1} "
                     f"(the special tokens and a word), received {max_size!r}.")
  if min_count < 1:
    raise ValueError(f"`min_count` must be at least 1, received {min_count!r}.")
  if isinstance(token_lists_or_path, (str, os.PathLike)):
    sentences = read_sentences(os.fspath(token_lists_or_path))
    token_lists = [[t.decode("utf-8") for t in sentence] for sentence in
                   normalize_text(tf.constant(sentences)).to_list()]
  else:
    token_lists = token_lists_or_path
  counts = collections.Counter(t for tokens in token_lists for t in tokens)
  for token in SPECIAL_TOKENS:
    counts.pop(token, None)
  words = sorted((w for w, c in counts.items() if c >= min_count),
                 key=lambda w: (-counts[w], w))
  tokens = list(SPECIAL_TOKENS) + words
  return tokens[:max_size] if max_size else tokens


def _check_tokens(tokens, path):
  """Raises unless `tokens` can back the lookup tables of `Vocabulary`."""
  if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
    raise DataError(f"vocabulary `{path}` must start with {SPECIAL_TOKENS} on "
                    f"its first four lines, found {tuple(tokens[:4])}; build "
                    "it with `build_vocabulary`.")
  for line, token in enumerate(tokens, 1):
    if not isinstance(token, str) or not token or token != token.strip() or (
        len(token.split()) != 1):
      raise DataError(f"vocabulary `{path}` line {line} must be one token "
                      f"without whitespace, found {token!r}.")
  duplicates = sorted(t for t, c in collections.Counter(tokens).items()
                      if c > 1)
  if duplicates:
    raise DataError(f"vocabulary `{path}` must list each token once, found "
                    f"duplicates {duplicates[:5]}.")


def save_vocabulary(tokens, path):
  """Writes one token per line via a temp file and a rename: a crash leaves
  either the old file or the new one, never a half-written one."""
  tokens = list(tokens)
  _check_tokens(tokens, path)
  temp = f"{path}.tmp-{os.getpid()}"
  try:
    with tf.io.gfile.GFile(temp, "w") as f:
      f.write("".join(f"{token}\n" for token in tokens))
    tf.io.gfile.rename(temp, path, overwrite=True)
  finally:
    if tf.io.gfile.exists(temp):
      tf.io.gfile.remove(temp)


def load_vocabulary(path):
  """Reads and checks a vocabulary file written by `save_vocabulary`."""
  if not tf.io.gfile.exists(path):
    raise DataError(f"vocabulary file `{path}` does not exist; write one with "
                    "`save_vocabulary(build_vocabulary(train_path), path)`.")
  with tf.io.gfile.GFile(path, "rb") as f:
    tokens = f.read().decode("utf-8").split("\n")
  if tokens and tokens[-1] == "":
    tokens.pop()
  _check_tokens(tokens, path)
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
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            vocab_size=self._size),
        default_value=UNK_ID)
    self.id_to_token = tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            self.asset, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
            tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            vocab_size=self._size),
        default_value=UNK)

  @property
  def size(self):
    """Number of tokens, special tokens included."""
    return self._size

  def lookup(self, tokens):
    """String tokens (any shape, or ragged) -> int32 ids.

    A token ending in "." that is not in the vocabulary falls back to the
    token without it ("rise." -> "rise"), so sentence-final periods of raw
    text work while abbreviations in the vocabulary ("u.s.") stay whole.
    `<pad>`, `<bos>` and `<eos>` written in the text become `<unk>`: only the
    pipeline places them.
    """
    if isinstance(tokens, tf.RaggedTensor):
      return tf.ragged.map_flat_values(self.lookup, tokens)
    ids = self.token_to_id.lookup(tokens)
    stripped = self.token_to_id.lookup(
        tf.strings.regex_replace(tokens, r"\.$", ""))
    ids = tf.where(tf.equal(ids, UNK_ID), stripped, ids)
    ids = tf.where(ids < len(SPECIAL_TOKENS), tf.constant(UNK_ID, tf.int64),
                   ids)
    return tf.cast(ids, tf.int32)

  def tokenize(self, sentences):
    """Raw sentences `(N,)` -> ragged int32 ids `(N, None)` (no <bos>/<eos>)."""
    return self.lookup(normalize_text(sentences))

  def encode(self, sentences, add_eos=True):
    """Raw sentences `(N,)` -> dense int32 `(N, T)`: ids, `<eos>`, `<pad>`."""
    ids = self.tokenize(sentences)
    if add_eos:
      ids = _append_eos(ids)
    return ids.to_tensor(default_value=PAD_ID)

  def ids_to_tokens(self, ids):
    """int ids (any shape) -> string tokens; unknown ids give `<unk>`."""
    return self.id_to_token.lookup(tf.cast(ids, tf.int64))

  def detokenize(self, ids):
    """int `(N, T)` -> strings `(N,)`: tokens before the first `<eos>`,
    without `<pad>`, joined by single spaces."""
    ids = tf.cast(ids, tf.int32)
    before_eos = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32),
                                    axis=1), 0)
    keep = tf.logical_and(before_eos, tf.not_equal(ids, PAD_ID))
    tokens = tf.ragged.boolean_mask(self.ids_to_tokens(ids), keep)
    return tf.strings.reduce_join(tokens, axis=1, separator=" ")


def _append_eos(ids):
  eos = tf.fill([ids.nrows(), 1], tf.constant(EOS_ID, ids.dtype))
  return tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)


# -- Corpora ---------------------------------------------------------------


def _sha256(path):
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def ptb_paths(data_dir=None):
  """`{split: path}` of the PTB files (default: the bundled copy)."""
  data_dir = data_dir or os.path.join(DATA_DIR, "ptb")
  return {split: os.path.join(data_dir, f"ptb.{split}.txt") for split in SPLITS}


def verify_ptb(data_dir=None):
  """Checks the PTB files against their published sha256; returns the paths.

  Args:
    data_dir: directory holding `ptb.{train,valid,test}.txt` (default: the
      bundled copy).
  """
  paths = ptb_paths(data_dir)
  for split, path in paths.items():
    if not tf.io.gfile.exists(path):
      raise DataError(f"PTB file `{path}` is missing; restore it with "
                      "`git checkout -- data/ptb`.")
    actual = _sha256(path)
    if actual != PTB_SHA256[split]:
      raise DataError(
          f"PTB file `{path}` was altered: sha256 {actual}, expected "
          f"{PTB_SHA256[split]}; restore it with `git checkout -- data/ptb`.")
  return paths


class TextCorpus:
  """The train/valid/test files of a corpus with one sentence per line.

  Example:

  >>> corpus = TextCorpus.ptb()  # Or TextCorpus(train="my_train.txt", ...).
  >>> vocabulary_tokens = build_vocabulary(corpus.path("train"))
  >>> dataset = corpus.dataset("valid", vocabulary, 64, length_policy="keep")
  """

  def __init__(self, train, valid=None, test=None):
    given = dict(train=train, valid=valid, test=test)
    self.paths = {split: os.fspath(path) for split, path in given.items()
                  if path is not None}
    for split, path in self.paths.items():
      if not tf.io.gfile.exists(path):
        raise DataError(f"`{split}` file `{path}` does not exist; pass a text "
                        "file with one sentence per line.")

  @classmethod
  def ptb(cls, data_dir=None):
    """The bundled PTB, verified against its sha256 values."""
    return cls(**verify_ptb(data_dir))

  def path(self, split):
    """The file of `split`."""
    _check_split(split)
    if split not in self.paths:
      raise ValueError(f"this corpus has no `{split}` file; pass "
                       f"`{split}=PATH` to TextCorpus.")
    return self.paths[split]

  def dataset(self, split, vocabulary, batch_size, **kwargs):
    """`text_dataset` of `split`'s file (same keyword arguments)."""
    return text_dataset(self.path(split), vocabulary, batch_size, **kwargs)


# -- Text pipelines --------------------------------------------------------


def _check_bucket_boundaries(bucket_boundaries):
  boundaries = list(bucket_boundaries)
  if not all(isinstance(b, (int, np.integer)) and b > 0 for b in boundaries) or (
      any(a >= b for a, b in zip(boundaries, boundaries[1:]))):
    raise ValueError("`bucket_boundaries` must be strictly increasing "
                     f"positive integers, received {bucket_boundaries!r}.")
  return boundaries


def _example_order(num_examples, shuffle, seed, repeat):
  """Dataset of example indices, epoch after epoch.

  A shuffled epoch is a permutation drawn statelessly from `(seed, epoch)`,
  so the order depends on `seed` alone: not on `tf.random.set_seed`, nor on
  how many datasets or random ops were created before (which is what an
  op-seeded `Dataset.shuffle` depends on), and every epoch differs.
  """
  epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)

  def epoch_indices(epoch):
    indices = tf.range(num_examples, dtype=tf.int64)
    if shuffle:
      indices = tf.random.experimental.stateless_shuffle(
          indices, seed=tf.stack([tf.constant(seed, tf.int64), epoch]),
          alg="philox")
    return tf.data.Dataset.from_tensor_slices(indices)

  return epochs.flat_map(epoch_indices)


def text_dataset(path, vocabulary, batch_size, *, shuffle=False, seed=0,
                 repeat=False, max_length=None, length_policy="truncate",
                 bucket_boundaries=None, pad_to_bucket_boundary=False,
                 drop_remainder=False, num_parallel_calls=tf.data.AUTOTUNE):
  """Batches of `{"tokens": int32 (B, T)}` from a one-sentence-per-line file.

  Each row is the sentence's ids, `EOS_ID`, then `PAD_ID` up to the batch's
  longest row (or its bucket boundary). The whole file is tokenised in one
  batched call and then sliced: an epoch of PTB train takes seconds.

  Length policy, with lengths counting the `<eos>` (PTB train has sentences
  of up to 83 with it): with `max_length=None` every sentence stays whole.
  Otherwise "truncate" keeps the first `max_length - 1` words of a longer
  sentence and ends it with `<eos>` at position `max_length - 1`; "drop"
  removes longer sentences; "keep" changes nothing (evaluation must use it,
  so every sentence is scored whole).

  Args:
    path: text file, one sentence per line (empty lines are skipped).
    vocabulary: a `Vocabulary`.
    batch_size: sentences per batch.
    shuffle: shuffle the sentences (the whole file, anew each epoch).
    seed: shuffle seed. The same seed gives the same batches in the same
      order on every run, whatever the global TensorFlow seed.
    repeat: repeat forever.
    max_length: the limit for `length_policy` (at least 2), or None.
    length_policy: "truncate", "drop" or "keep".
    bucket_boundaries: strictly increasing lengths; batches then group
      sentences of similar length, which cuts padding (bucket `i` holds
      lengths in `[boundaries[i-1], boundaries[i])`). None or empty: plain
      padded batches in file (or shuffled) order.
    pad_to_bucket_boundary: pad each batch to its bucket's upper boundary,
      so only `len(bucket_boundaries) + 1` shapes occur (what XLA, which
      compiles per shape, wants). The last boundary becomes `max_length + 1`
      ("truncate", "drop") or the longest sentence's length + 1 (every
      sentence whole), and without buckets every batch is padded to that
      longest possible row.
    drop_remainder: drop smaller final batches (of each bucket).
    num_parallel_calls: parallelism of the per-sentence and per-batch maps.

  Returns:
    A `tf.data.Dataset`, prefetching.
  """
  _check_batch_size(batch_size)
  _check_seed(seed)
  if length_policy not in LENGTH_POLICIES:
    raise ValueError(f"`length_policy` must be one of {LENGTH_POLICIES}, "
                     f"received {length_policy!r}.")
  if max_length is not None and (isinstance(max_length, bool) or not isinstance(
      max_length, (int, np.integer)) or max_length < 2):
    raise ValueError("`max_length` must be an integer of at least 2 (a word "
                     f"and <eos>) or None, received {max_length!r}.")
  boundaries = _check_bucket_boundaries(bucket_boundaries or ())
  limited = max_length is not None and length_policy != "keep"

  words = vocabulary.tokenize(tf.constant(read_sentences(path), tf.string))
  if limited and length_policy == "truncate":
    words = words[:, :max_length - 1]
  elif limited:
    words = tf.ragged.boolean_mask(words, words.row_lengths() < max_length)
    if int(words.nrows()) == 0:
      raise ValueError(f"`max_length`={max_length} with length_policy='drop' "
                       f"removes every sentence of `{path}`; raise it.")
  ids = _append_eos(words)
  rows = ids.to_tensor(default_value=PAD_ID)
  lengths = ids.row_lengths()
  # The longest row a batch can hold: every sentence whole when unlimited.
  width = max_length if limited else int(tf.reduce_max(lengths))
  dataset = _example_order(int(ids.nrows()), shuffle, seed, repeat).map(
      lambda index: rows[index, :lengths[index]],
      num_parallel_calls=num_parallel_calls)
  if boundaries:
    if pad_to_bucket_boundary:
      boundaries = [b for b in boundaries if b <= width]
      boundaries.append(width + 1)
    dataset = dataset.bucket_by_sequence_length(
        lambda row: tf.shape(row)[0], bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padding_values=PAD_ID, drop_remainder=drop_remainder,
        pad_to_bucket_boundary=pad_to_bucket_boundary)
  else:
    dataset = dataset.padded_batch(
        batch_size, padded_shapes=[width if pad_to_bucket_boundary else None],
                                   padding_values=PAD_ID,
                                   drop_remainder=drop_remainder)
  dataset = dataset.map(lambda tokens: {"tokens": tokens},
                        num_parallel_calls=num_parallel_calls)
  return dataset.prefetch(tf.data.AUTOTUNE)


def padding_statistics(dataset, max_batches=None):
  """Token and padding counts of a text dataset (the waste of padding).

  Args:
    dataset: batches of `{"tokens": (B, T)}`.
    max_batches: stop after this many batches (needed for endless datasets).

  Returns:
    dict with `tokens` (non-padding positions, `<eos>` included),
    `padded_positions` and `padding_fraction` (padded share of all positions).
  """
  tokens = padded = 0
  for index, batch in enumerate(dataset):
    if max_batches is not None and index >= max_batches:
      break
    values = batch["tokens"].numpy()
    padded += int(np.sum(values == PAD_ID))
    tokens += values.size - int(np.sum(values == PAD_ID))
  return dict(tokens=tokens, padded_positions=padded,
              padding_fraction=padded / max(1, tokens + padded))


# -- Binarized MNIST -------------------------------------------------------


def _mnist_path(path=None):
  return path or os.path.join(DATA_DIR, "binarized_mnist",
                              "binarized_mnist.npz")


def verify_binarized_mnist(path=None):
  """Checks each packed array's shape and sha256; returns the file's path.

  Args:
    path: the `.npz` file (default: the bundled copy).
  """
  path = _mnist_path(path)
  if not tf.io.gfile.exists(path):
    raise DataError(f"binarized MNIST file `{path}` is missing; restore it "
                    "with `git checkout -- data/binarized_mnist`.")
  with np.load(path) as archive:
    for split in SPLITS:
      if split not in archive:
        raise DataError(f"binarized MNIST file `{path}` has no `{split}` "
                        "array; restore it with `git checkout -- "
                        "data/binarized_mnist`.")
      array = archive[split]
      shape = (MNIST_SIZES[split], _MNIST_PACKED_WIDTH)
      if array.shape != shape or array.dtype != np.uint8:
        raise DataError(
            f"binarized MNIST `{split}` array in `{path}` is {array.dtype} "
            f"{array.shape}, expected uint8 {shape}; restore it with "
            "`git checkout -- data/binarized_mnist`.")
      actual = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()
      if actual != MNIST_SHA256[split]:
        raise DataError(
            f"binarized MNIST `{split}` array in `{path}` was altered: sha256 "
            f"{actual}, expected {MNIST_SHA256[split]}; restore it with "
            "`git checkout -- data/binarized_mnist`.")
  return path


def load_binarized_mnist(split, path=None):
  """uint8 `(N, 28, 28)` images in {0, 1} (upright, row-major), verified."""
  _check_split(split)
  path = verify_binarized_mnist(path)
  with np.load(path) as archive:
    pixels = np.unpackbits(archive[split], axis=1)
  return pixels.reshape(-1, 28, 28)


def image_dataset(split, batch_size, *, shuffle=False, seed=0, repeat=False,
                  drop_remainder=False, path=None):
  """Batches of `{"pixels": float32 (B, 28, 28)}` of binarized MNIST.

  Args:
    split: "train", "valid" or "test".
    batch_size: images per batch.
    shuffle: shuffle the images, anew each epoch.
    seed: shuffle seed; the same seed gives the same batches on every run.
    repeat: repeat forever.
    drop_remainder: drop a smaller final batch.
    path: the `.npz` file (default: the bundled copy).

  Returns:
    A `tf.data.Dataset`, prefetching.
  """
  _check_batch_size(batch_size)
  _check_seed(seed)
  images = tf.constant(load_binarized_mnist(split, path))
  dataset = _example_order(int(images.shape[0]), shuffle, seed, repeat)
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  dataset = dataset.map(
      lambda indices: {"pixels": tf.cast(tf.gather(images, indices),
                                         tf.float32)},
      num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)


class Input:
  """The data side of a run: its vocabulary and dataset factories.

  Args:
    input_config: the `config.input` section.
    workdir: the run's directory; its `vocab.txt` is built from the training
      split on first use and read afterwards (None: a temporary directory).
  """

  def __init__(self, input_config, workdir=None):
    self.config = input_config
    self.dataset_name = input_config.dataset
    self.vocabulary = None
    if self.dataset_name == "binarized_mnist":
      verify_binarized_mnist()
      return
    self.paths = self._text_paths()
    vocab_path = os.path.join(workdir or tempfile.mkdtemp(), "vocab.txt")
    if not tf.io.gfile.exists(vocab_path):
      tokens = build_vocabulary(
          self.paths["train"],
          max_size=input_config.vocab_max_size or None,
          min_count=input_config.vocab_min_count)
      save_vocabulary(tokens, vocab_path)
    self.vocabulary = Vocabulary(vocab_path)

  @staticmethod
  def check(input_config, splits=("train", "valid")):
    """Raises a one-line DataError if a split a run reads is missing or has
    no sentences: run before anything is written to a new workdir."""
    if input_config.dataset == "binarized_mnist":
      verify_binarized_mnist()
    elif input_config.dataset == "ptb":
      verify_ptb()
    else:
      for split in splits:
        read_sentences(input_config[f"{split}_path"])

  def _text_paths(self):
    if self.dataset_name == "ptb":
      verify_ptb()
      return ptb_paths()
    return dict(train=self.config.train_path, valid=self.config.valid_path,
                test=self.config.test_path)

  @property
  def vocab_size(self):
    return None if self.vocabulary is None else self.vocabulary.size

  def train_dataset(self, batch_size, seed, pad_to_bucket_boundary=False):
    """The endless, shuffled training stream (drop_remainder for replicas)."""
    if self.dataset_name == "binarized_mnist":
      return image_dataset("train", batch_size, shuffle=True, seed=seed,
                                repeat=True, drop_remainder=True)
    return text_dataset(
        self.paths["train"], self.vocabulary, batch_size, shuffle=True,
        seed=seed, repeat=True, max_length=self.config.max_length,
        length_policy=self.config.length_policy,
        bucket_boundaries=tuple(self.config.bucket_boundaries),
        pad_to_bucket_boundary=pad_to_bucket_boundary, drop_remainder=True)

  def eval_dataset(self, split, batch_size, pad_to_bucket_boundary=False):
    """One pass over `split`, every example whole, in file order (within
    each length bucket)."""
    if self.dataset_name == "binarized_mnist":
      return image_dataset(split, batch_size)
    return text_dataset(
        self.paths[split], self.vocabulary, batch_size, length_policy="keep",
        bucket_boundaries=tuple(self.config.bucket_boundaries),
        pad_to_bucket_boundary=pad_to_bucket_boundary)
