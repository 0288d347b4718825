"""Config checks and the workdir's record of its config.

Configs are `ml_collections.ConfigDict`s built by `configs/*.py`. `validate`
runs before any work starts and fails with one line naming the bad key.
"""

import json
import os
import re

import ml_collections
import tensorflow as tf

from inverse_draw_tf import model as model_lib

SECTIONS = ("input", "model", "optimizer", "objective", "train", "evals")
# Keys a resumed run may change: how long to train and how to log/evaluate.
RESUMABLE_CHANGES = ("train", "evals")
DATASETS = ("ptb", "text", "binarized_mnist")
TRAINING_PRECISIONS = ("float32", "mixed_bfloat16")
LENGTH_POLICIES = ("truncate", "drop", "keep")
SCHEDULES = ("constant", "warmup_cosine", "plateau")
OPTIMIZERS = ("adam", "sgd")
KL_SCHEDULES = ("none", "linear", "cyclical", "zero")
# Keys added after runs were recorded, with the value that reproduces the
# behaviour of a config recorded without them: a resumed run whose
# config.json lacks them matches a config that holds these values.
ADDED_DEFAULTS = {
    "model": dict(decoder_alignment="soft", decoder_normalizer="softmax",
                  slot_dropout=0.0, decoder_dropout=0.0,
                  posterior_mean_batchnorm_gamma=0.0,
                  posterior_mean_batchnorm_levels=0, prior_alignment="soft",
                  tie_embeddings=False, group_autoregressive_units=0,
                  encoder_context=0),
    "optimizer": dict(name="adam", momentum=0.0, clip_separately=False,
                      aggressive_inference=False,
                      aggressive_max_inner_steps=100, aggressive_window=15,
                      plateau_factor=0.5,
                      plateau_patience=2, plateau_max_decays=5,
                      plateau_start_step=0),
    "objective": dict(attention_entropy_weight=0.0,
                      free_bits_per_dimension=0.0, training_samples=1,
                      slot_balance_weight=0.0, level_balance_weight=0.0,
                      level_entropy_weight=0.0,
                      gumbel_temperature_start=1.0,
                      gumbel_temperature_end=0.1,
                      gumbel_anneal_steps=10000, kl_level_delay_steps=0),
    "train": dict(init_from="", freeze_init_from=False, precision="float32",
                  init_inference_from="", init_model_from=""),
}


class ConfigError(ValueError):
  """An invalid config or a workdir that does not match it (one line)."""


def plain(value):
  """ConfigDicts, tuples and lists -> plain dicts and lists (recursively)."""
  if isinstance(value, (ml_collections.ConfigDict, ml_collections.FrozenConfigDict)):
    value = value.to_dict()
  if isinstance(value, dict):
    return {k: plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [plain(v) for v in value]
  return value


def _require(condition, key, value, requirement):
  if not condition:
    raise ConfigError(
        f"`config.{key}` must be {requirement}, received {value!r}.")


def validate(config):
  """Raises a one-line ConfigError naming the first invalid key."""
  for section in SECTIONS:
    _require(section in config, section, None, "a section of the config")
  inp, opt, obj, train = (config.input, config.optimizer, config.objective,
                          config.train)
  for key in ("num_steps", "log_every", "eval_every", "eval_batches",
              "checkpoint_every", "keep_checkpoints",
              "max_consecutive_nonfinite"):
    _require(isinstance(train[key], int) and train[key] > 0, f"train.{key}",
             train[key], "a positive integer")
  _require(isinstance(train.get("init_from", ""), str), "train.init_from",
           train.get("init_from"), "a workdir path (or '' for none)")
  freeze = train.get("freeze_init_from", False)
  _require(isinstance(freeze, bool), "train.freeze_init_from", freeze,
           "True or False")
  _require(not freeze or train.get("init_from", ""),
           "train.freeze_init_from", freeze,
           "False when `train.init_from` is '' (there is nothing to freeze)")
  init_inference_from = train.get("init_inference_from", "")
  _require(isinstance(init_inference_from, str), "train.init_inference_from",
           init_inference_from, "a workdir path (or '' for none)")
  _require(not init_inference_from or config.model.num_slots,
           "train.init_inference_from", init_inference_from,
           "'' for a model without slots (model.num_slots=0 has no "
           "inference network to copy into)")
  init_model_from = train.get("init_model_from", "")
  _require(isinstance(init_model_from, str), "train.init_model_from",
           init_model_from, "a workdir path (or '' for none)")
  _require(not init_model_from or not (train.get("init_from", "") or
                                       init_inference_from),
           "train.init_model_from", init_model_from,
           "'' when `train.init_from` or `train.init_inference_from` is set "
           "(it copies every weight; they copy parts)")
  precision = train.get("precision", "float32")
  # float16 needs loss scaling, which the training step does not do.
  _require(precision in TRAINING_PRECISIONS, "train.precision", precision,
           f"one of {TRAINING_PRECISIONS} (mixed_float16 would need loss "
           "scaling; mixed_bfloat16 has float32's exponent range)")
  _require(inp.dataset in DATASETS, "input.dataset", inp.dataset,
           f"one of {DATASETS}")
  if inp.dataset == "text":
    for split in ("train", "valid", "test"):
      key = f"{split}_path"
      path = inp[key]
      _require(bool(path) and tf.io.gfile.exists(path), f"input.{key}", path,
               "an existing text file with one sentence per line")
  for key in ("batch_size", "eval_batch_size", "max_length"):
    _require(isinstance(inp[key], int) and inp[key] > 0, f"input.{key}",
             inp[key], "a positive integer")
  _require(inp.length_policy in LENGTH_POLICIES, "input.length_policy",
           inp.length_policy, f"one of {LENGTH_POLICIES}")
  boundaries = list(inp.bucket_boundaries or ())
  _require(boundaries == sorted(set(boundaries)) and
           all(isinstance(b, int) and b > 0 for b in boundaries),
           "input.bucket_boundaries", inp.bucket_boundaries,
           "strictly increasing positive integers")

  image_data = inp.dataset == "binarized_mnist"
  observation = config.model.get("observation", "text")
  _require(observation == ("binary_image" if image_data else "text"),
           "model.observation", observation,
           f"'{'binary_image' if image_data else 'text'}' for dataset "
           f"{inp.dataset!r}")
  _check_model(config.model)

  _require(opt.learning_rate > 0, "optimizer.learning_rate",
           opt.learning_rate, "positive")
  _require(opt.schedule in SCHEDULES, "optimizer.schedule", opt.schedule,
           f"one of {SCHEDULES}")
  _require(opt.get("name", "adam") in OPTIMIZERS, "optimizer.name",
           opt.get("name"), f"one of {OPTIMIZERS}")
  _require(0 <= opt.get("momentum", 0.0) < 1, "optimizer.momentum",
           opt.get("momentum"), "in [0, 1)")
  if opt.schedule == "plateau":
    _require(opt.warmup_steps == 0, "optimizer.warmup_steps",
             opt.warmup_steps, "0 with schedule 'plateau' (it has no warm-up)")
    _require(0 < opt.plateau_factor < 1, "optimizer.plateau_factor",
             opt.plateau_factor, "in (0, 1)")
    _require(isinstance(opt.plateau_patience, int) and
             opt.plateau_patience >= 1, "optimizer.plateau_patience",
             opt.plateau_patience, "an integer >= 1")
    _require(isinstance(opt.plateau_max_decays, int) and
             opt.plateau_max_decays >= 1, "optimizer.plateau_max_decays",
             opt.plateau_max_decays, "an integer >= 1")
    _require(isinstance(opt.plateau_start_step, int) and
             opt.plateau_start_step >= 0, "optimizer.plateau_start_step",
             opt.plateau_start_step, "a non-negative integer")
  _require(isinstance(opt.warmup_steps, int) and opt.warmup_steps >= 0,
           "optimizer.warmup_steps", opt.warmup_steps,
           "a non-negative integer")
  _require(opt.clip_norm >= 0, "optimizer.clip_norm", opt.clip_norm,
           ">= 0 (0 disables clipping)")
  _require(isinstance(opt.get("clip_separately", False), bool),
           "optimizer.clip_separately", opt.get("clip_separately"),
           "True or False")
  aggressive = opt.get("aggressive_inference", False)
  _require(isinstance(aggressive, bool), "optimizer.aggressive_inference",
           aggressive, "True or False")
  _require(not aggressive or config.model.num_slots,
           "optimizer.aggressive_inference", aggressive,
           "False for a model without slots (model.num_slots=0 has no "
           "inference network)")
  for key in ("aggressive_max_inner_steps", "aggressive_window"):
    value = opt.get(key, 1)
    _require(isinstance(value, int) and value >= 1, f"optimizer.{key}",
             value, "an integer >= 1")
  _require(opt.skip_grad_norm >= 0, "optimizer.skip_grad_norm",
           opt.skip_grad_norm, ">= 0 (0 disables skipping)")

  _require(obj.kl_schedule in KL_SCHEDULES, "objective.kl_schedule",
           obj.kl_schedule, f"one of {KL_SCHEDULES}")
  _require(obj.free_bits >= 0, "objective.free_bits", obj.free_bits, ">= 0")
  per_dimension = obj.get("free_bits_per_dimension", 0.0)
  _require(per_dimension >= 0, "objective.free_bits_per_dimension",
           per_dimension, ">= 0")
  _require(not (per_dimension and obj.free_bits), "objective.free_bits",
           obj.free_bits, "0 when objective.free_bits_per_dimension is set "
           "(pick one floor)")
  _require(not per_dimension or obj.analytic_kl, "objective.analytic_kl",
           obj.analytic_kl, "True when objective.free_bits_per_dimension is "
           "set (it floors the analytic KL)")
  _require(not per_dimension or
           config.model.get("prior_alignment", "soft") == "soft",
           "objective.free_bits_per_dimension", per_dimension,
           "0 with model.prior_alignment='exact' (a mixture prior's KL has "
           "no per-dimension form; use objective.free_bits)")
  samples = obj.get("training_samples", 1)
  _require(isinstance(samples, int) and samples >= 1,
           "objective.training_samples", samples, "a positive integer")
  _require(samples == 1 or not (per_dimension or obj.free_bits),
           "objective.training_samples", samples,
           "1 when a free-bits floor is set (the IWAE objective has none)")
  _require(obj.kl_warmup_steps > 0, "objective.kl_warmup_steps",
           obj.kl_warmup_steps, "positive")
  delay = obj.get("kl_level_delay_steps", 0)
  _require(isinstance(delay, int) and delay >= 0,
           "objective.kl_level_delay_steps", delay, "an integer >= 0")
  _require(not delay or obj.kl_schedule == "linear",
           "objective.kl_level_delay_steps", delay,
           "0 unless objective.kl_schedule='linear' (it delays that ramp)")
  _require(not delay or samples == 1, "objective.kl_level_delay_steps",
           delay, "0 with objective.training_samples > 1 (the IWAE "
           "objective anneals one KL)")
  _require(isinstance(obj.kl_cycles, int) and obj.kl_cycles > 0,
           "objective.kl_cycles", obj.kl_cycles, "a positive integer")
  _require(0 < obj.kl_cycle_ratio <= 1, "objective.kl_cycle_ratio",
           obj.kl_cycle_ratio, "in (0, 1]")
  _require(obj.get("attention_entropy_weight", 0.0) >= 0,
           "objective.attention_entropy_weight",
           obj.get("attention_entropy_weight"), ">= 0 (0 disables it)")
  _require(obj.get("slot_balance_weight", 0.0) >= 0,
           "objective.slot_balance_weight",
           obj.get("slot_balance_weight"), ">= 0 (0 disables it)")
  num_slots = config.model.num_slots
  hierarchy = not isinstance(num_slots, int) and len(num_slots) >= 2
  for key, what in (("level_balance_weight", "balances"),
                    ("level_entropy_weight", "sharpens the reads of")):
    weight = obj.get(key, 0.0)
    _require(weight >= 0, f"objective.{key}", weight, ">= 0 (0 disables it)")
    _require(not weight or hierarchy, f"objective.{key}", weight,
             f"0 with one level (it {what} the upper slots of a hierarchy)")
  for key in ("gumbel_temperature_start", "gumbel_temperature_end"):
    _require(obj.get(key, 1.0) > 0, f"objective.{key}", obj.get(key),
             "positive")
  _require(isinstance(obj.get("gumbel_anneal_steps", 1), int) and
           obj.get("gumbel_anneal_steps", 1) > 0,
           "objective.gumbel_anneal_steps", obj.get("gumbel_anneal_steps"),
           "a positive integer")

  evals = config.evals
  _require(evals.split in ("train", "valid", "test"), "evals.split",
           evals.split, "one of ('train', 'valid', 'test')")
  for key in ("num_samples", "chunk_size", "batch_size"):
    _require(isinstance(evals[key], int) and evals[key] > 0, f"evals.{key}",
             evals[key], "a positive integer")


def _check_model(model_config):
  """`model.check_arguments` on `config.model`: the model's own checks,
  without building it."""
  try:
    model_lib.check_arguments(plain(model_config))
  except (ValueError, TypeError) as error:
    # "`slot_dropout` must be ..." names its key as the config spells it;
    # messages about several arguments keep the section as a prefix.
    message, named = re.subn(r"^`(\w+)` must be", r"`config.model.\1` must be",
                             str(error))
    raise ConfigError(message if named else f"config.model: {message}"
                      ) from None


def to_json(config):
  return json.dumps(plain(config), indent=2, sort_keys=True)


def write_atomic(path, text):
  """Writes `text` (str or bytes) to a temp file beside `path`, then renames
  it into place, so a reader never sees half a file."""
  temp = f"{path}.tmp-{os.getpid()}"
  with tf.io.gfile.GFile(temp, "wb" if isinstance(text, bytes) else "w") as f:
    f.write(text)
  tf.io.gfile.rename(temp, path, overwrite=True)


def _differences(old, new, prefix=""):
  keys = sorted(set(old) | set(new))
  found = []
  for key in keys:
    a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
    if isinstance(a, dict) and isinstance(b, dict):
      found += _differences(a, b, f"{prefix}{key}.")
    elif a != b:
      found.append(f"{prefix}{key}: {a!r} -> {b!r}")
  return found


def check_or_write_workdir_config(config, workdir, write=True):
  """Records the config in a new workdir; refuses a workdir of another run.

  Only `train` and `evals` settings may change on resume (e.g. more steps).
  """
  path = os.path.join(workdir, "config.json")
  new = plain(config)
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      old = json.load(f)
    strip = lambda c: {k: v for k, v in c.items()
                       if k not in RESUMABLE_CHANGES}
    differences = _differences(strip(_with_added_defaults(old)), strip(new))
    if differences:
      raise ConfigError(
          f"workdir `{workdir}` holds a run of a different config "
          f"({'; '.join(differences[:5])}); use a new --workdir or the "
          "original config.")
  if write:
    write_atomic(path, to_json(config))


def _with_added_defaults(recorded):
  """A recorded config with the `ADDED_DEFAULTS` it lacks filled in."""
  recorded = dict(recorded)
  for section, defaults in ADDED_DEFAULTS.items():
    if isinstance(recorded.get(section), dict):
      recorded[section] = dict(defaults, **recorded[section])
  return recorded


def load_workdir_config(workdir):
  """The ConfigDict a run in `workdir` was trained with."""
  path = os.path.join(workdir, "config.json")
  if not tf.io.gfile.exists(path):
    raise ConfigError(
        f"`{workdir}` has no config.json: pass the workdir of a run made by "
        "bin/train.")
  with tf.io.gfile.GFile(path) as f:
    return ml_collections.ConfigDict(
        _lists_to_tuples(_with_added_defaults(json.load(f))))


def _lists_to_tuples(value):
  if isinstance(value, dict):
    return {k: _lists_to_tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_lists_to_tuples(v) for v in value)
  return value
