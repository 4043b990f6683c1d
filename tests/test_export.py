"""export_saved_model: one signature per export output, loadable without this project."""
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import heads
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
def exported(tmp_path_factory):
  """The model, its predictions, and what a clean process got from both SavedModels."""
  model = make_model()
  x = np.random.default_rng(0).normal(size=(ROWS, 4)).astype(np.float32)
  predicted = model.predict({'x': x}, verbose=0)
  work = tmp_path_factory.mktemp('export')
  export_saved_model(model, str(work / 'raw'))
  export_saved_model(model, str(work / 'examples'),
                     feature_spec={'x': tf.io.FixedLenFeature([4], tf.float32)})
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
