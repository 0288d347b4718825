"""What each slot does, computed from attention weights: pure NumPy functions.

Everything here is a function of arrays the model already returns (no model,
no drawing), so it can be tested on small hand-made tensors and summed over a
split batch by batch. The report (`report/`) draws the results.

```none
decoder weights   w[b, t, k]   share of emitted element t read from slot k
assignment        a[b, t] = argmax_k w[b, t, k]      the slot that produced t
tokens per slot n[b, k] = sum_t m[b, t] w[b, t, k]     (by mass)
                  c[b, k] = #{t : m[b, t], a[b, t] = k}  (by argmax)
entropy           H[b, t] = -sum_k w[b, t, k] log w[b, t, k]   uniform: log K
window step       s[b, t] = kappa[b, t] - kappa[b, t - 1],  kappa[b, -1] = 0
```
The same functions describe one level up in a hierarchy: there the "elements"
are the lower slots and the weights are the hierarchical prior's read
weights `(B, K_0, K_1)` over the upper slots.

Arguments accept NumPy arrays or eager tensors; results are NumPy arrays
(float64 for sums, so totals over a whole split do not lose precision).
"""

import difflib

import numpy as np

# Burda et al. 2016 (https://arxiv.org/abs/1509.00519), Section 5.2.
ACTIVE_UNIT_THRESHOLD = 0.01


def _weights(weights, name="weights"):
  """`weights` as float64 `(B, R, C)`; one-line ValueError otherwise."""
  array = np.asarray(weights, np.float64)
  if array.ndim != 3:
    raise ValueError(
        f"`{name}` must have shape (batch_size, rows, slots), received shape "
        f"{array.shape}.")
  if array.shape[-1] < 1:
    raise ValueError(f"`{name}` must have at least one slot (last axis), "
                     f"received shape {array.shape}.")
  return array


def _mask(mask, shape, name):
  """A bool mask of `shape` (all True when None); ValueError on mismatch."""
  if mask is None:
    return np.ones(shape, bool)
  array = np.asarray(mask).astype(bool)
  if array.shape != tuple(shape):
    raise ValueError(f"`{name}` must have shape {tuple(shape)} to match the "
                     f"weights, received shape {array.shape}.")
  return array


def assignments(weights):
  """The slot that produced each element: argmax over slots.

  Args:
    weights: `(batch_size, T, K)` read weights.

  Returns:
    int `(batch_size, T)`; ties go to the lowest slot index.
  """
  return np.argmax(_weights(weights), axis=-1)


def rate_statistics(weights, mask=None, slot_mask=None):
  """Tokens per slot: how many emitted elements each slot covers.

  Args:
    weights: `(batch_size, T, K)` read weights.
    mask: bool `(batch_size, T)`, False on padding.
    slot_mask: bool `(batch_size, K)`, False on slots not in use (only with
      `slots_per_token`); those are left out of the per-slot means.

  Returns:
    dict with
      `mass`, `argmax`: `(batch_size, K)` elements per slot per example, by
        attention mass and by argmax;
      `mass_per_slot`, `argmax_per_slot`: `(K,)` their means over the
        examples in which the slot is in use (NaN if never);
      `lengths`: `(batch_size,)` unmasked elements;
      `slots_used`: `(batch_size,)` slots that are the argmax of at least one
        element;
      `tokens_per_used_slot`: `(batch_size,)` `lengths / slots_used` (NaN
        for an empty example);
      `mean_tokens_per_used_slot`: `sum(lengths) / sum(slots_used)`.
  """
  weights = _weights(weights)
  batch_size, _, num_slots = weights.shape
  mask = _mask(mask, weights.shape[:2], "mask")
  slot_mask = _mask(slot_mask, (batch_size, num_slots), "slot_mask")
  chosen = np.eye(num_slots)[np.argmax(weights, -1)]
  mass = np.einsum("btk,bt->bk", weights, mask)
  argmax = np.einsum("btk,bt->bk", chosen, mask)
  lengths = mask.sum(1).astype(np.float64)
  used = (argmax > 0).sum(1).astype(np.float64)
  in_use = slot_mask.sum(0)
  with np.errstate(invalid="ignore", divide="ignore"):
    mass_per_slot = np.where(in_use > 0,
                             (mass * slot_mask).sum(0) / in_use, np.nan)
    argmax_per_slot = np.where(in_use > 0,
                               (argmax * slot_mask).sum(0) / in_use, np.nan)
    per_example = np.where(used > 0, lengths / np.maximum(used, 1), np.nan)
  return dict(mass=mass, argmax=argmax, mass_per_slot=mass_per_slot,
              argmax_per_slot=argmax_per_slot, lengths=lengths,
              slots_used=used, tokens_per_used_slot=per_example,
              mean_tokens_per_used_slot=(float(lengths.sum() / used.sum())
                                         if used.sum() else float("nan")))


def attention_entropies(weights, row_mask=None, column_mask=None):
  """Entropy of every attention distribution, and its uniform baseline.

  Args:
    weights: `(batch_size, R, C)`: row r of example b is a distribution over
      C columns (decoder: elements x slots; posterior: slots x words).
    row_mask: bool `(batch_size, R)`: rows to keep.
    column_mask: bool `(batch_size, C)`: columns that could be read; the
      baseline of a row is `log(#readable columns)`.

  Returns:
    `(entropy, baseline)`, each float64 `(N,)` over the N kept rows (nats;
    zero weights contribute 0).
  """
  weights = _weights(weights)
  batch_size, rows, columns = weights.shape
  row_mask = _mask(row_mask, (batch_size, rows), "row_mask")
  column_mask = _mask(column_mask, (batch_size, columns), "column_mask")
  safe = np.where(weights > 0, weights, 1.0)
  entropy = -np.sum(weights * np.log(safe), axis=-1)
  readable = np.broadcast_to(column_mask.sum(1, keepdims=True),
                             (batch_size, rows))
  with np.errstate(divide="ignore"):
    baseline = np.log(readable.astype(np.float64))
  return entropy[row_mask], baseline[row_mask]


def word_slot_matrix(weights, mask, token_ids, vocab_size):
  """Which words each slot produces: per word type, mass and argmax counts.

  Args:
    weights: `(batch_size, T, K)` decoder read weights.
    mask: bool `(batch_size, T)`.
    token_ids: int `(batch_size, T)`: the element emitted at each step (for
      images, any per-step label such as the row index).
    vocab_size: V, one more than the largest id.

  Returns:
    dict with `mass` and `argmax`, float64 `(V, K)`: summed over the batch,
    so a split's matrix is the sum of its batches' matrices.
  """
  weights = _weights(weights)
  mask = _mask(mask, weights.shape[:2], "mask")
  ids = np.asarray(token_ids)
  if ids.shape != weights.shape[:2]:
    raise ValueError(f"`token_ids` must have shape {weights.shape[:2]} to "
                     f"match the weights, received shape {ids.shape}.")
  kept = ids[mask]
  if kept.size and (kept.min() < 0 or kept.max() >= vocab_size):
    raise ValueError(f"`token_ids` must lie in [0, {vocab_size}) "
                     f"(`vocab_size`), received ids from {kept.min()} to "
                     f"{kept.max()}.")
  num_slots = weights.shape[-1]
  mass = np.zeros([vocab_size, num_slots])
  argmax = np.zeros([vocab_size, num_slots])
  np.add.at(mass, kept, weights[mask])
  np.add.at(argmax, (kept, np.argmax(weights, -1)[mask]), 1.0)
  return dict(mass=mass, argmax=argmax)


def top_words(matrix, num_words, exclude=()):
  """The words with the largest values in each slot's column.

  Args:
    matrix: `(V, K)`, e.g. `word_slot_matrix(...)["mass"]`.
    num_words: how many per slot.
    exclude: ids to leave out (e.g. `<pad>`).

  Returns:
    K lists of `(id, value)`, largest first (ties: smaller id first), only
    values > 0.
  """
  matrix = np.asarray(matrix, np.float64)
  if matrix.ndim != 2:
    raise ValueError("`matrix` must have shape (vocab_size, slots), received "
                     f"shape {matrix.shape}.")
  excluded = set(int(i) for i in exclude)
  result = []
  for column in matrix.T:
    order = sorted((i for i in np.flatnonzero(column > 0)
                    if int(i) not in excluded),
                   key=lambda i: (-column[i], i))
    result.append([(int(i), float(column[i])) for i in order[:num_words]])
  return result


def distinctive_words(mass, num_words, min_count=5.0, exclude=()):
  """The words a slot produces far more often than its overall share.

  ```none
  lift[v, k] = (mass[v, k] / sum_j mass[v, j]) / (sum_u mass[u, k] / sum_uj mass[u, j])
  ```
  A lift of 3 means the slot produces this word three times as often as it
  produces words in general. Raw mass is dominated by frequent words ("the");
  the lift shows what is particular to a slot.

  Args:
    mass: `(V, K)` word-slot mass.
    num_words: how many per slot.
    min_count: leave out words seen fewer times (total mass).
    exclude: ids to leave out.

  Returns:
    K lists of `(id, lift, count)`, largest lift first (ties: larger count,
    then smaller id), only lifts > 1.
  """
  mass = np.asarray(mass, np.float64)
  if mass.ndim != 2:
    raise ValueError("`mass` must have shape (vocab_size, slots), received "
                     f"shape {mass.shape}.")
  counts = mass.sum(1)
  slot_share = mass.sum(0) / max(mass.sum(), 1e-300)
  excluded = set(int(i) for i in exclude)
  result = []
  for k in range(mass.shape[1]):
    candidates = []
    for i in np.flatnonzero(counts >= max(min_count, 1e-300)):
      if int(i) in excluded or slot_share[k] <= 0:
        continue
      lift = mass[i, k] / counts[i] / slot_share[k]
      if lift > 1.0:
        candidates.append((int(i), float(lift), float(counts[i])))
    candidates.sort(key=lambda c: (-c[1], -c[2], c[0]))
    result.append(candidates[:num_words])
  return result


def window_steps(kappa, mask=None):
  """Step sizes of a monotone window head, from its positions.

  Args:
    kappa: `(batch_size, T, M)` window positions after each step (the
      decoder's `attention_state` for window attention), starting from 0.
    mask: bool `(batch_size, T)`.

  Returns:
    float64 `(N, M)`: slots advanced at each of the N unmasked steps (its
    reciprocal is elements per slot).
  """
  kappa = _weights(kappa, "kappa")
  mask = _mask(mask, kappa.shape[:2], "mask")
  previous = np.concatenate([np.zeros_like(kappa[:, :1]), kappa[:, :-1]], 1)
  return (kappa - previous)[mask]


def active_units(posterior_means, threshold=ACTIVE_UNIT_THRESHOLD):
  """Counts dimensions whose posterior mean varies across the data.

  Args:
    posterior_means: `(N, num_dimensions)` array of posterior means.
    threshold: variance above which a dimension is active.

  Returns:
    `(number_active, variance_per_dimension)`.
  """
  variance = np.var(np.asarray(posterior_means, np.float64), axis=0)
  return int(np.sum(variance > threshold)), variance


def active_dimensions(posterior_means, slot_mask=None,
                      threshold=ACTIVE_UNIT_THRESHOLD):
  """Active dimensions per slot (Burda et al. 2016), from posterior means.

  Args:
    posterior_means: `(N, K, D)`.
    slot_mask: bool `(N, K)`: examples in which each slot is in use.
    threshold: a dimension is active if the variance over examples of its
      posterior mean exceeds this.

  Returns:
    `(counts, variance)`: int `(K,)` and float64 `(K, D)` (NaN for a slot in
    use in fewer than two examples, which then counts 0).
  """
  means = _weights(posterior_means, "posterior_means")
  num, num_slots, _ = means.shape
  slot_mask = _mask(slot_mask, (num, num_slots), "slot_mask")
  variance = np.full(means.shape[1:], np.nan)
  for k in range(num_slots):
    rows = means[slot_mask[:, k], k]
    if len(rows) >= 2:
      variance[k] = rows.var(0)
  with np.errstate(invalid="ignore"):
    counts = np.sum(np.nan_to_num(variance, nan=-1.0) > threshold, 1)
  return counts.astype(int), variance


def principal_direction(points):
  """The direction along which `points` vary most, for latent traversals.

  Args:
    points: `(N, D)`, e.g. one slot's posterior means over a split.

  Returns:
    `(direction, scale, mean)`: unit `(D,)` first principal axis (sign chosen
    so its largest-magnitude entry is positive), the standard deviation of
    the points along it, and the mean `(D,)`.
  """
  points = np.asarray(points, np.float64)
  if points.ndim != 2 or len(points) < 2:
    raise ValueError("`points` must have shape (N, D) with N >= 2, received "
                     f"shape {points.shape}.")
  mean = points.mean(0)
  _, _, vt = np.linalg.svd(points - mean, full_matrices=False)
  direction = vt[0]
  if direction[np.argmax(np.abs(direction))] < 0:
    direction = -direction
  scale = float(np.std((points - mean) @ direction))
  return direction, scale, mean


def interpolate(start, end, num_steps):
  """Linear homotopy `(1 - s) start + s end` for s in linspace(0, 1, steps).

  Bowman et al. 2016 (https://arxiv.org/abs/1511.06349), section 5.

  Args:
    start, end: arrays of one shape, e.g. `(K, D)` posterior means.
    num_steps: at least 2 (both ends included).

  Returns:
    `(num_steps, *start.shape)`.
  """
  start = np.asarray(start, np.float64)
  end = np.asarray(end, np.float64)
  if start.shape != end.shape:
    raise ValueError(f"`start` and `end` must have one shape, received "
                     f"{start.shape} and {end.shape}.")
  if num_steps < 2:
    raise ValueError(f"`num_steps` must be at least 2, received {num_steps}.")
  s = np.linspace(0.0, 1.0, num_steps).reshape([-1] + [1] * start.ndim)
  return (1.0 - s) * start + s * end


def traverse(latents, slot, direction, offsets):
  """Moves one slot along `direction`, the other slots held fixed.

  Args:
    latents: `(K, D)`.
    slot: index of the slot to move.
    direction: `(D,)`.
    offsets: `(S,)` distances along `direction`.

  Returns:
    `(S, K, D)`: row s is `latents` with `latents[slot] + offsets[s] *
    direction` in place of slot `slot`.
  """
  latents = np.asarray(latents, np.float64)
  direction = np.asarray(direction, np.float64)
  if latents.ndim != 2 or direction.shape != latents.shape[1:]:
    raise ValueError(f"`latents` must be (K, D) and `direction` (D,), "
                     f"received {latents.shape} and {direction.shape}.")
  if not 0 <= slot < latents.shape[0]:
    raise ValueError(f"`slot` must be in [0, {latents.shape[0]}), received "
                     f"{slot}.")
  offsets = np.asarray(offsets, np.float64).reshape(-1)
  result = np.repeat(latents[None], len(offsets), 0)
  result[:, slot] += offsets[:, None] * direction
  return result


def changed_tokens(reference, tokens):
  """Marks the tokens of `tokens` that are not in `reference`'s alignment.

  Aligns the two token lists (difflib's longest matching blocks), so an
  inserted word marks only itself, not every word after it.

  Args:
    reference: list of tokens.
    tokens: list of tokens.

  Returns:
    list of bool, one per token of `tokens`: True where it changed.
  """
  matcher = difflib.SequenceMatcher(a=list(reference), b=list(tokens),
                                    autojunk=False)
  changed = [True] * len(tokens)
  for block in matcher.get_matching_blocks():
    for j in range(block.b, block.b + block.size):
      changed[j] = False
  return changed
