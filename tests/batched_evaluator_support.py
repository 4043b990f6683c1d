"""A synthetic 3-head set for the batched Evaluator tests, and how to read results back.

Three heads: a vocabulary multi-class head, a binary head and a regression
head, both with a weight column and masked labels. Two slice columns that
are not model inputs: `site` (text; some examples have two sites, some
none) and `cohort` (an integer). The eval data is written as four files,
two GZIP and two uncompressed, so two workers share the work.
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

import evaluator_support
from components import config as config_lib
from components import evaluate
from components import report
from components import schema
from components import signatures
from components.evaluation import reading

CONFIG_YAML = """
heads:
  - {name: kind, type: multi_class, label: kind, label_vocabulary: [red, green, blue]}
  - {name: click, type: binary, label: click, weight_column: w, thresholds: [0.3],
     missing_label: mask}
  - {name: spend, type: regression, label: spend, weight_column: w, missing_label: mask}
model:
  features: [x1, x2, x3]
  hidden_units: [8]
training: {learning_rate: 0.05}
evaluation:
  thresholds:
    kind:                                               # passes both
      - {metric: accuracy, lower_bound: 0.3, change: {direction: higher_is_better}}
    click:
      - {metric: auc, lower_bound: 0.999}               # fails: a value bound
    spend:
      - {metric: average_loss, change: {direction: higher_is_better}}   # fails vs baseline
      - {metric: example_count, lower_bound: 1}         # passes
  slicing: [[], [site], [cohort], [site, cohort]]
"""

# (head, metric, kind of threshold) that fail against the baseline / without one.
FAILING = {('click', 'auc'), ('spend', 'average_loss')}
FAILING_WITHOUT_BASELINE = {('click', 'auc')}
KINDS = ('red', 'green', 'blue')
SITES = ('north', 'south', 'east')
N_EXAMPLES = 600
BATCH_SIZE = 64  # small, so every file has several batches and a short last one


def load_config(text=CONFIG_YAML):
  return config_lib.load_config(text)


def make_examples(n=N_EXAMPLES, seed=1):
  """n serialized tf.Examples; ~20% of click and ~15% of spend labels are missing."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  kind = np.argmax(x @ np.array([[2., 0., -2.], [0., 1.5, 0.], [1., -1., .5]])
                   + rng.normal(scale=0.7, size=(n, 3)), axis=1)
  click = (x[:, 0] + rng.normal(scale=0.8, size=n) > 0).astype(np.int64)
  spend = (2 * x[:, 0] - x[:, 1] + rng.normal(scale=0.5, size=n)).astype(np.float32)
  weight = rng.uniform(0.5, 2.0, size=n).astype(np.float32)
  cohort = rng.integers(2019, 2022, size=n)
  feature = evaluator_support._feature  # pylint: disable=protected-access
  records = []
  for i in range(n):
    columns = {'x1': feature([x[i, 0]]), 'x2': feature([x[i, 1]]), 'x3': feature([x[i, 2]]),
               'w': feature([weight[i]]), 'kind': feature([KINDS[kind[i]]]),
               'cohort': feature([int(cohort[i])])}
    sites = [SITES[j] for j in rng.choice(3, size=rng.choice([0, 1, 1, 1, 2]), replace=False)]
    if sites:
      columns['site'] = feature(sites)
    if rng.random() > 0.2:
      columns['click'] = feature([int(click[i])])
    if rng.random() > 0.15:
      columns['spend'] = feature([spend[i]])
    records.append(tf.train.Example(
        features=tf.train.Features(feature=columns)).SerializeToString())
  return records


def write_shards(records, directory, shards=4):
  """Round-robin into `shards` files, GZIP (.gz) and uncompressed alternately; returns a pattern."""
  os.makedirs(directory, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(directory, 'part-{}{}'.format(
      i, '.gz' if i % 2 == 0 else '')), options='GZIP' if i % 2 == 0 else None)
             for i in range(shards)]
  for i, record in enumerate(records):
    writers[i % shards].write(record)
  for writer in writers:
    writer.close()
  return os.path.join(directory, 'part-*')


def train_and_export(config, records, export_dir, steps):
  return evaluator_support.train_and_export(config, records, export_dir, steps=steps)


def load_metrics(output):
  """{(slice, model, head, name, is_diff): value} of an evaluation output."""
  values = {}
  for record in tfma.load_metrics(output):
    slice_ = report.slice_name(record.slice_key)
    for item in record.metric_keys_and_values:
      key = item.key
      values[(slice_, key.model_name, key.output_name, key.name, key.is_diff)] = (
          report._metric_value(item.value))  # pylint: disable=protected-access
  return values


def diff_tolerance(values, key):
  """assert_allclose tolerance for a diff (candidate - baseline) key of load_metrics' values.

  Each engine's error in a diff is up to 1e-6 of |candidate| + |baseline|,
  however small the diff itself.
  """
  candidate = values[key[:4] + (False,)]
  baseline = values[(key[0], evaluate.BASELINE) + key[2:4] + (False,)]
  return dict(rtol=0, atol=1e-6 * (abs(candidate) + abs(baseline)) + 1e-8)


def load_plots(output):
  """{(slice, model, head, name): PlotData} of an evaluation output."""
  return {(report.slice_name(record.slice_key), item.key.model_name, item.key.output_name,
           item.key.name): item.value
          for record in tfma.load_plots(output) for item in record.plot_keys_and_values}


def failures(output):
  """{(head, metric)} of the failed thresholds of an evaluation output."""
  validation = tfma.load_validation_result(output)
  return {(f.metric_key.output_name, f.metric_key.name)
          for s in validation.metric_validations_per_slice for f in s.failures}


def _text_values(feature):
  kind = feature.WhichOneof('kind')
  values = getattr(feature, kind).value if kind else []
  return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def slice_rows(records, slice_name):
  """Row indices of the examples in a slice named as report.slice_name names it."""
  if slice_name == report.OVERALL:
    return np.arange(len(records))
  wanted = dict(part.split('=') for part in slice_name.split(', '))
  rows = []
  for i, record in enumerate(records):
    feature = tf.train.Example.FromString(record).features.feature
    if all(column in feature and value in _text_values(feature[column])
           for column, value in wanted.items()):
      rows.append(i)
  return np.array(rows)


def logits_by_record(model_dir, data_pattern, batch_size=BATCH_SIZE):
  """{serialized example: {head: logits}} from the exported `eval_logits` signature.

  Called on the batches the Evaluator reads (file by file, `batch_size`
  records), so the logits are bitwise the ones it scores: inference is not
  bitwise batch-invariant.
  """
  function = tf.saved_model.load(model_dir).signatures[signatures.EVAL_LOGITS_SIGNATURE]
  result = {}
  for path in reading.list_files([data_pattern]):
    for batch in reading.read_batches(path, batch_size):
      logits = {k: v.numpy() for k, v in function(examples=tf.constant(batch.records)).items()}
      for i, record in enumerate(batch.records):
        result[record] = {head: value[i] for head, value in logits.items()}
  return result


def heads_own_metrics(logits, config, records, dtype=tf.float64, column_types=None):
  """{head: {name: value}} of each head's own metrics(dtype) + update_metrics on the records.

  logits: {serialized example: {head: logits}}; labels and weights parsed as
  the exported signatures parse them (an empty value list is a missing value;
  `column_types`, the model's `schema.read_column_types`, for integer columns).
  """
  features = schema.example_parser(config, column_types)(tf.constant(records))
  labels = {head.name: features[head.label] for head in config.heads}
  results = {}
  for head_config in config.heads:
    head = head_config.build()
    head_logits = np.stack([logits[record][head.name] for record in records])
    own = head.update_metrics(head.metrics(dtype=dtype), features, head_logits,
                              labels[head.name])
    suffix = '/' + head.name
    results[head.name] = {key[:-len(suffix)]: float(metric.result())
                          for key, metric in own.items()}
  return results
