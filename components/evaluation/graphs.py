"""Instantiating a function without Grappler, for functions called a few times only.

Finalise's results function runs once per slice and model, on a state
vector: Grappler's optimisation of its graph (hundreds of small ops) costs
more at its first call (0.54 s against 0.16 s without it, measured) than it
could ever save. TensorFlow instantiates a function once per setting of the
option, so such a function is called inside `without_graph_optimizer()`
every time: its first call outside would instantiate it again, with Grappler
(0.37 s, measured). Functions called elsewhere are optimised as usual. (Not
for the per-batch statistics function: unoptimised, it took 25% longer per
batch of the throughput benchmark's model, measured, which outweighs the 0.2 s
it would save on instantiation after about 100 batches.)
"""

import contextlib
import threading

import tensorflow as tf

_OPTION = 'disable_meta_optimizer'
_LOCK = threading.Lock()


@contextlib.contextmanager
def without_graph_optimizer():
  """Grappler off for the functions called in the block."""
  with _LOCK:
    previous = tf.config.optimizer.get_experimental_options().get(_OPTION, False)
    tf.config.optimizer.set_experimental_options({_OPTION: True})
    try:
      yield
    finally:
      tf.config.optimizer.set_experimental_options({_OPTION: previous})
