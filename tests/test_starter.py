"""`heads-pipeline init`: what it infers from CSV columns, and when it refuses (no pipeline run)."""
import csv
import io
import math
import random

import numpy as np
import pytest
import tensorflow as tf

from components import config as config_lib
from pipelines import csv_data
from pipelines import starter


def write_csv(directory, columns, rows=60):
  """A CSV of `columns`: {name: fn(row index, rng) -> cell}."""
  rng = random.Random(0)
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(list(columns))
  for i in range(rows):
    writer.writerow([make(i, rng) for make in columns.values()])
  data = directory / 'data'
  data.mkdir()
  (data / 'd.csv').write_text(out.getvalue())
  return str(data)


COLUMNS = {
    '': lambda i, r: str(i + 1),                                   # R's row numbers
    'x': lambda i, r: '{:.3f}'.format(r.random()) if i % 9 else '',  # FLOAT with gaps
    'n': lambda i, r: str(i % 7),                                  # INT
    'colour': lambda i, r: 'rgb'[i % 3],                           # a few values
    'city': lambda i, r: 'c{}'.format(i % 55),                     # more than 50 values
    'id': lambda i, r: 'id{}'.format(i),                           # every value differs
    'same': lambda i, r: 'k',                                      # one value
    'amount': lambda i, r: 'NA' if i % 10 == 0 else str(i),        # numbers with NA
    'price': lambda i, r: '{:.1f}'.format(1000 + 500 * r.random()),
    'sold': lambda i, r: ['no', 'yes'][i % 2] if i % 5 else '',
    'kind': lambda i, r: ['small', 'medium', 'large'][i % 3],
    'tags': lambda i, r: '|'.join(t for t in 'abc' if (i >> 'abc'.index(t)) & 1),
    'level': lambda i, r: str(i % 4),
    'score': lambda i, r: str(0.25 * (i % 2)),
    'ratio': lambda i, r: ['inf', 'NaN'][i % 2] if i % 20 == 3 else str(i / 7),  # pandas
    'gain': lambda i, r: '-Inf' if i == 30 else '{:.2f}'.format(r.random()),    # R
}
LABELS = ['price', 'sold', 'kind', 'tags', 'level:multi_class', 'score', 'gain']


@pytest.fixture(scope='module')
def started(tmp_path_factory):
  data = write_csv(tmp_path_factory.mktemp('starter'), COLUMNS)
  text, config, report = starter.starter_config(data, LABELS)
  return data, text, config, report


def test_head_types_are_inferred_or_given(started):
  _, _, config, report = started
  heads = {h.name: h for h in config.heads}
  assert {n: h.type for n, h in heads.items()} == {
      'price': 'regression', 'sold': 'binary', 'kind': 'multi_class', 'tags': 'multi_label',
      'level': 'multi_class', 'score': 'regression',  # floats are regression, 2 values or not
      'gain': 'regression'}
  assert heads['gain'].missing_label == 'mask'  # its -Inf is masked like a missing label
  assert heads['sold'].label_vocabulary == ['no', 'yes'] and heads['sold'].missing_label == 'mask'
  assert heads['kind'].label_vocabulary == ['large', 'medium', 'small']
  assert heads['tags'].label_vocabulary == ['a', 'b', 'c'] and heads['tags'].label_separator == '|'
  assert heads['level'].n_classes == 4 and heads['level'].label_vocabulary is None  # ids 0..3
  assert not report.errors


def test_labels_off_the_loss_scale_get_loss_balancing_not_weights(started, tmp_path):
  """price (variance ~2e4), score (0.0156) and gain (0.078) are off the class losses' scale."""
  _, text, config, _ = started
  assert config.training.loss_balancing.method == 'normalize'
  assert {head.weight for head in config.heads} == {1.0}
  assert ('weight for price (variance 1.93e+04), score (variance 0.0156), gain (variance '
          '0.0781)') in text
  data = write_csv(tmp_path, COLUMNS)
  _, config, _ = starter.starter_config(data, ['sold', 'kind', 'x'])  # x: variance ~0.08
  assert config.training.loss_balancing.method == 'normalize'
  for labels in (['sold', 'kind'], ['price']):  # all on one scale; a single head
    text, config, _ = starter.starter_config(data, labels)
    assert config.training.loss_balancing.method == 'fixed', labels
    assert ('# loss_balancing: normalize' in text) == (len(labels) > 1), labels


def test_features_are_the_other_columns(started):
  _, text, config, _ = started
  features = {f.name: f for f in config.model.features}
  assert list(features) == ['x', 'n', 'colour', 'city', 'amount', 'ratio']
  assert features['ratio'].non_finite == 'impute' and features['x'].non_finite == 'error'
  assert ('NaN or inf in 3 rows (e.g. ' in text and 'are imputed like missing values'
          in text)
  assert features['x'].kind == 'numeric' and features['n'].kind == 'numeric'
  assert features['colour'].vocabulary == ['b', 'g', 'r']
  assert features['city'].kind == 'categorical_hash' and features['city'].hash_buckets == 128
  assert features['amount'].kind == 'categorical_hash'  # text to CsvExampleGen, because of NA
  assert "text because of 'NA' (6 rows, first " in text
  assert ("# not used: an unnamed column (row numbers?); id (every value differs: an id?); "
          "same (one value: k)") in text


def test_training_defaults_follow_the_rows(started):
  _, _, config, _ = started
  assert config.training.batch_size == 32
  assert config.training.train_steps == 100  # at least 100 steps
  assert config.training.eval_steps == 1  # 20 eval rows


def test_gates_beat_a_constant_and_use_the_heads_metric_names(started):
  _, text, config, _ = started
  thresholds = config.evaluation.thresholds
  assert set(thresholds) == {h.name for h in config.heads}
  sold = {t.metric: t for t in thresholds['sold']}
  assert sold['average_loss'].upper_bound == pytest.approx(math.log(2), abs=1e-3)
  assert sold['auc'].change_direction == 'higher_is_better'
  assert '# - {metric: auc, lower_bound: 0.7}' in text
  assert ('# metrics: average_loss, accuracy, precision/large, recall/large, auc/large'
          in text)


def test_constant_loss_is_the_heads_loss_of_a_constant_prediction():
  counts = [0, 0, 1, 2, 5, 9, 3, 0, 1, 14]
  profile = csv_data.ColumnProfile('visits')
  profile.add([str(c) for c in counts], list(range(len(counts))), None)
  head = starter._Head('visits', 'poisson_regression', profile, set(), '')  # pylint: disable=protected-access
  mean = np.mean(counts)
  expected = tf.reduce_mean(tf.nn.log_poisson_loss(
      np.float32(counts), np.full(len(counts), np.log(mean), np.float32),
      compute_full_loss=True))
  assert starter.constant_loss(head) == pytest.approx(float(expected), rel=1e-5)
  head = starter._Head('visits', 'regression', profile, set(), '')  # pylint: disable=protected-access
  assert starter.constant_loss(head) == pytest.approx(np.var(counts))


@pytest.mark.parametrize('labels, message', [
    (['prices'], "--label: column 'prices' is not in the data (did you mean 'price'?)"),
    (['price:ranking'], "--label price:ranking: unknown head type 'ranking'"),
    (['id'], "--label id: column 'id' holds 150 text values, too many for a class head"),
    (['amount'], "d.csv:2: --label amount: column 'amount' holds numbers and text ('NA' in 15 "
                 'rows)'),
    (['n:binary'], "the starter config does not pass check: {data}/d.csv:4: heads[0].label: a "
                   "binary head reads two values, but column 'n' holds 7"),
    (['price', 'price'], '--label price: given twice'),
])
def test_what_init_refuses_is_one_line(tmp_path, labels, message):
  data = write_csv(tmp_path, COLUMNS, rows=150)
  with pytest.raises(starter.InitError) as error:
    starter.starter_config(data, labels)
  text = str(error.value)
  assert message.format(data=data) in text and '\n' not in text


def test_the_written_yaml_keeps_strings_strings(started):
  _, text, _, _ = started
  assert "label_vocabulary: ['no', 'yes']" in text  # not the booleans of YAML 1.1
  assert config_lib.load_config(text).head('sold').label_vocabulary == ['no', 'yes']
