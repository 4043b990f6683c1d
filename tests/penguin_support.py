"""Penguin data as the pipeline sees it, without running the pipeline.

tf.Examples are encoded as CsvExampleGen encodes the cleaned CSV: every column
present, an empty CSV field as an empty value list. The schema has the types
SchemaGen infers for it. Only fn_args() and data_accessor() import TFX, so the
modules that use the rest also run in the newest-stack leg, which has no TFX.
"""

import csv
import io
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx_bsl.tfxio import tf_example_record

from components import config as config_lib
from components import trainer
from pipelines import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_PATH = os.path.join(ROOT, 'pipelines', 'configs', 'penguins.yaml')
COLUMN_TYPES = {'species': 'BYTES', 'island': 'BYTES', 'bill_length_mm': 'FLOAT',
                'bill_depth_mm': 'FLOAT', 'flipper_length_mm': 'FLOAT', 'body_mass_g': 'FLOAT',
                'sex': 'BYTES', 'year': 'INT'}


def csv_rows(rows=None):
  return list(csv.DictReader(io.StringIO(data.penguins_csv_text(rows))))


def to_example(row, types=None):
  """The tf.Example CsvExampleGen makes of one cleaned CSV row (columns of `types`)."""
  features = {}
  for column, kind in (types or COLUMN_TYPES).items():
    cell = row.get(column, '')
    if kind == 'FLOAT':
      features[column] = tf.train.Feature(float_list=tf.train.FloatList(
          value=[float(cell)] if cell else []))
    elif kind == 'INT':
      features[column] = tf.train.Feature(int64_list=tf.train.Int64List(
          value=[int(cell)] if cell else []))
    else:
      features[column] = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[cell.encode()] if cell else []))
  return tf.train.Example(features=tf.train.Features(feature=features))


def empty_row_example():
  """A penguin with nothing measured and no sex: every column an empty list but species."""
  return to_example({'species': 'Adelie', 'island': 'Dream', 'year': '2008'})


def write_examples(path, rows, types=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for row in rows:
      writer.write(to_example(row, types).SerializeToString())
  return path


def schema_proto(types=None):
  schema = schema_pb2.Schema()
  for name, kind in (types or COLUMN_TYPES).items():
    schema.feature.add(name=name, type=schema_pb2.FeatureType.Value(kind))
  return schema


def write_schema(directory, types=None):
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, 'schema.pbtxt')
  with open(path, 'w') as f:
    f.write(str(schema_proto(types)))
  return path


def data_accessor():
  """A DataAccessor like the Trainer's: TFXIO over gzipped tf.Example files."""
  from tfx.components.trainer import fn_args_utils  # pylint: disable=g-import-not-at-top

  def tf_dataset_factory(file_patterns, options, schema):
    return tf_example_record.TFExampleRecord(
        file_pattern=file_patterns, schema=schema).TensorFlowDataset(options)

  return fn_args_utils.DataAccessor(tf_dataset_factory=tf_dataset_factory,
                                    record_batch_factory=None, data_view_decode_fn=None)


def config_data(**overrides):
  """The shipped config's mapping, with top-level sections replaced by `overrides`."""
  loaded = config_lib.read_config_data(CONFIG_PATH)
  loaded.update(overrides)
  return loaded


def fn_args(workdir, config_mapping, train_steps=20, eval_steps=2, rows=120, schema_types=None,
            data=None, types=None, execution=1, write=True):
  """FnArgs as the GenericExecutor fills them, over `rows` penguins split 2:1.

  `data` (CSV rows as dicts) with their column `types` replaces the penguins.
  The output dirs are laid out as TFX lays out execution `execution` of a
  Trainer node. With write=False the data and schema files must already be
  in `workdir`.
  """
  from tfx.components.trainer import fn_args_utils  # pylint: disable=g-import-not-at-top
  train = os.path.join(workdir, 'examples', 'train', 'data.gz')
  evaluation = os.path.join(workdir, 'examples', 'eval', 'data.gz')
  schema_path = os.path.join(workdir, 'schema', 'schema.pbtxt')
  if write:
    examples = data if data is not None else csv_rows(rows)
    cut = len(examples) * 2 // 3
    write_examples(train, examples[:cut], types)
    write_examples(evaluation, examples[cut:], types)
    write_schema(os.path.dirname(schema_path), schema_types or types)
  return fn_args_utils.FnArgs(
      train_files=[train], eval_files=[evaluation], train_steps=train_steps,
      eval_steps=eval_steps,
      schema_path=schema_path,
      serving_model_dir=os.path.join(workdir, 'Trainer', 'model', str(execution),
                                     'Format-Serving'),
      model_run_dir=os.path.join(workdir, 'Trainer', 'model_run', str(execution)),
      data_accessor=data_accessor(),
      custom_config=trainer.custom_config(config_mapping))


def parse_for_serving(config, serialized, column_types=None):
  """The model's columns of serialized tf.Examples, parsed as the exported signatures parse them.

  Columns are parsed as stored in the penguin data (`COLUMN_TYPES`) unless
  `column_types` says otherwise.
  """
  from components import schema  # pylint: disable=g-import-not-at-top
  parse = schema.example_parser(config, column_types or COLUMN_TYPES)
  return parse(tf.constant(serialized))


def expected_signature_outputs(model, config, serialized, column_types=None):
  """{signature key: outputs} that an export of `model` must return, computed in process."""
  from components import signatures  # pylint: disable=g-import-not-at-top
  from heads import export as export_lib  # pylint: disable=g-import-not-at-top
  features = parse_for_serving(config, serialized, column_types)
  expected = {key: output.signature_outputs for key, output in export_lib.export_outputs_for(
      model, features, config.serving_default_head).items()}
  for key, build in signatures.extra_signatures(config).items():
    expected[key] = build(model, features)
  return expected


def assert_signatures_match(loaded, expected, serialized):
  """Every signature of `loaded` answers `serialized` with the `expected` outputs.

  Up to float32 rounding: graph and eager differ in the last bits, and a squared
  error in grams reaches 1e5.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  assert sorted(loaded.signatures) == sorted(expected)
  for key, function in loaded.signatures.items():
    got = function(examples=tf.constant(serialized))
    assert sorted(got) == sorted(expected[key]), key
    for name, value in got.items():
      want = np.asarray(expected[key][name])
      if want.dtype == object:
        np.testing.assert_array_equal(value.numpy(), want, err_msg='{} {}'.format(key, name))
      else:
        np.testing.assert_allclose(value.numpy(), want, rtol=1e-4, atol=1e-5,
                                   err_msg='{} {}'.format(key, name))


def model_with_weights(config, loaded):
  """The configured HeadModel, built in process, holding a loaded export's variables."""
  from components import body  # pylint: disable=g-import-not-at-top
  stats = {f.name: (0.0, 1.0) for f in config.model.features if f.kind == body.NUMERIC}
  stats.update({h.label: (0.0, 1.0) for h in config.heads if h.type == body.REGRESSION})
  model = body.build_model(config, stats)
  saved = list(loaded.model_variables)
  assert len(model.variables) == len(saved)
  for variable, value in zip(model.variables, saved):
    assert tuple(variable.shape) == tuple(value.shape), (variable.path, value.name)
    variable.assign(value)
  return model


def read_examples(split_dir, limit=None):
  """Serialized tf.Examples of an ExampleGen split directory (gzipped TFRecords)."""
  files = sorted(tf.io.gfile.glob(os.path.join(split_dir, '*')))
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  if limit:
    dataset = dataset.take(limit)
  return [record.numpy() for record in dataset]
