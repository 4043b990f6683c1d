"""Your own CSV in three commands: `init`, `check`, `run`, with no hand edits.

The data is written as R's write.csv writes it (quoted header and cells, a
row-number column with an empty name, CRLF) next to a stray NOTES.txt. It
mixes FLOAT, INT and text columns with missing values, and has four labels:
a binary one with gaps, a multi-class one, a regression one on a large
scale and a count. The config `init` writes runs as it is: the pipeline
trains, evaluates and blesses (Beam in_memory, the config's own steps).
"""
import csv
import io
import json
import math
import os
import random
import types

import jsonschema
import pytest
import tensorflow as tf
import yaml

from components import config as config_lib
from components import schema
from pipelines import cli

IN_MEMORY = ['--', '--runner=DirectRunner', '--direct_running_mode=in_memory',
             '--direct_num_workers=1']
ROWS = 300
LABELS = ['sold', 'kind', 'price', 'visits:poisson_regression']


def _poisson(rng, rate):
  limit, k, p = math.exp(-rate), 0, rng.random()
  while p > limit:
    k, p = k + 1, p * rng.random()
  return k


def write_data(directory, rows=ROWS, seed=0):
  """The CSV as R writes it, and a stray file."""
  rng = random.Random(seed)
  out = io.StringIO()
  writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator='\r\n')
  writer.writerow(['', 'area', 'rooms', 'colour', 'sold', 'kind', 'price', 'visits'])
  for i in range(rows):
    area, rooms = rng.random(), rng.randint(0, 9)
    colour = rng.choice(['red', 'green', 'blue'])
    sold = 'yes' if rooms + 3 * (colour == 'red') + rng.gauss(0, 1) > 5 else 'no'
    writer.writerow([
        i + 1, '{:.3f}'.format(area) if i % 20 else '', rooms, colour,
        sold if i % 10 else '', ['small', 'medium', 'large'][min(2, int(area * 3))],
        '{:.0f}'.format(10000 * area + 500 * rooms + rng.gauss(0, 300)),
        _poisson(rng, math.exp(0.2 + 0.15 * rooms))])
  os.makedirs(directory)
  with open(os.path.join(directory, 'houses.csv'), 'w', newline='') as f:
    f.write(out.getvalue())
  with open(os.path.join(directory, 'NOTES.txt'), 'w') as f:
    f.write('Exported from R with write.csv(houses, "houses.csv").\n')


def main(argv):
  out, err = io.StringIO(), io.StringIO()
  code = cli.main(argv, out, err)
  return types.SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


@pytest.fixture(scope='module')
def own_data(tmp_path_factory):
  root = tmp_path_factory.mktemp('own')
  data = str(root / 'houses')
  write_data(data)
  config = str(root / 'config.yaml')
  init = main(['init', '--data-dir', data, '--output', config] +
              [a for label in LABELS for a in ('--label', label)])
  checked = main(['check', '--config', config, '--data-dir', data])
  output = str(root / 'run')
  run = main(['run', '--config', config, '--data-dir', data, '--output-dir', output] +
             IN_MEMORY)
  return types.SimpleNamespace(data=data, config=config, init=init, check=checked, run=run,
                               output=output)


def test_init_writes_a_config_that_check_passes(own_data):
  assert own_data.init.code == 0, own_data.init.err
  assert 'Wrote {} (4 heads, 3 features)'.format(own_data.config) in own_data.init.out
  config = config_lib.load_config(own_data.config)
  heads = {h.name: h for h in config.heads}
  assert {n: h.type for n, h in heads.items()} == {
      'sold': 'binary', 'kind': 'multi_class', 'price': 'regression',
      'visits': 'poisson_regression'}
  assert heads['sold'].label_vocabulary == ['no', 'yes'] and heads['sold'].missing_label == 'mask'
  assert heads['kind'].label_vocabulary == ['large', 'medium', 'small']
  assert heads['kind'].missing_label == 'error'
  assert 1e-8 < heads['price'].weight < 1e-6  # ~1 / variance of a price in the thousands
  assert [f.name for f in config.model.features] == ['area', 'rooms', 'colour']
  assert config.model.features[2].vocabulary == ['blue', 'green', 'red']
  assert own_data.check.code == 0, own_data.check.err
  assert own_data.check.out.startswith('checked 300 rows of 1 file')


def test_the_written_config_is_commented_and_validates_against_the_schema(own_data):
  with open(own_data.config) as f:
    text = f.read()
  assert text.startswith('# yaml-language-server: $schema={}\n'.format(
      config_lib.schema_path()))
  assert '# not used: an unnamed column (row numbers?)' in text
  assert '# metrics: average_loss, prediction/mean, label/mean, accuracy, precision' in text
  with open(config_lib.schema_path()) as f:
    jsonschema.validate(yaml.safe_load(text), json.load(f))


def test_run_trains_evaluates_and_blesses_without_edits(own_data):
  run = own_data.run
  assert run.code == 0, 'stdout:\n{}\nstderr:\n{}'.format(run.out[-3000:], run.err[-3000:])
  assert 'warning: {}: not a .csv file; ignored'.format(
      os.path.join(own_data.data, 'NOTES.txt')) in run.err
  summary = run.out[run.out.index('Per-head metrics'):]
  for head in ('sold', 'kind', 'price', 'visits'):
    assert any(line.split()[:1] == [head] for line in summary.splitlines()), head
  assert 'Blessing:      BLESSED' in summary, summary
  pushed = summary.split('Pushed model:')[1].split()[0]
  assert tf.saved_model.contains_saved_model(pushed)
  assert schema.read_column_types(pushed) == {
      'area': 'FLOAT', 'rooms': 'INT', 'colour': 'BYTES', 'sold': 'BYTES', 'kind': 'BYTES',
      'price': 'INT', 'visits': 'INT'}


def test_example_gen_read_a_plain_header_copy_of_the_quoted_csv(own_data):
  staged = os.path.join(own_data.output, 'data', 'houses.csv')
  with open(staged, newline='') as f:
    assert f.readline() == ',area,rooms,colour,sold,kind,price,visits\r\n'
  with open(os.path.join(own_data.data, 'houses.csv'), newline='') as f:
    original = f.read()
  with open(staged, newline='') as f:
    assert f.read().split('\r\n', 1)[1] == original.split('\r\n', 1)[1]
  logs = os.listdir(os.path.join(own_data.output, 'logs'))
  assert len(logs) == 1 and logs[0].startswith('run-')
