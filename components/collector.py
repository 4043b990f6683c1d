"""Keeping Python's cyclic collector off the objects a long step starts with.

A process that has imported TensorFlow, TFMA and Beam (and maybe trained a
model) holds millions of objects. Every full collection rescans them all:
0.3-0.5 s per in-process evaluation, and 0.3-0.5 s in each of the CLI's
CsvExampleGen, Trainer and Evaluator steps (measured with `gc.callbacks`).
Inside `existing_objects_frozen()` those objects sit in the collector's
permanent generation (`gc.freeze`); objects created inside are collected as
usual. Blocks nest (the CLI's pipeline run holds the Evaluator's): only the
outermost one freezes and unfreezes.
"""

import contextlib
import gc
import threading

_LOCK = threading.Lock()
_depth = 0


@contextlib.contextmanager
def existing_objects_frozen():
  """The objects alive on entry are left out of collections until the outermost block exits."""
  global _depth
  with _LOCK:
    if _depth == 0:
      gc.freeze()
    _depth += 1
  try:
    yield
  finally:
    with _LOCK:
      _depth -= 1
      if _depth == 0:
        gc.unfreeze()
