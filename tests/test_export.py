"""export_saved_model: one signature per export output, loadable without this project."""
import json
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import heads
import serving_support as serving
from heads.export import export_saved_model
from heads.export import signature_keys
from heads.model import HeadModel

ROWS = 6
CLASSIFY = {'scores': 'probabilities', 'classes': 'all_classes'}
# Signature key -> {output name: the model.predict key it equals}.
EXPECTED_OUTPUTS = {
    'serving_default': {k: 'bin/' + v for k, v in CLASSIFY.items()},
    'bin': {k: 'bin/' + v for k, v in CLASSIFY.items()},
    'bin/classification': {k: 'bin/' + v for k, v in CLASSIFY.items()},
    'bin/regression': {'outputs': 'bin/logistic'},
    'mc': {k: 'mc/' + v for k, v in CLASSIFY.items()},
    'mc/classification': {k: 'mc/' + v for k, v in CLASSIFY.items()},
    'reg': {'outputs': 'reg/predictions'},
    'reg/regression': {'outputs': 'reg/predictions'},
}
PREDICT_SIGNATURES = ['predict', 'bin/predict', 'mc/predict', 'reg/predict']

# Runs in a fresh interpreter, outside the repo, where `heads` and `components`
# cannot be imported: loads each SavedModel and calls all its signatures.
LOADER = r'''
import json, sys
sys.modules['heads'] = None
sys.modules['components'] = None
try:
  import heads
  sys.exit('heads is importable')
except ImportError:
  pass
import numpy as np
import tensorflow as tf

x = np.load('inputs.npy')
examples = tf.constant([
    tf.train.Example(features=tf.train.Features(feature={
        'x': tf.train.Feature(float_list=tf.train.FloatList(value=row))})).SerializeToString()
    for row in x])
outputs, keys = {}, {}
for form, inputs in (('raw', {'x': tf.constant(x)}), ('examples', {'examples': examples})):
  loaded = tf.saved_model.load(form)
  keys[form] = sorted(loaded.signatures)
  for key, function in loaded.signatures.items():
    for name, value in function(**inputs).items():
      value = value.numpy()
      outputs['{}|{}|{}'.format(form, key, name)] = (
          value.astype(bytes) if value.dtype == object else value)
np.savez('outputs.npz', **outputs)
with open('keys.json', 'w') as f:
  json.dump(keys, f)
'''


def make_model():
  keras.utils.set_random_seed(5)
  head = heads.MultiHead([heads.BinaryClassHead(name='bin', weight_column='w'),
                          heads.MultiClassHead(5, name='mc', label_vocabulary=list('abcde')),
                          heads.RegressionHead(name='reg')])
  inputs = {'x': keras.Input((4,), name='x')}
  body = keras.Model(inputs, keras.layers.Dense(6, activation='tanh')(inputs['x']))
  return HeadModel(head, body, body_output='logits_input')


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
  """The model, its inputs and its predictions; its 'raw' and 'examples' SavedModels in work."""
  model = make_model()
  x = np.random.default_rng(0).normal(size=(ROWS, 4)).astype(np.float32)
  predicted = model.predict({'x': x}, verbose=0)
  work = tmp_path_factory.mktemp('export')
  export_saved_model(model, str(work / 'raw'))
  export_saved_model(model, str(work / 'examples'),
                     feature_spec={'x': tf.io.FixedLenFeature([4], tf.float32)})
  return types.SimpleNamespace(model=model, x=x, predicted=predicted, work=work)


@pytest.fixture(scope='module')
def exported(exports):
  """The model, its predictions, and what a clean process got from both SavedModels."""
  model, x, predicted, work = exports.model, exports.x, exports.predicted, exports.work
  np.save(work / 'inputs.npy', x)
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['TF_CPP_MIN_LOG_LEVEL'] = '3'
  run = subprocess.run([sys.executable, '-c', LOADER], cwd=str(work), env=env,
                       capture_output=True, text=True, timeout=240)
  assert run.returncode == 0, run.stderr[-3000:]
  with open(work / 'keys.json') as f:
    keys = json.load(f)
  outputs = dict(np.load(work / 'outputs.npz'))
  return model, predicted, keys, outputs


@pytest.mark.parametrize('form', ['raw', 'examples'])
def test_every_export_output_is_a_signature(exported, form):
  model, _, keys, _ = exported
  expected = sorted(list(EXPECTED_OUTPUTS) + PREDICT_SIGNATURES)
  assert signature_keys(model.head) == expected
  assert keys[form] == expected


def assert_same(actual, expected, what):
  if expected.dtype.kind in 'OSU':
    np.testing.assert_array_equal(actual.astype(bytes), expected.astype(bytes), err_msg=what)
  else:
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, err_msg=what)


@pytest.mark.parametrize('form', ['raw', 'examples'])
def test_signature_outputs_equal_model_predict(exported, form):
  _, predicted, _, outputs = exported

  def signature(key):
    prefix = '{}|{}|'.format(form, key)
    return {name[len(prefix):]: value for name, value in outputs.items()
            if name.startswith(prefix)}

  for key, expected in EXPECTED_OUTPUTS.items():
    got = signature(key)
    assert sorted(got) == sorted(expected), key
    for name, predict_key in expected.items():
      assert_same(got[name], predicted[predict_key], '{} {}'.format(key, name))
  merged = signature('predict')
  assert sorted(merged) == sorted(predicted)
  for name, value in merged.items():
    assert_same(value, predicted[name], 'predict ' + name)
  for head_name in ('bin', 'mc', 'reg'):
    got = signature(head_name + '/predict')
    assert sorted(head_name + '/' + name for name in got) == sorted(
        k for k in predicted if k.startswith(head_name + '/'))
    for name, value in got.items():
      assert_same(value, predicted[head_name + '/' + name], head_name + '/predict ' + name)


def test_default_head_and_extra_signatures(tmp_path):
  model = make_model()
  x = np.ones((2, 4), np.float32)
  export_dir = str(tmp_path / 'model')
  export_saved_model(
      model, export_dir, default_head='reg',
      extra_signatures={'logits': lambda model, features: {'mc': model(features)['mc']}})
  loaded = tf.saved_model.load(export_dir)
  np.testing.assert_allclose(loaded.signatures['serving_default'](x=x)['outputs'],
                             loaded.signatures['reg'](x=x)['outputs'])
  np.testing.assert_allclose(loaded.signatures['logits'](x=x)['mc'],
                             model({'x': x})['mc'], rtol=1e-6)


def test_export_errors(tmp_path):
  model = make_model()
  with pytest.raises(ValueError, match="default_head 'nope' is not one of the heads"):
    export_saved_model(model, str(tmp_path / 'a'), default_head='nope')
  with pytest.raises(ValueError, match="Extra signature 'predict' clashes"):
    export_saved_model(model, str(tmp_path / 'b'),
                       extra_signatures={'predict': lambda model, features: {}})
  plain = HeadModel(heads.RegressionHead(), keras.layers.Dense(1))
  with pytest.raises(ValueError, match='needs input_signature'):
    export_saved_model(plain, str(tmp_path / 'c'))


# Under the session loader (TF Serving, saved_model_cli, KServe, Vertex AI) ----------------

def example_inputs(features):
  """{'examples': serialized tf.Examples}, one per row of {name: float [N, d] or bytes [N, 1]}."""
  def feature(values):
    if values.dtype == object:
      return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))

  rows = len(next(iter(features.values())))
  examples = [tf.train.Example(features=tf.train.Features(
      feature={name: feature(values[i]) for name, values in features.items()}))
              for i in range(rows)]
  return {'examples': np.array([e.SerializeToString() for e in examples], dtype=object)}


def single_head_model():
  """A MultiClassHead on a body with a StringLookup: the export must hold its table."""
  keras.utils.set_random_seed(7)
  inputs = {'x': keras.Input((4,), name='x'), 'c': keras.Input((1,), dtype='string', name='c')}
  ids = keras.layers.StringLookup(vocabulary=['u', 'v'], output_mode='one_hot')(inputs['c'])
  hidden = keras.layers.Concatenate()([inputs['x'], ids])
  body = keras.Model(inputs, keras.layers.Dense(3)(hidden))
  return HeadModel(heads.MultiClassHead(3, label_vocabulary=['a', 'b', 'c']), body)


def multi_head_model():
  """A MultiHead whose body returns all the logits in one tensor."""
  keras.utils.set_random_seed(9)
  head = heads.MultiHead([heads.BinaryClassHead(name='bin'),
                          heads.MultiLabelHead(3, name='tags'),
                          heads.RegressionHead(label_dimension=2, name='reg')])
  inputs = {'x': keras.Input((4,), name='x')}
  return HeadModel(head, keras.Model(inputs, keras.layers.Dense(6)(inputs['x'])))


SERVING_MODELS = {'single_head': single_head_model, 'multi_head': multi_head_model}


def model_features(kind):
  rng = np.random.default_rng(3)
  features = {'x': rng.normal(size=(ROWS, 4)).astype(np.float32)}
  if kind == 'single_head':
    features['c'] = np.array([[b'u'], [b'v'], [b'w'], [b'v'], [b''], [b'u']], dtype=object)
  return features


@pytest.mark.parametrize('kind', sorted(SERVING_MODELS))
@pytest.mark.parametrize('form', ['raw', 'examples'])
def test_every_signature_serves_under_the_session_loader(tmp_path, kind, form):
  model = SERVING_MODELS[kind]()
  features = model_features(kind)
  export_dir = str(tmp_path / 'model')
  if form == 'raw':
    inputs = features
    export_saved_model(model, export_dir)
  else:
    inputs = example_inputs(features)
    spec = {'x': tf.io.FixedLenFeature([4], tf.float32)}
    if 'c' in features:
      spec['c'] = tf.io.FixedLenFeature([1], tf.string)
    export_saved_model(model, export_dir, feature_spec=spec)
  served = serving.assert_serves_like_tf2(export_dir, inputs)
  assert sorted(served.outputs) == signature_keys(model.head)
  assert set(served.method_names.values()) == {serving.PREDICT_METHOD}
  predicted = model.predict({name: tf.constant(value) for name, value in features.items()},
                            verbose=0)
  key = 'bin/logistic' if kind == 'multi_head' else 'probabilities'
  np.testing.assert_allclose(served.outputs['predict'][key], predicted[key], rtol=1e-5,
                             atol=1e-6)


@pytest.mark.parametrize('form', ['raw', 'examples'])
def test_a_logits_input_multi_head_serves_under_the_session_loader(exports, form):
  inputs = {'x': exports.x} if form == 'raw' else example_inputs({'x': exports.x})
  served = serving.assert_serves_like_tf2(str(exports.work / form), inputs)
  assert sorted(served.outputs) == sorted(list(EXPECTED_OUTPUTS) + PREDICT_SIGNATURES)
  for name, value in served.outputs['predict'].items():
    assert_same(value, exports.predicted[name], 'session predict ' + name)


def export_the_old_way(model, export_dir):
  """What heads.export did before: the Keras 3 variables tracked by a tf.Module."""
  spec = {'x': tf.io.FixedLenFeature([4], tf.float32)}

  @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='examples')])
  def serve(examples):
    return model(tf.io.parse_example(examples, spec))

  module = tf.Module()
  concrete = serve.get_concrete_function()
  module.model_variables = list(model.variables)
  tf.saved_model.save(module, export_dir, signatures={'serving_default': concrete})


def test_the_session_check_fails_on_keras_variables_tracked_by_a_tf_module(exports, tmp_path):
  export_dir = str(tmp_path / 'old')
  export_the_old_way(exports.model, export_dir)
  inputs = example_inputs({'x': exports.x})
  logits = serving.tf2_outputs(export_dir, inputs)['serving_default']
  np.testing.assert_allclose(logits['mc'], exports.model({'x': exports.x})['mc'], rtol=1e-5,
                             atol=1e-6)
  with pytest.raises(AssertionError, match="signature 'serving_default' fails under the "
                     'session loader: FailedPreconditionError: .*Could not find variable'):
    serving.assert_serves_like_tf2(export_dir, inputs)
