"""Loss balancing: each method's loss and weight updates by hand, missing labels, checkpoints,
config and the Trainer. 2 mirrored devices against 1: tests/test_distribute.py."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import heads
import penguin_support as support
from components import config as config_lib
from components import trainer
from heads import loss_balancing
from heads.model import HeadModel

NAN = float('nan')
METHODS = ('uncertainty', 'dwa', 'normalize')
STATE = {'uncertainty': ('log_variance_change', 'log_variance_start', 'started'),
         'dwa': ('epoch_loss_sum', 'epoch_batches', 'last_epoch_loss', 'earlier_epoch_loss',
                 'epochs', 'dwa_weights'),
         'normalize': ('loss_average', 'batches')}


def three_heads(head_weights=None):
  """reg (squared error, NaN = missing), bin and mc (3 classes)."""
  return heads.MultiHead([heads.RegressionHead(name='reg', missing_label_value=NAN),
                          heads.BinaryClassHead(name='bin'),
                          heads.MultiClassHead(3, name='mc')], head_weights=head_weights)


def attached(method, head_weights=None, **parameters):
  balancer = loss_balancing.get(dict(parameters, method=method))
  balancer.attach(three_heads(head_weights))
  return balancer


def combine(balancer, losses, counts=(4., 4., 4.), training=True):
  return float(balancer.combine(tf.constant(losses, tf.float32),
                                tf.constant(counts, tf.float32), training=training))


def weights_of(balancer):
  return balancer.effective_weights().numpy()


def make_data(rows=48, seed=0):
  """3 batches of 16; the first labels no 'reg' example."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(rows, 4)).astype(np.float32)
  reg = (300. * x[:, 1:2] + 1000.).astype(np.float32)
  reg[:16] = NAN
  labels = {'reg': reg, 'bin': (x[:, :1] > 0).astype(np.float32),
            'mc': rng.integers(0, 3, size=(rows, 1))}
  return {'x': x}, labels


def dataset(features, labels, batch_size=16):
  return tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch_size)


def make_model(loss_balancing=None, head_weights=None, seed=1, learning_rate=0.05):
  keras.utils.set_random_seed(seed)
  inputs = {'x': keras.Input((4,), name='x')}
  body = keras.Model(inputs, keras.layers.Dense(6, activation='tanh')(inputs['x']))
  model = HeadModel(three_heads(head_weights), body, body_output='logits_input',
                    loss_balancing=loss_balancing)
  model.compile(keras.optimizers.SGD(learning_rate))
  return model


def state(model):
  return {variable.name: variable.numpy() for variable in model.loss_balancer.weights}


@pytest.fixture(scope='module')
def trained():
  """{method: (model, history)} after 3 epochs of make_data(), built before fit."""
  features, labels = make_data()
  models = {}
  for method in METHODS:
    model = make_model(method)
    model(features)
    history = model.fit(dataset(features, labels), epochs=3, verbose=0)
    models[method] = model, history.history
  return models


# fixed ----------------------------------------------------------------------

def test_fixed_is_the_default_and_adds_no_state():
  for given in (None, 'fixed', {'method': 'fixed'}, loss_balancing.FixedWeights()):
    model = make_model(given, head_weights=[1., 2., .5])
    assert isinstance(model.loss_balancer, loss_balancing.FixedWeights)
    assert not model.loss_balancer.weights
    reported = {m.name: float(m.result()) for m in model.metrics
                if m.name.startswith('head_weight/')}
    assert reported == {'head_weight/reg': 1., 'head_weight/bin': 2., 'head_weight/mc': .5}


def test_fixed_step_is_bit_identical_to_the_heads_own_loss():
  """A fit step with the default equals a hand-written step on MultiHead.loss, bit for bit."""
  features, labels = make_data(16, seed=3)
  labels['reg'][:4] = NAN
  model = make_model(head_weights=[1., 2., .5])
  model(features)
  start = model.get_weights()
  model.fit(dataset(features, labels), epochs=1, verbose=0)

  reference = make_model(head_weights=[1., 2., .5])
  reference(features)
  reference.set_weights(start)

  @tf.function
  def step(features, labels):
    with tf.GradientTape() as tape:
      loss = reference.head.loss(labels, reference(features, training=True), features, 'train')
    variables = reference.trainable_variables
    reference.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

  step(features, labels)
  for got, want in zip(model.get_weights(), reference.get_weights()):
    np.testing.assert_array_equal(got, want)


# uncertainty ----------------------------------------------------------------

def test_uncertainty_loss_gradient_and_weights_follow_kendall_et_al():
  """reg: ½·exp(-s)·L + ½·s; bin, mc: exp(-s)·L + ½·s; times the head weight."""
  balancer = attached('uncertainty', head_weights=[2., 1., 1.], initial_log_variance=0.)
  s = [0.3, -0.2, 0.1]
  balancer.log_variance_change.assign(s)
  losses = [4., 0.5, 1.2]
  with tf.GradientTape() as tape:
    loss = balancer.combine(tf.constant(losses), tf.constant([8., 8., 8.]), training=True)
  gradient = tape.gradient(loss, balancer.log_variance_change.value).numpy()
  e = [math.exp(-value) for value in s]
  assert float(loss) == pytest.approx(
      2. * (.5 * e[0] * 4. + .5 * s[0]) + (e[1] * .5 + .5 * s[1]) + (e[2] * 1.2 + .5 * s[2]),
      rel=1e-6)
  np.testing.assert_allclose(gradient, [2. * (-.5 * e[0] * 4. + .5), -e[1] * .5 + .5,
                                        -e[2] * 1.2 + .5], rtol=1e-5)
  np.testing.assert_allclose(weights_of(balancer), [2. * .5 * e[0], e[1], e[2]], rtol=1e-6)


def test_uncertainty_fit_step_moves_s_by_the_gradient_of_its_term():
  """One SGD step from s = 0: s_k -= lr·c_k·(b - a·L_k), with L_k the heads' own losses."""
  features, labels = make_data(16, seed=4)
  labels['reg'] = 3. * features['x'][:, 1:2]
  model = make_model({'method': 'uncertainty', 'initial_log_variance': 0.}, [1., 2., 1.],
                     learning_rate=0.1)
  logits = model(features)
  head_losses = [float(head.loss(labels[head.name], logits[head.name], features))
                 for head in model.head.heads]
  model.fit(dataset(features, labels), epochs=1, verbose=0)
  expected = [-0.1 * c * (.5 - a * loss)
              for c, a, loss in zip([1., 2., 1.], [.5, 1., 1.], head_losses)]
  np.testing.assert_allclose(model.loss_balancer.log_variance().numpy(), expected, rtol=1e-5)


def test_uncertainty_starts_each_s_at_its_first_labelled_batch_optimum():
  balancer = attached('uncertainty')
  np.testing.assert_allclose(weights_of(balancer), [.5, 1., 1.])
  loss = combine(balancer, [4., 0., 1.2], counts=[8., 0., 8.])
  # s = log(a·L / b): log 4 for reg; log(2·1.2) for mc; bin has no labels yet.
  np.testing.assert_allclose(balancer.log_variance().numpy(), [math.log(4.), 0., math.log(2.4)],
                             rtol=1e-6)
  np.testing.assert_allclose(weights_of(balancer), [1. / 8., 1., 1. / 2.4], rtol=1e-6)
  assert loss == pytest.approx(.5 / 4. * 4. + .5 * math.log(4.) + 1.2 / 2.4 + .5 * math.log(2.4),
                               rel=1e-6)
  combine(balancer, [9., .25, 5.], training=False)  # evaluation changes nothing
  combine(balancer, [9., .25, 5.])
  np.testing.assert_allclose(balancer.log_variance().numpy(),
                             [math.log(4.), math.log(.5), math.log(2.4)], rtol=1e-6)


# dwa ------------------------------------------------------------------------

def dwa_weights(ratios, temperature=2.):
  exps = np.exp(np.asarray(ratios) / temperature)
  return len(ratios) * exps / exps.sum()


def test_dwa_weights_follow_liu_et_al():
  """w_k = K·exp(r_k/T)/Σ exp(r_j/T), r_k = L_k(t-1)/L_k(t-2); 1 for the first two epochs."""
  balancer = attached('dwa', head_weights=[1., 1., 2.], temperature=2.)
  assert combine(balancer, [1., 2., 3.]) == pytest.approx(1. + 2. + 2. * 3.)
  combine(balancer, [3., 2., 1.])
  balancer.end_epoch()  # epoch 1 means: 2, 2, 2
  np.testing.assert_allclose(weights_of(balancer), [1., 1., 2.])
  combine(balancer, [1., 2., 4.])
  combine(balancer, [50., 50., 50.], training=False)  # evaluation is not counted
  balancer.end_epoch()  # epoch 2 means: 1, 2, 4
  expected = dwa_weights([1. / 2., 2. / 2., 4. / 2.])
  np.testing.assert_allclose(weights_of(balancer), expected * [1., 1., 2.], rtol=1e-6)
  assert combine(balancer, [2., 1., 0.], counts=[4., 4., 0.]) == pytest.approx(
      expected[0] * 2. + expected[1] * 1., rel=1e-6)
  balancer.end_epoch()  # epoch 3 means: 2, 1, (mc unlabelled: keeps r = 4/2)
  np.testing.assert_allclose(weights_of(balancer), dwa_weights([2., .5, 2.]) * [1., 1., 2.],
                             rtol=1e-6)
  assert balancer.epochs.numpy().tolist() == [3., 3., 2.]


def test_dwa_weights_update_once_per_fit_epoch(trained):
  model, history = trained['dwa']
  weights = np.stack([history['head_weight/' + name] for name in ('reg', 'bin', 'mc')], 1)
  np.testing.assert_array_equal(weights[:2], np.ones([2, 3]))
  assert not np.allclose(weights[2], 1.) and weights[2].sum() == pytest.approx(3.)
  assert model.loss_balancer.epochs.numpy().tolist() == [3., 3., 3.]
  assert model.loss_balancer.epoch_batches.numpy().tolist() == [0., 0., 0.]


# normalize ------------------------------------------------------------------

def test_normalize_divides_by_the_bias_corrected_moving_average():
  balancer = attached('normalize', decay=.9)
  np.testing.assert_allclose(weights_of(balancer), [1., 1., 1.])
  assert combine(balancer, [10., .5, 0.], counts=[4., 4., 0.]) == pytest.approx(2.)
  np.testing.assert_allclose(weights_of(balancer), [.1, 2., 1.], rtol=1e-6)
  combine(balancer, [99., 99., 99.], training=False)
  loss = combine(balancer, [20., .5, 3.])
  scale = (.9 * .1 * 10. + .1 * 20.) / (1. - .9 ** 2)
  np.testing.assert_allclose(balancer.scale().numpy(), [scale, .5, 3.], rtol=1e-6)
  assert loss == pytest.approx(20. / scale + 1. + 1., rel=1e-6)


# missing labels, checkpoints --------------------------------------------------

@pytest.mark.parametrize('method', METHODS)
def test_weights_stay_finite_for_a_head_that_never_has_labels(method):
  balancer = attached(method)
  for epoch in range(4):
    for losses in ([0., 1., 2.], [0., 3., 1.]):
      loss = combine(balancer, losses, counts=[0., 4., 4.])
      assert math.isfinite(loss)
    balancer.end_epoch()
    weights = weights_of(balancer)
    assert np.all(np.isfinite(weights)) and weights[0] > 0, (epoch, weights)
  for name in STATE[method]:
    assert np.all(np.isfinite(getattr(balancer, name).numpy())), name


def test_batches_without_labels_are_skipped_in_fit(trained):
  """The first of each epoch's 3 batches labels no 'reg' example."""
  for method, (model, history) in trained.items():
    for key, values in history.items():
      assert np.all(np.isfinite(values)), (method, key)
    assert np.all(np.isfinite(weights_of(model.loss_balancer))), method
  np.testing.assert_array_equal(trained['normalize'][0].loss_balancer.batches.numpy(),
                                [6., 9., 9.])


@pytest.mark.parametrize('method', METHODS)
def test_state_restores_from_a_checkpoint(trained, tmp_path, method):
  model, _ = trained[method]
  features, _ = make_data()
  path = tf.train.Checkpoint(model=model).write(str(tmp_path / 'ckpt'))
  model.save_weights(str(tmp_path / 'model.weights.h5'))
  for restore in ('checkpoint', 'save_weights'):
    restored = make_model(method, seed=9)
    restored(features)
    assert not all(np.array_equal(a, b) for a, b in zip(state(restored).values(),
                                                        state(model).values()))
    if restore == 'checkpoint':
      tf.train.Checkpoint(model=restored).read(path).assert_existing_objects_matched()
    else:
      restored.load_weights(str(tmp_path / 'model.weights.h5'))
    for name, value in state(model).items():
      np.testing.assert_array_equal(state(restored)[name], value, err_msg=name)
    np.testing.assert_array_equal(weights_of(restored.loss_balancer),
                                  weights_of(model.loss_balancer))


class _Interrupt(keras.callbacks.Callback):

  def on_epoch_end(self, epoch, logs=None):
    if epoch == 1:
      raise RuntimeError('interrupted')


def test_dwa_resumes_with_backup_and_restore(trained, tmp_path):
  """Interrupted after epoch 2 and resumed, training ends as if never interrupted."""
  whole, _ = trained['dwa']
  features, labels = make_data()
  backup = keras.callbacks.BackupAndRestore(str(tmp_path / 'backup'))
  interrupted = make_model('dwa')
  interrupted(features)
  with pytest.raises(RuntimeError, match='interrupted'):
    interrupted.fit(dataset(features, labels), epochs=3, verbose=0,
                    callbacks=[backup, _Interrupt()])
  resumed = make_model('dwa', seed=5)
  resumed(features)
  history = resumed.fit(dataset(features, labels), epochs=3, verbose=0, callbacks=[backup])
  assert len(history.history['loss']) == 1
  assert not np.allclose(weights_of(whole.loss_balancer), 1.)
  for got, want in zip(resumed.get_weights(), whole.get_weights()):
    np.testing.assert_allclose(got, want, rtol=1e-6)


# API, config, Trainer ---------------------------------------------------------

def test_bad_settings_are_refused_with_the_parameter_named():
  with pytest.raises(ValueError, match=r"method must be one of \['fixed', 'uncertainty', 'dwa', "
                                       r"'normalize'\], got 'gradnorm'"):
    loss_balancing.get('gradnorm')
  with pytest.raises(loss_balancing.ParameterError, match=r"^temperature must be a number > 0, "
                                                          r"got 0"):
    loss_balancing.get({'method': 'dwa', 'temperature': 0})
  with pytest.raises(loss_balancing.ParameterError, match=r"^decay is not a parameter of 'dwa'"):
    loss_balancing.get({'method': 'dwa', 'decay': .9})
  with pytest.raises(ValueError, match="loss_balancing='normalize' weighs the heads of a "
                                       "MultiHead, but the head is a RegressionHead"):
    HeadModel(heads.RegressionHead(), keras.layers.Dense(1), loss_balancing='normalize')
  balancer = loss_balancing.get('dwa')
  make_model(balancer)
  with pytest.raises(ValueError, match='already belongs to a model'):
    make_model(balancer)


def test_balancers_round_trip_through_get_config():
  for method, parameters in (('uncertainty', {'initial_log_variance': 1.5}),
                             ('dwa', {'temperature': 3.}), ('normalize', {'decay': .5})):
    balancer = loss_balancing.get(dict(parameters, method=method))
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(balancer))
    assert type(copy) is type(balancer) and copy.get_config() == balancer.get_config()
    assert {name: getattr(copy, name) for name in parameters} == parameters


def test_config_builds_the_balancer_with_its_parameters():
  """Parsing and its errors: tests/test_config.py."""
  def built(value):
    config = config_lib.parse_config(support.config_data(training={'loss_balancing': value}))
    return config.training.loss_balancing.build()

  assert isinstance(built('fixed'), loss_balancing.FixedWeights)
  balancer = built({'method': 'dwa', 'temperature': 1})
  assert isinstance(balancer, loss_balancing.DynamicWeightAverage)
  assert balancer.temperature == 1.0
  assert built('dwa').temperature == 2.0
  assert built({'method': 'normalize', 'decay': .5}).decay == .5
  assert built('uncertainty').initial_log_variance is None
  assert built({'method': 'uncertainty', 'initial_log_variance': 0}).initial_log_variance == 0.


def test_trainer_epoch_line_shows_each_heads_effective_weight(capsys):
  """The logs hold head_weight/<head> (HeadModel); TensorBoard: tests/test_trainer.py."""
  line = trainer._EpochLine(10, ['species', 'sex', 'body_mass_g'])  # pylint: disable=protected-access
  line.on_epoch_end(2, {'loss': 2.5, 'val_loss': 2.75, 'head_weight/species': 1.25,
                        'head_weight/sex': 0.5, 'head_weight/body_mass_g': 4.04e-6})
  line.on_epoch_end(3, {'loss': 2.5, 'val_loss': 2.75})
  assert capsys.readouterr().out.splitlines() == [
      '  epoch 3/10: loss 2.5, val_loss 2.75, head weights: species 1.25, sex 0.5, '
      'body_mass_g 4.04e-06',
      '  epoch 4/10: loss 2.5, val_loss 2.75']
