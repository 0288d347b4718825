"""The package's layering: no import cycle, nothing imports the training loop,
no module grows past one reader's sitting.

Imports are read from the source (module level and inside functions alike,
so a function-level import cannot hide a cycle), not by importing it.
"""

import ast
import os

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "inverse_draw_tf"
# The training loop sits on top: bin/train and tests import it, the package
# does not (evaluation, export, the report and warm starts restore a model
# through `checkpoints`).
TOP = f"{PACKAGE}.train_lib"
MAX_LINES = 700


def package_modules(root=ROOT, package=PACKAGE):
  """`{module name: path}` of every .py file in the package."""
  modules = {}
  for directory, _, files in os.walk(os.path.join(root, package)):
    for name in files:
      if not name.endswith(".py"):
        continue
      path = os.path.join(directory, name)
      parts = os.path.relpath(path, root)[:-len(".py")].split(os.sep)
      if parts[-1] == "__init__":
        parts = parts[:-1]
      modules[".".join(parts)] = path
  return modules


def imports_of(module, source, known):
  """The package modules that `source` (of `module`) imports, anywhere in it.

  `from inverse_draw_tf import model as model_lib` and relative imports
  (`from . import figures`) both count; an imported name that is not a module
  counts as its package.
  """
  is_package = module not in known or known[module].endswith("__init__.py")
  package = module if is_package else module.rpartition(".")[0]
  found = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        anchor = package.split(".")
        anchor = anchor[:len(anchor) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      names = [f"{base}.{alias.name}" for alias in node.names] + [base]
    else:
      continue
    for name in names:
      while name and name not in known:
        name = name.rpartition(".")[0]
      if name and name != module:
        found.add(name)
  return found


def import_graph(root=ROOT, package=PACKAGE):
  """`{module: set of package modules it imports}`."""
  modules = package_modules(root, package)
  graph = {}
  for module, path in modules.items():
    with open(path) as f:
      graph[module] = imports_of(module, f.read(), modules)
  return graph


def find_cycle(graph):
  """One import cycle as a list `[a, b, ..., a]`, or None."""
  state = {}  # 1: on the current path, 2: done.
  path = []

  def visit(node):
    state[node] = 1
    path.append(node)
    for other in sorted(graph.get(node, ())):
      if state.get(other) == 1:
        return path[path.index(other):] + [other]
      if other not in state:
        cycle = visit(other)
        if cycle:
          return cycle
    path.pop()
    state[node] = 2
    return None

  for node in sorted(graph):
    if node not in state:
      cycle = visit(node)
      if cycle:
        return cycle
  return None


class ImportGraphTest(tf.test.TestCase):

  def test_the_package_has_no_import_cycle(self):
    graph = import_graph()
    self.assertIn(f"{PACKAGE}.model", graph)
    cycle = find_cycle(graph)
    self.assertIsNone(cycle, f"import cycle: {' -> '.join(cycle or [])}")

  def test_nothing_in_the_package_imports_the_training_loop(self):
    importers = sorted(module for module, imported in import_graph().items()
                       if TOP in imported)
    self.assertEqual(importers, [], f"{importers} import {TOP}")

  def test_the_reader_sees_function_level_and_relative_imports(self):
    known = {f"{PACKAGE}": "__init__.py", f"{PACKAGE}.a": "a.py",
             f"{PACKAGE}.b": "b.py", f"{PACKAGE}.sub": "sub/__init__.py",
             f"{PACKAGE}.sub.c": "sub/c.py"}
    source = ("import numpy\n"
              f"from {PACKAGE} import a as a_lib\n"
              "def f():\n"
              f"  from {PACKAGE} import b  # pylint: disable=g-import\n"
              "  from . import c\n"
              "  from .. import a\n")
    self.assertEqual(imports_of(f"{PACKAGE}.sub.d", source, dict(
        known, **{f"{PACKAGE}.sub.d": "sub/d.py"})),
                     {f"{PACKAGE}.a", f"{PACKAGE}.b", f"{PACKAGE}.sub.c",
                      f"{PACKAGE}.sub", PACKAGE})

  def test_a_cycle_is_found_and_named(self):
    self.assertEqual(find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}),
                     ["a", "b", "c", "a"])
    self.assertEqual(find_cycle({"a": {"a"}}), ["a", "a"])
    self.assertIsNone(find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}))


class FileSizeTest(tf.test.TestCase):

  def test_no_module_is_over_700_lines(self):
    sizes = {}
    for module, path in package_modules().items():
      with open(path) as f:
        sizes[module] = sum(1 for _ in f)
    too_long = {m: n for m, n in sizes.items() if n > MAX_LINES}
    self.assertEqual(too_long, {}, f"split these modules: {too_long}")


if __name__ == "__main__":
  tf.test.main()
