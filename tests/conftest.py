"""Test-session set-up that must run before TensorFlow initialises.

Two logical CPU devices let the suite run MirroredStrategy without GPUs; they
can only be configured before anything (TFP included) touches the runtime.
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# absl names a test's directory (create_tempdir) after its class and method
# only, so under pytest-xdist two workers running same-named tests of two
# modules would share, and wipe, one directory: each worker gets its own
# root. It must be set before absl.testing reads it at import.
if os.environ.get("PYTEST_XDIST_WORKER"):
  os.environ["TEST_TMPDIR"] = tempfile.mkdtemp(
      prefix=f"absl_testing_{os.environ['PYTEST_XDIST_WORKER']}_")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)  # For `configs` and `tests.*` helpers.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import flags  # pylint: disable=g-import-not-at-top
import tensorflow as tf

# tf.test.TestCase helpers (create_tempdir, get_temp_dir) read absl flags,
# which pytest never parses.
flags.FLAGS.mark_as_parsed()

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2)
