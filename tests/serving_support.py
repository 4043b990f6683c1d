"""Does a SavedModel serve? Every signature, run as model servers run it, against TF2.

TensorFlow Serving, `saved_model_cli run`, KServe's TF runtime and Vertex
AI's prebuilt TF containers load a SavedModel into a TF1 session and restore
its variables through the MetaGraph's saver. `tf.saved_model.load` restores
them through the object graph instead, so a model can work there and not in
a server. `assert_serves_like_tf2` runs every signature both ways.

The session lives in its own tf.Graph, so nothing of graph mode leaks into
the (eager) test process.
"""
import os
import subprocess
import sys
import types

import numpy as np
import tensorflow as tf

SERVING_TAGS = [tf.saved_model.SERVING]
INIT_OP_KEY = '__saved_model_init_op'
PREDICT_METHOD = 'tensorflow/serving/predict'


def _signature_inputs(key, wanted, inputs):
  missing = sorted(set(wanted) - set(inputs))
  if missing:
    raise ValueError('signature {!r} takes inputs {}; not given: {}'.format(
        key, sorted(wanted), missing))
  return {name: inputs[name] for name in wanted}


def _run_error(key, error):
  return AssertionError('signature {!r} fails under the session loader: {}: {}'.format(
      key, type(error).__name__, ' '.join(error.message.split())[:600]))


def session_outputs(export_dir, inputs):
  """Runs every signature in a tf.compat.v1.Session, loaded as a model server loads it.

  `inputs` maps input names (e.g. 'examples') to arrays; each signature gets
  the ones it takes. Returns (outputs {key: {name: array}}, method names {key: str}).
  All signatures run in one `session.run` (one graph executor, much faster
  than one run each); on failure each runs alone, and AssertionError names
  the first that fails, with its error.
  """
  graph = tf.Graph()
  with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, SERVING_TAGS, export_dir)
    signatures = {key: signature for key, signature in meta_graph.signature_def.items()
                  if key != INIT_OP_KEY}
    feeds, fetches = {}, {}
    for key, signature in sorted(signatures.items()):
      feeds[key] = {signature.inputs[name].name: value
                    for name, value in _signature_inputs(key, signature.inputs, inputs).items()}
      fetches[key] = {name: info.name for name, info in signature.outputs.items()}
    try:
      outputs = session.run(fetches, {name: value for feed in feeds.values()
                                      for name, value in feed.items()})
    except tf.errors.OpError as error:
      for key in sorted(fetches):
        try:
          session.run(fetches[key], feeds[key])
        except tf.errors.OpError as signature_error:
          raise _run_error(key, signature_error) from None
      raise _run_error(sorted(fetches), error) from None
  return outputs, {key: signature.method_name for key, signature in signatures.items()}


def tf2_outputs(export_dir, inputs):
  """Runs every signature of `tf.saved_model.load(export_dir)`: {key: {name: array}}."""
  loaded = tf.saved_model.load(export_dir)
  outputs = {}
  for key, function in loaded.signatures.items():
    wanted = function.structured_input_signature[1]
    given = _signature_inputs(key, wanted, inputs)
    outputs[key] = {name: value.numpy() for name, value in function(
        **{name: tf.constant(value) for name, value in given.items()}).items()}
  return outputs


def assert_same_outputs(actual, expected, what, tolerance=1e-6):
  """Same output names, shapes and dtypes; strings equal, numbers within `tolerance`."""
  assert sorted(actual) == sorted(expected), '{}: outputs {} != {}'.format(
      what, sorted(actual), sorted(expected))
  for name, want in expected.items():
    got = np.asarray(actual[name])
    label = '{} output {!r}'.format(what, name)
    assert got.shape == want.shape, '{}: shape {} != {}'.format(label, got.shape, want.shape)
    if want.dtype == object:
      assert got.dtype == object, '{}: dtype {} is not a string'.format(label, got.dtype)
      np.testing.assert_array_equal(got, want, err_msg=label)
    else:
      assert got.dtype == want.dtype, '{}: dtype {} != {}'.format(label, got.dtype, want.dtype)
      np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=label)


def assert_serves_like_tf2(export_dir, inputs, tolerance=1e-6):
  """Every signature answers `inputs` under the session loader as under tf.saved_model.load.

  Returns SimpleNamespace(outputs, method_names) of the session run.
  """
  served, methods = session_outputs(export_dir, inputs)
  expected = tf2_outputs(export_dir, inputs)
  assert sorted(served) == sorted(expected), 'signatures {} != {}'.format(
      sorted(served), sorted(expected))
  for key, outputs in expected.items():
    assert_same_outputs(served[key], outputs, 'signature {!r}'.format(key), tolerance)
  return types.SimpleNamespace(outputs=served, method_names=methods)


def saved_model_cli_run(export_dir, signature, input_examples, outdir):
  """`saved_model_cli run --input_examples` on `export_dir`: {output name: array}.

  `input_examples` maps each input name to a list of {feature: [values]}
  dicts, as the command line takes them.
  """
  cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
  examples = ';'.join('{}={!r}'.format(name, rows) for name, rows in input_examples.items())
  command = [cli, 'run', '--dir', export_dir, '--tag_set', 'serve', '--signature_def',
             signature, '--input_examples', examples, '--outdir', outdir, '--overwrite']
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
  assert done.returncode == 0, 'saved_model_cli failed:\n{}'.format(done.stderr[-3000:])
  return {name[:-len('.npy')]: np.load(os.path.join(outdir, name), allow_pickle=True)
          for name in os.listdir(outdir) if name.endswith('.npy')}


def cli_example(serialized):
  """A tf.Example as `saved_model_cli --input_examples` takes it: {feature: [values]}.

  Empty value lists are left out (the command line cannot type them), which
  the tolerant parsing of the exports reads the same way.
  """
  row = {}
  for name, feature in tf.train.Example.FromString(serialized).features.feature.items():
    kind = feature.WhichOneof('kind')
    values = list(getattr(feature, kind).value) if kind else []
    if values:
      row[name] = [value.decode() if isinstance(value, bytes) else value for value in values]
  return row
