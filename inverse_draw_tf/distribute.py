"""Devices and strategies. Imports only TensorFlow: it must run before
anything else (TFP included) initialises the TensorFlow runtime, because
logical devices cannot be configured afterwards.
"""

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def configure_cpu_devices(count):
  """Splits the CPU into `count` logical devices (for mirrored training
  without GPUs). Must be called before TensorFlow initialises its runtime."""
  if count <= 1:
    return
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count)
  except RuntimeError as error:
    raise RuntimeError(
        f"cannot split the CPU into {count} devices: TensorFlow is already "
        "initialised; call configure_cpu_devices first.") from error


def make_strategy(name, cpu_devices=0):
  """Builds the named strategy.

  `mirrored` uses every GPU, or the logical CPU devices made by
  `configure_cpu_devices`; `multi_worker` reads the cluster from TF_CONFIG.
  """
  if name not in STRATEGIES:
    raise ValueError(
        f"`strategy` must be one of {STRATEGIES}, received {name!r}.")
  if name == "multi_worker":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [
        d.name for d in tf.config.list_logical_devices("CPU")]
    # Reduction across CPU devices: NCCL needs GPUs.
    cross_device_ops = (None if gpus else
                        tf.distribute.ReductionToOneDevice())
    return tf.distribute.MirroredStrategy(devices,
                                          cross_device_ops=cross_device_ops)
  return tf.distribute.get_strategy()
