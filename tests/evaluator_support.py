"""A small trained multi-head SavedModel and its data, for the Evaluator tests.

Six heads cover every head type: a vocabulary multi-class head, a binary head
with a weight column, thresholds and masked labels, a masked regression head,
a Poisson head, a logistic-regression head and a multi-label head with
class-based metrics. `island` is a slicing column that is not a model input.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from components import config as config_lib
from components import schema
from components import signatures
from heads.model import HeadModel
from heads.model import LOGITS_INPUT

CONFIG_YAML = """
heads:
  - {name: species, type: multi_class, label: species,
     label_vocabulary: [Adelie, Chinstrap, Gentoo]}
  - {name: heavy, type: binary, label: heavy, weight_column: w, thresholds: [0.3, 0.7],
     missing_label: mask}
  - {name: mass, type: regression, label: body_mass, missing_label: mask}
  - {name: eggs, type: poisson_regression, label: n_eggs}
  - {name: frac, type: logistic_regression, label: frac}
  - {name: tags, type: multi_label, label: tags, n_classes: 3,
     classes_for_class_based_metrics: [0, 2]}
model:
  features: [x1, x2, x3]
  hidden_units: [8]
training: {train_steps: 60, batch_size: 32, learning_rate: 0.05}
evaluation:
  thresholds:
    species:
      - {metric: accuracy, lower_bound: 0.3, change: {direction: higher_is_better}}
    heavy:
      - {metric: auc, lower_bound: 0.5}
    mass:
      - {metric: average_loss, upper_bound: 0.001}   # the one head that fails
    eggs:
      - {metric: average_loss, change: {direction: lower_is_better}}
    tags:
      - {metric: auc/class2, lower_bound: 0.5}
  slicing: [[], [island]]
"""

FAILING_HEAD = 'mass'

ISLANDS = ('Biscoe', 'Dream', 'Torgersen')
SPECIES = ('Adelie', 'Chinstrap', 'Gentoo')


def load_config(text=CONFIG_YAML):
  return config_lib.load_config(text)


def _feature(values):
  values = list(values)
  if values and isinstance(values[0], (bytes, str)):
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v.encode() if isinstance(v, str) else v for v in values]))
  if values and isinstance(values[0], (int, np.integer)):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
  return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def make_examples(n, seed=0):
  """n serialized tf.Examples; ~20% of heavy and ~15% of body_mass labels are missing."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  species = np.argmax(x @ np.array([[2., 0., -2.], [0., 1.5, 0.], [1., -1., 0.5]])
                      + rng.normal(scale=0.7, size=(n, 3)), axis=1)
  heavy = (x[:, 0] + rng.normal(scale=0.8, size=n) > 0).astype(np.int64)
  weight = rng.uniform(0.5, 2.0, size=n).astype(np.float32)
  mass = (2 * x[:, 0] - x[:, 1] + rng.normal(scale=0.5, size=n)).astype(np.float32)
  eggs = rng.poisson(np.exp(0.5 * x[:, 2]))
  frac = (1 / (1 + np.exp(-(x[:, 0] - x[:, 2])))).astype(np.float32)
  tag_scores = x + rng.normal(scale=0.8, size=(n, 3))
  island = rng.integers(0, len(ISLANDS), size=n)
  heavy_missing = rng.random(n) < 0.2
  mass_missing = rng.random(n) < 0.15
  records = []
  for i in range(n):
    feature = {'x1': _feature([x[i, 0]]), 'x2': _feature([x[i, 1]]),
               'x3': _feature([x[i, 2]]), 'w': _feature([weight[i]]),
               'species': _feature([SPECIES[species[i]]]),
               'n_eggs': _feature([float(eggs[i])]), 'frac': _feature([frac[i]]),
               'tags': _feature([int(j) for j in np.flatnonzero(tag_scores[i] > 0.5)]),
               'island': _feature([ISLANDS[island[i]]])}
    if not feature['tags'].int64_list.value:
      feature['tags'] = tf.train.Feature(int64_list=tf.train.Int64List())
    if not heavy_missing[i]:
      feature['heavy'] = _feature([int(heavy[i])])
    if not mass_missing[i]:
      feature['body_mass'] = _feature([mass[i]])
    records.append(tf.train.Example(
        features=tf.train.Features(feature=feature)).SerializeToString())
  return records


def write_tfrecord(records, path):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)
  return path


def parse(config, records):
  """(features, labels keyed by head name) of serialized examples, as the Trainer reads them."""
  parsed = tf.io.parse_example(tf.constant(records), schema.full_spec(config))
  labels = {head.name: parsed[head.label] for head in config.heads}
  features = {name: value for name, value in parsed.items()
              if name not in {head.label for head in config.heads}}
  return features, labels


def build_model(config):
  inputs = {f.name: keras.Input((1,), name=f.name) for f in config.model.features}
  net = keras.layers.Concatenate()(list(inputs.values()))
  for units in config.model.hidden_units:
    net = keras.layers.Dense(units, activation='tanh')(net)
  body = keras.Model(inputs, net)
  return HeadModel(config.build_head(), body, body_output=LOGITS_INPUT)


def train_and_export(config, records, export_dir, steps=150, seed=0):
  """Trains a HeadModel on `records` (full batch) and exports it with the TFMA signatures."""
  keras.utils.set_random_seed(seed)
  model = build_model(config)
  features, labels = parse(config, records)
  model(features)
  optimizer = keras.optimizers.Adam(config.training.learning_rate)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = model.head.loss(labels, model(features, training=True), features)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))

  for _ in range(steps):
    step()
  signatures.export(model, config, export_dir)
  return model


def head_metrics(model, config, records):
  """{head_name: {metric key without the '/head' suffix: value}} from the heads themselves."""
  features, labels = parse(config, records)
  logits = model(features, training=False)
  results = {}
  for head in model.head.heads:
    eval_metrics = head.update_metrics(head.metrics(), features, logits[head.name],
                                       labels[head.name])
    suffix = '/' + head.name
    results[head.name] = {key[:-len(suffix)]: float(metric.result())
                          for key, metric in eval_metrics.items()}
  return results
