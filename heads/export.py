"""Export a HeadModel as a SavedModel whose signatures are the head's export outputs."""

import keras
import tensorflow as tf

from heads.keys import DEFAULT_SERVING_KEY
from heads.keys import ModeKeys
from heads.multi_head import MultiHead

EXAMPLES_INPUT = 'examples'


class _ServingModule(tf.Module):
  """Holds the signature functions and the plain TF state they read.

  Nothing project-specific, so the SavedModel loads without this package.
  """


def _plain_variable(variable):
  """The tf.Variable behind a Keras 3 variable (itself for a tf.Variable).

  Tracked directly, a `keras.Variable` is saved as a second, new tf.Variable
  initialised from the one it wraps. The MetaGraph's saver then restores that
  copy, while the signature graphs read the wrapped variable: a session
  loader (TF Serving, `saved_model_cli run`) finds the latter uninitialised.
  Tracking the wrapped variable makes the saver restore what the graphs read.
  """
  return variable.value if isinstance(variable, keras.Variable) else variable


def _lookup_tables(model):
  """The TF resources (e.g. a StringLookup's hash table) of a Keras or tf.Module `model`.

  The signatures read them, so the SavedModel must hold them; its init op
  fills them in either loader.
  """
  if not isinstance(model, (keras.Layer, tf.Module)):
    return []
  return [trackable for trackable in tf.train.TrackableView(model).descendants()
          if isinstance(trackable, tf.saved_model.experimental.TrackableResource)]


def export_outputs_for(model, features, default_head=None):
  """The head's export outputs (key -> ExportOutput) for `features`."""
  logits = model(features, training=False)
  spec = model.head.create_estimator_spec(features, ModeKeys.PREDICT, logits)
  export_outputs = spec.export_outputs
  if default_head is not None:
    if not isinstance(model.head, MultiHead):
      raise ValueError('default_head applies to a MultiHead only.')
    names = [head.name for head in model.head.heads]
    if default_head not in names:
      raise ValueError('default_head {!r} is not one of the heads {}.'.format(default_head, names))
    export_outputs[DEFAULT_SERVING_KEY] = export_outputs[default_head]
  return export_outputs


def signature_keys(head):
  """The signature keys an export of `head` has: its export output keys."""
  logits = tf.zeros([1, head.logits_dimension])
  return sorted(head.create_estimator_spec({}, ModeKeys.PREDICT, logits).export_outputs)


def _raw_input_signature(model, input_signature):
  if input_signature is not None:
    return input_signature
  try:
    structure = model.body.input
  except (AttributeError, ValueError):
    structure = None
  if not isinstance(structure, dict):
    raise ValueError('Raw-tensor export needs input_signature={name: tf.TensorSpec} when the '
                     'body is not a functional model with dict inputs.')
  return {name: tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
          for name, tensor in structure.items()}


def _signature_functions(model, feature_spec, input_signature, default_head,
                         extra_signatures=None):
  """One tf.function per signature key, each returning that export output's tensors.

  The head's export outputs are traced once, in a function that all of them call.
  """
  if feature_spec is not None:
    spec = [tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)]

    def to_features(examples):
      return tf.io.parse_example(examples, feature_spec)
  else:
    spec = [_raw_input_signature(model, input_signature)]

    def to_features(features):
      return dict(features)

  @tf.function(input_signature=spec)
  def all_outputs(inputs):
    export_outputs = export_outputs_for(model, to_features(inputs), default_head)
    return {key: output.signature_outputs for key, output in export_outputs.items()}

  def serving_function(key):
    return tf.function(lambda inputs: all_outputs(inputs)[key], input_signature=spec)

  def extra_function(build_outputs):
    def serve(inputs):
      return build_outputs(model, to_features(inputs))
    return tf.function(serve, input_signature=spec)

  functions = {key: serving_function(key) for key in signature_keys(model.head)}
  for key, build_outputs in (extra_signatures or {}).items():
    if key in functions:
      raise ValueError('Extra signature {!r} clashes with a head signature.'.format(key))
    functions[key] = extra_function(build_outputs)
  return functions


def export_saved_model(model, export_dir, feature_spec=None, input_signature=None,
                       default_head=None, extra_signatures=None):
  """Saves `model` with one signature per export output of its head.

  With `feature_spec` (a tf.io.parse_example spec) every signature takes
  serialized tf.Examples as input 'examples'; without it, raw tensors named as
  the body's inputs (or `input_signature`). `default_head` picks the head that
  `serving_default` answers for in a MultiHead (default: the first head).
  `extra_signatures` maps more signature keys to `fn(model, features) -> dict`
  of tensors (e.g. a {head_name: prediction} signature for TFMA).
  The SavedModel loads with plain `tf.saved_model.load`, without this package,
  and in a TF1 session (`tf.compat.v1.saved_model.loader.load`), as TensorFlow
  Serving, `saved_model_cli run`, KServe and Vertex AI load it. Every
  signature has the Predict method name.
  """
  module = _ServingModule()
  functions = _signature_functions(model, feature_spec, input_signature, default_head,
                                   extra_signatures)
  signatures = {key: function.get_concrete_function() for key, function in functions.items()}
  # After tracing, which builds the model.
  module.model_variables = [_plain_variable(variable) for variable in model.variables]
  module.lookup_tables = _lookup_tables(model)
  tf.saved_model.save(module, export_dir, signatures=signatures)
  return export_dir
