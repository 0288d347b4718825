"""What the `bin/` tools share: flag parsing whose failures are one line.

absl parses the flags before `main` runs, and `ml_collections.config_flags`
loads the config file and applies `--config.x.y=...` overrides while it
does: a missing config file, an unknown key or a bad value surface as
tracebacks of 40-50 lines from inside those libraries. `run(main)` parses
the flags itself and turns each such failure into one line naming the
problem and the fix, with exit code 2 (a usage error).
"""

import os
import re
import sys

from absl import app
from absl import flags

# TensorFlow's C++ INFO and WARNING lines at start-up (the CUDA stub, CPU
# feature notes) bury a tool's own output; errors still show. Imported
# before TensorFlow by every bin/ tool; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

USAGE_ERROR = 2


def _config_flags(argv):
  """`[(flag, key path)]` of the `--config.a.b=v` style overrides in argv."""
  overrides = []
  for arg in argv[1:]:
    match = re.match(r"--([A-Za-z_]\w*)\.([\w.]+)(=|$)", arg)
    if match:
      overrides.append((arg.split("=")[0], match.group(2)))
  return overrides


def usage_error_message(argv, error):
  """The one line for a flag-parsing `error` (see the module docstring)."""
  text = str(error).strip()
  if isinstance(error, (AttributeError, KeyError)):
    missing = text.strip("\"'")
    for flag, path in _config_flags(argv):
      if path.split(".")[-1] == missing or missing in path.split("."):
        return (f"{flag}: the config has no key `{path}`; the keys are in "
                "configs/common.py (docs/options.md explains them).")
    return (f"unknown config key {missing!r}; the keys are in "
            "configs/common.py (docs/options.md explains them).")
  if isinstance(error, OSError):
    files = [a.split("=", 1)[1] for a in argv[1:]
             if "=" in a and a.split("=")[0].count(".") == 0 and
             a.split("=", 1)[1].split(":")[0].endswith(".py")]
    missing = [f for f in files if not os.path.exists(f.split(":")[0])]
    if missing:
      return (f"config file `{missing[0].split(':')[0]}` does not exist; "
              "pass one of configs/*.py (paths are relative to the current "
              "directory).")
    return f"the config could not be loaded: {text.splitlines()[0]}"
  # absl's flags.Error (it names the flag), and the ValueError of a config
  # file's own arg parser (`configs/common.parse_arg`, one line).
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  line = lines[-1] if lines else type(error).__name__
  return re.sub(r"^\w+Error: ", "", line)


def _program(argv):
  """`bin/train` for `.../bin/train`: how the README names the tools."""
  path = os.path.normpath(argv[0])
  return os.path.join(os.path.basename(os.path.dirname(path)),
                      os.path.basename(path))


def _load_configs():
  """Touches every config flag's value: config_flags defers a config file's
  load failure to the first use of the flag, which would be inside `main`."""
  for name in list(flags.FLAGS):
    flag = flags.FLAGS[name]
    if type(flag).__name__ == "_ConfigFlag":
      value = flag.value
      if value is not None:
        value.keys()


def parse_flags(argv):
  """`flags.FLAGS(argv)`, exiting with one line and code 2 on a bad flag."""
  try:
    remaining = flags.FLAGS(argv)
    _load_configs()
    return remaining
  except Exception as error:  # pylint: disable=broad-except
    # Every failure here is the command line's: absl's flags.Error, and
    # whatever a config file or its arg parser raise while loading.
    cause = error.__cause__ or error.__context__
    if isinstance(error, flags.Error) and isinstance(
        cause, (AttributeError, KeyError, OSError)):
      error = cause
    program = _program(argv)
    message = usage_error_message(argv, error)
    if isinstance(error, flags.Error) and "flag" in message:
      message += f"; {program} --helpfull lists the flags"
    sys.stderr.write(f"{program}: error: {message}\n")
    sys.exit(USAGE_ERROR)


def run(main):
  """`app.run(main)` with `parse_flags`."""
  app.run(main, flags_parser=parse_flags)
