"""Mutation check of the config rules: delete each rule of components/config.py, run its tests.

Every rule must have a test that fails without it. This script makes one
mutant per rule and runs tests/test_config.py against each (in one process,
a few seconds per mutant); a mutant the tests do not catch is printed as a
survivor. A rule is:
- an `if ...: raise` in a section's rules (the condition becomes False);
- a bound of a field (gt, ge, lt, le, min_length, allow_inf_nan removed);
- a required field (it gets the default None);
- a `Literal[...]` choice (it becomes `str`);
- `extra='forbid'` and `strict=True` of the sections.

    .venv/bin/python -m dev.config_mutations          # exit status 1 if a mutant survives

Not part of CI: it takes a minute or two.
"""

import ast
import copy
import os
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, 'components', 'config.py')
TESTS = os.path.join(ROOT, 'tests', 'test_config.py')
_BOUNDS = ('gt', 'ge', 'lt', 'le', 'min_length', 'allow_inf_nan')


def _raises(node):
  return any(isinstance(child, ast.Raise) for child in node.body)


def mutants(tree):
  """(description, mutated tree) for every rule in the module's tree."""
  nodes = list(ast.walk(tree))
  for index, node in enumerate(nodes):
    line = getattr(node, 'lineno', '?')
    if isinstance(node, ast.If) and _raises(node):
      yield 'line {}: if {} -> never'.format(line, ast.unparse(node.test)[:60]), index, \
          lambda n: setattr(n, 'test', ast.Constant(False))
    elif isinstance(node, ast.Call):
      for k, keyword in enumerate(node.keywords):
        if keyword.arg in _BOUNDS or (keyword.arg == 'extra' and ast.unparse(
            keyword.value) == "'forbid'") or (keyword.arg == 'strict'):
          yield 'line {}: drop {}'.format(line, ast.unparse(keyword)), index, \
              (lambda k: lambda n: n.keywords.pop(k))(k)
      if ast.unparse(node.func) == '_field' and not node.args:
        yield 'line {}: {} not required'.format(line, ast.unparse(node)[:50]), index, \
            lambda n: n.args.insert(0, ast.Constant(None))
    elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == 'Literal':
      yield 'line {}: {} -> str'.format(line, ast.unparse(node)[:50]), index, \
          lambda n: (setattr(n, 'value', ast.Name('str', ast.Load())),
                     setattr(n, 'slice', ast.Name('str', ast.Load())))


def _literal_to_str(tree):
  """Subscript nodes changed to `str[str]` are replaced by plain `str`."""

  class Fix(ast.NodeTransformer):

    def visit_Subscript(self, node):
      self.generic_visit(node)
      if ast.unparse(node) == 'str[str]':
        return ast.copy_location(ast.Name('str', ast.Load()), node)
      return node

  return ast.fix_missing_locations(Fix().visit(tree))


def load_mutant(tree):
  import components  # pylint: disable=g-import-not-at-top
  module = types.ModuleType('components.config')
  module.__file__ = SOURCE
  sys.modules['components.config'] = module
  components.config = module
  exec(compile(tree, SOURCE, 'exec'), module.__dict__)  # pylint: disable=exec-used
  return module


def tests_fail():
  sys.modules.pop('test_config', None)
  code = pytest.main([TESTS, '-x', '-q', '-p', 'no:cacheprovider', '-p', 'no:warnings',
                      '--no-header', '-k', 'not imports_no_tensorflow'],
                     plugins=[_Quiet()])
  return code != 0


class _Quiet:
  """Keeps pytest's per-mutant output short."""

  def pytest_report_teststatus(self, report):
    del report


def main():
  with open(SOURCE) as f:
    tree = ast.parse(f.read())
  sys.path.insert(0, os.path.dirname(TESTS))
  survivors, total = [], 0
  devnull = open(os.devnull, 'w')
  for description, index, mutate in list(mutants(tree)):
    mutated = copy.deepcopy(tree)
    mutate(list(ast.walk(mutated))[index])
    mutated = _literal_to_str(ast.fix_missing_locations(mutated))
    total += 1
    try:
      load_mutant(mutated)
    except Exception as error:  # pylint: disable=broad-except
      print('killed (import fails: {}): {}'.format(type(error).__name__, description))
      continue
    stdout, sys.stdout = sys.stdout, devnull
    try:
      failed = tests_fail()
    finally:
      sys.stdout = stdout
    print('{}: {}'.format('killed' if failed else 'SURVIVED', description), flush=True)
    if not failed:
      survivors.append(description)
  print('\n{} mutants, {} survived{}'.format(total, len(survivors), ''.join(
      '\n  ' + s for s in survivors)))
  return 1 if survivors else 0


if __name__ == '__main__':
  sys.exit(main())
