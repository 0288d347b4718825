"""Evaluation: IWAE NLL, perplexity, KL, mutual information, active units and
attention statistics over a data split.

```none
NLL_n   = -IWAE_S(x_n)                              nats per example
PPL     = exp(sum_n NLL_n / sum_n |x_n|)            |x_n| counts <eos> (text)
MI      = E_x E_q(z|x)[log q(z|x)] - E_q(z)[log q(z)],
          log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log B   within a batch
          (Hoffman & Johnson 2016; the estimator of He et al. 2019,
          https://arxiv.org/abs/1901.05534)
```
Every other statistic (ELBO, KL, active units, attention entropies, slot
shares of the read weights, the assignment and the alignment posterior) is
`metrics.batch_sums` summed over the split and `metrics.summarize`d, as in
training's validation.

An S=500 evaluation of a PTB run takes more than an hour on one CPU core, so
`evaluate` can keep its running sums in a progress file and resume after an
interruption: every batch's samples are a deterministic function of the seed
and the batch index, so a resumed evaluation returns the numbers an
uninterrupted one would.
"""

import io
import itertools
import json
import os
import resource
import time

import numpy as np
import tensorflow as tf

from inverse_draw_tf import checkpoints
from inverse_draw_tf import config_lib
from inverse_draw_tf import data
from inverse_draw_tf import metrics
from inverse_draw_tf import objectives
from inverse_draw_tf import reconstruction

def mutual_information(model, batch, seed):
  """Minibatch estimate of I(x; Z) under q (nats); see the module docstring."""
  encoded = model.encode_observation(batch)
  outputs = model(batch, seed=seed, encoded=encoded)
  latents, slot_masks = outputs["latents"], outputs["slot_mask"]
  batch_size = tf.shape(latents[0])[0]
  # Row i * B + j scores sample i's latents under example j's posterior.
  pair_latents = [tf.repeat(z, batch_size, axis=0) for z in latents]
  pair_masks = [tf.tile(m, [batch_size, 1]) for m in slot_masks]
  pair_encoded = tuple(
      tf.tile(t, tf.concat([[batch_size], tf.ones([tf.rank(t) - 1], tf.int32)],
                           0)) for t in encoded)
  log_q = tf.reshape(
      model.posterior_log_prob(pair_encoded, pair_latents, pair_masks),
      [batch_size, batch_size])
  log_q_own = tf.linalg.diag_part(log_q)
  log_aggregate = tf.reduce_logsumexp(log_q, axis=1) - tf.math.log(
      tf.cast(batch_size, log_q.dtype))
  return tf.reduce_mean(log_q_own - log_aggregate)


class _Progress:
  """The running sums of an evaluation, savable so it can be resumed.

  `totals` sums each statistic over the batches done, `posterior_means`
  holds their `(B, D)` posterior means, `mi_values` their mutual information
  estimates, `next_batch` is the index of the first batch not yet done and
  `seconds` the evaluation time spent so far, over every sitting.
  """

  def __init__(self):
    self.totals = {}
    self.posterior_means = []
    self.mi_values = []
    self.next_batch = 0
    self.seconds = 0.0

  def add(self, **values):
    for key, value in values.items():
      value = np.asarray(value, np.float64)
      self.totals[key] = self.totals.get(key, 0.0) + value

  def save(self, path, identity):
    """Writes the state to `path` (a temp file, then a rename)."""
    arrays = {f"total/{key}": value for key, value in self.totals.items()}
    if self.posterior_means:
      arrays["posterior_means"] = np.concatenate(self.posterior_means, 0)
    buffer = io.BytesIO()
    np.savez(buffer, identity=np.array(identity),
             next_batch=np.array(self.next_batch),
             seconds=np.array(self.seconds),
             mi_values=np.asarray(self.mi_values, np.float64), **arrays)
    config_lib.write_atomic(path, buffer.getvalue())

  @classmethod
  def load(cls, path, identity):
    """The state saved at `path`, or None if there is none for `identity`.

    A file written by a different evaluation (another checkpoint, seed,
    sample count or data) is not an error: it is stale, and the evaluation
    starts over (and overwrites it).
    """
    if not tf.io.gfile.exists(path):
      return None
    with tf.io.gfile.GFile(path, "rb") as f:
      saved = np.load(io.BytesIO(f.read()), allow_pickle=False)
      if str(saved["identity"]) != identity:
        return None
      progress = cls()
      progress.next_batch = int(saved["next_batch"])
      progress.seconds = float(saved["seconds"])
      progress.mi_values = [float(v) for v in saved["mi_values"]]
      if "posterior_means" in saved:
        progress.posterior_means = [saved["posterior_means"]]
      progress.totals = {key[len("total/"):]: saved[key]
                         for key in saved.files if key.startswith("total/")}
    return progress


def make_batch_metrics(model, num_samples, chunk_size, jit_compile=False):
  """A compiled function: batch, seed -> `metrics.batch_sums` plus `nll`,
  the batch's summed IWAE NLL.

  With `jit_compile` the IWAE bound, nearly all of the work, is compiled by
  XLA (once per input shape: pad batches to bucket boundaries).
  """
  iwae_bound = tf.function(
      lambda batch, seed: objectives.iwae_bound(
          model, batch, num_samples, chunk_size=chunk_size, seed=seed),
      jit_compile=jit_compile)

  @tf.function(reduce_retracing=True)
  def batch_metrics(batch, seed):
    sums = metrics.batch_sums(model, batch, seed=seed)
    iwae = iwae_bound(batch, tf.random.experimental.stateless_fold_in(seed, 1))
    sums["nll"] = -tf.reduce_sum(iwae)
    return sums

  return batch_metrics


def evaluate(model, dataset, *, num_samples, chunk_size=None, seed=0,
             mi_batches=10, max_examples=0, log_fn=None, jit_compile=False,
             progress_path=None, progress_key="", save_every_seconds=60.0):
  """Evaluates `model` on every batch of `dataset`; returns a flat dict.

  Args:
    model: an `InverseDraw` model.
    dataset: a finite `tf.data.Dataset` (or list) of model batches, in the
      same order on every pass (needed to resume).
    num_samples: importance samples S per example for the IWAE NLL.
    chunk_size: samples per chunk (memory is that of one chunk).
    seed: integer seed; the estimate is a deterministic function of it.
    mi_batches: batches on which the mutual information is estimated.
    max_examples: stop after this many examples (0 = all).
    log_fn: optional callable receiving a progress string per batch.
    jit_compile: compile the IWAE bound with XLA (see `make_batch_metrics`).
    progress_path: optional file for the running sums. If it holds the
      progress of this same evaluation (same `progress_key` and arguments),
      the evaluation resumes from there; it is rewritten at most every
      `save_every_seconds` and deleted once the result is complete.
    progress_key: a string naming the model weights and data (for example
      the checkpoint path and split), so that a progress file written for
      other weights or data is not resumed.
    save_every_seconds: least time between two writes of `progress_path`.

  Returns:
    The statistics of `summarize`; `seconds` counts every sitting.
  """
  batch_metrics = make_batch_metrics(model, num_samples, chunk_size,
                                     jit_compile)
  mi_fn = tf.function(lambda batch, s: mutual_information(model, batch, s),
                      reduce_retracing=True)
  identity = json.dumps(dict(
      key=progress_key, num_samples=num_samples, chunk_size=chunk_size,
      seed=seed, mi_batches=mi_batches, max_examples=max_examples,
      jit_compile=jit_compile), sort_keys=True)
  progress = _Progress.load(progress_path, identity) if progress_path else None
  if progress is None:
    progress = _Progress()
  elif log_fn:
    log_fn(f"resuming from {progress_path}: {progress.next_batch} batches "
           f"({int(progress.totals['num_examples'])} examples, "
           f"{progress.seconds:.0f}s) already done")
  start = time.time()
  seconds_before = progress.seconds
  last_save = start
  base_seed = tf.constant([seed, 0], tf.int32)
  for index, batch in enumerate(
      itertools.islice(dataset, progress.next_batch, None),
      start=progress.next_batch):
    if max_examples and progress.totals.get("num_examples", 0) >= max_examples:
      break
    batch_seed = tf.random.experimental.stateless_fold_in(base_seed, index)
    result = {k: v.numpy() for k, v in batch_metrics(batch, batch_seed).items()}
    if "posterior_means" in result:
      progress.posterior_means.append(result.pop("posterior_means"))
    progress.add(**result)
    if model.num_levels and index < mi_batches:
      progress.mi_values.append(float(mi_fn(
          batch, tf.random.experimental.stateless_fold_in(batch_seed, 2))))
    progress.next_batch = index + 1
    progress.seconds = seconds_before + time.time() - start
    if progress_path and time.time() - last_save >= save_every_seconds:
      progress.save(progress_path, identity)
      last_save = time.time()
    if log_fn:
      log_fn(f"evaluated {int(progress.totals['num_examples'])} examples "
             f"({progress.seconds:.0f}s)")
  result = summarize(model, progress.totals, progress.posterior_means,
                     progress.mi_values, num_samples=num_samples,
                     seconds=seconds_before + time.time() - start)
  if progress_path and tf.io.gfile.exists(progress_path):
    tf.io.gfile.remove(progress_path)
  return result


def summarize(model, totals, posterior_means, mi_values, *, num_samples,
              seconds):
  """`metrics.summarize` of an evaluation's sums, with its mutual
  information, sample count and time."""
  result = metrics.summarize(
      totals, posterior_means,
      num_slots=model.num_slots[0] if model.num_levels else 0,
      text=model.observation == "text")
  result.update(num_samples=int(num_samples), seconds=seconds)
  if model.num_levels:
    result["mutual_information"] = (float(np.mean(mi_values)) if mi_values
                                    else None)
  return result


def evaluate_run(workdir, *, split="test", num_samples=None, chunk_size=None,
                 batch_size=None, max_examples=None, checkpoint=None,
                 which="best", seed=0, mi_batches=None, log_fn=None,
                 resumable=False, reconstruction_beam_size=0):
  """Evaluates a trained run on a split; unset arguments come from config.evals.

  With `resumable`, the running sums are kept in
  `workdir/evaluate_<split>.progress.npz` (see `evaluate`), so the same call
  after an interruption carries on where the last one stopped. With
  `reconstruction_beam_size` >= 1 (text), the result also holds
  `reconstruction`: the unigram F1 of each sentence's reconstruction (its
  posterior mean decoded with that beam, or a language model's own greedy
  output) against it, `reconstruction.evaluate_reconstructions`.
  """
  config, inputs, model, path, step = checkpoints.restore(
      workdir, checkpoint, which)
  evals = config.evals
  num_samples = num_samples or evals.num_samples
  chunk_size = min(chunk_size or evals.chunk_size, num_samples)
  jit_compile = bool(evals.get("jit_compile", False))
  batch_size = batch_size or evals.batch_size
  dataset = inputs.eval_dataset(split, batch_size,
                                pad_to_bucket_boundary=jit_compile)
  progress_path = progress_key = None
  if resumable:
    progress_path = os.path.join(workdir, f"evaluate_{split}.progress.npz")
    # The checkpoint's modification time tells a retrained run's weights
    # from the old ones saved under the same name.
    progress_key = json.dumps(dict(
        checkpoint=path, split=split, batch_size=batch_size,
        weights_mtime=tf.io.gfile.stat(path + ".index").mtime_nsec))
  result = evaluate(
      model, dataset, num_samples=num_samples, chunk_size=chunk_size,
      seed=seed, mi_batches=evals.mi_batches if mi_batches is None else
      mi_batches,
      max_examples=evals.max_examples if max_examples is None else
      max_examples, log_fn=log_fn, jit_compile=jit_compile,
      progress_path=progress_path, progress_key=progress_key or "")
  if reconstruction_beam_size:
    limit = evals.max_examples if max_examples is None else max_examples
    result["reconstruction"] = reconstruction.evaluate_reconstructions(
        model, inputs.eval_dataset(split, batch_size),
        beam_size=reconstruction_beam_size, max_examples=limit or None,
        num_kept=5, log_fn=log_fn,
        tokens=data.load_vocabulary(inputs.vocabulary.vocabulary_path))
  result.update(split=split, checkpoint=path, step=step, workdir=workdir,
                seed=seed, peak_rss_mib=resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 1024.0)
  return result


def format_table(result, reference=None, reference_label="reference"):
  """A short human-readable summary of an evaluation.

  Args:
    result: an `evaluate_run` result.
    reference: optional result of another run (e.g. the released model's
      `results/<run>.json`), printed as a second column with the
      difference in NLL, so a reader sees where this run stands.
    reference_label: the second column's heading.
  """
  results = [result] if reference is None else [result, reference]
  rows = [(name, [cell(r) for r in results])
          for name, cell in _table_rows(results)]
  if reference is not None:
    rows.insert(0, ("", ["this run", reference_label]))
    same_data = all(result.get(key) == reference.get(key)
                    for key in ("split", "num_examples"))
    rows.append(("NLL difference", [
        f"{result['nll'] - reference['nll']:+.2f} nats "
        f"({_verdict(result['nll'] - reference['nll'])})"
        if same_data else
        "not comparable: different split or examples", ""]))
  width = max(len(name) for name, _ in rows)
  columns = [max(len(str(values[j])) for _, values in rows)
             for j in range(len(results))]
  lines = []
  for name, values in rows:
    cells = "  ".join(f"{str(value):<{w}}" for value, w in
                      zip(values, columns))
    lines.append(f"{name:<{width}}  {cells}".rstrip())
  return "\n".join(lines)


def _verdict(difference):
  """How an NLL difference reads at the table's two decimals."""
  if abs(difference) < 0.005:
    return "equal"
  return "better" if difference < 0 else "worse"


def _table_rows(results):
  """(name, cell(result) -> str) for each row some result has."""
  def get(key, fmt):
    return lambda r: fmt(r) if r.get(key) is not None else "n/a"
  has = lambda key: any(key in r for r in results)
  rows = [("examples", lambda r: r["num_examples"]),
          ("NLL (nats/example, IWAE)",
           lambda r: f"{r['nll']:.2f} (S={r['num_samples']})")]
  if has("ppl"):
    rows.append(("perplexity", get("ppl", lambda r: f"{r['ppl']:.1f}")))
  rows += [("ELBO", lambda r: f"{r['elbo']:.2f}"),
           ("KL", lambda r: f"{r['kl']:.2f}")]
  if has("active_units"):
    rows += [
        ("mutual information", get("mutual_information",
                                   lambda r: f"{r['mutual_information']:.2f}")),
        ("active units", get("active_units", lambda r: f"{r['active_units']}/"
                             f"{r['latent_dimensions']}")),
        ("read weights entropy", get(
            "decoder_attention_entropy",
            lambda r: f"{r['decoder_attention_entropy']:.3f} "
            f"(uniform {r['uniform_attention_entropy']:.3f})")),
        ("slots with >= 5% of tokens", get("slots_over_5_percent",
                                           lambda r: r["slots_over_5_percent"]))]
  if has("tokens_per_used_slot"):
    rows += [("KL per level (bottom first)", get(
        "kl_per_level", lambda r: ", ".join(f"{kl:.2f}"
                                            for kl in r["kl_per_level"]))),
             ("tokens per slot in use", get(
                 "tokens_per_used_slot",
                 lambda r: f"{r['tokens_per_used_slot']:.2f}"))]
  upper_levels = max(len(r.get("level_assignment_entropy", ()))
                     for r in results)
  for index in range(upper_levels):
    level = index + 2
    # A cell of level `level`: `fmt(r, index)` where the run has it.
    at = lambda fmt, i=index: (lambda r: fmt(r, i) if len(
        r.get("level_assignment_entropy", ())) > i else "n/a")
    rows += [
        (f"level {level} assignment entropy",
         at(lambda r, i: f"{r['level_assignment_entropy'][i]:.3f} "
            f"(uniform {r['level_uniform_entropy'][i]:.3f})")),
        (f"level {level} slots with >= 10% of level {level - 1}'s",
         at(lambda r, i: str(r["level_slots_over_10_percent"][i]))),
        (f"level {level - 1} slots per level {level} slot in use",
         at(lambda r, i: f"{r['lower_per_used_upper'][i]:.2f}"))]
  if has("alignment_entropy"):
    rows += [
        ("alignment posterior entropy", get(
            "alignment_entropy", lambda r: f"{r['alignment_entropy']:.3f} "
            f"(uniform {r['uniform_attention_entropy']:.3f})")),
        ("slots with >= 5% of aligned tokens", get(
            "alignment_slots_over_5_percent",
            lambda r: r["alignment_slots_over_5_percent"]))]
  return rows
