"""`heads-pipeline check`, and `run` before any component, on CSVs as people write them.

Each case writes a small data directory with one problem (as R, pandas or a
spreadsheet would write it), and expects one line `error: <where>: <message>`
naming the file:line or field path, the column and the value; from `check`
and from `run`, which must stop before the pipeline is built.
"""
import csv
import io
import os

import pytest
import yaml

from pipelines import check
from pipelines import cli
from pipelines import csv_data
from components import config as config_lib

HEADER = ['size', 'colour', 'visits', 'kind', 'sold']
CONFIG = {
    'heads': [
        {'name': 'visits', 'type': 'poisson_regression'},
        {'name': 'kind', 'type': 'multi_class', 'label_vocabulary': ['a', 'b', 'c']},
        {'name': 'sold', 'type': 'binary', 'label_vocabulary': ['no', 'yes']},
    ],
    'model': {'features': ['size', {'name': 'colour', 'kind': 'categorical_vocabulary',
                                    'vocabulary': ['red', 'blue']}]},
}


def good_rows(count=12):
  """Rows with an INT feature and an INT count label: these must pass."""
  return [[str(i % 5), ['red', 'blue'][i % 2], str(i % 4), 'abc'[i % 3], ['no', 'yes'][i % 2]]
          for i in range(count)]


def csv_text(rows, header=HEADER, quoting=csv.QUOTE_MINIMAL, newline='\n'):
  out = io.StringIO()
  writer = csv.writer(out, quoting=quoting, lineterminator=newline)
  writer.writerow(header)
  writer.writerows(rows)
  return out.getvalue()


def with_cell(row_index, column, value, rows=None):
  rows = rows or good_rows()
  rows[row_index][HEADER.index(column)] = value
  return rows


def write(directory, files, config=None):
  data = directory / 'data'
  data.mkdir()
  for name, content in files.items():
    (data / name).write_bytes(content if isinstance(content, bytes) else content.encode())
  config_path = directory / 'config.yaml'
  config_path.write_text(yaml.safe_dump(config or CONFIG))
  return str(config_path), str(data)


def run_cli(argv, capsys):
  code = cli.main(argv)
  captured = capsys.readouterr()
  return code, captured.out, captured.err


# (case, files, config change, expected line: where, message fragment)
CASES = [
    ('n/a in a numeric column', {'d.csv': csv_text(with_cell(3, 'size', 'n/a'))}, None,
     'd.csv:5', "model.features[0]: column 'size' holds text where numbers are read: "
                "'n/a' (1 row) (11 rows read as numbers)"),
    ('an unseen label value', {'d.csv': csv_text(with_cell(6, 'kind', 'd'))}, None,
     'd.csv:8', "heads[1].label: column 'kind' holds 'd' (1 row), not in label_vocabulary "
                "['a', 'b', 'c']"),
    ('a three-valued binary column', {'d.csv': csv_text(with_cell(2, 'sold', 'maybe'))}, None,
     'd.csv:4', "heads[2].label: a binary head reads two values, but column 'sold' holds 3: "),
    ('an empty label column', {'d.csv': csv_text([r[:4] + [''] for r in good_rows()])}, None,
     'heads[2].label', "column 'sold' has no values in the 12 rows read"),
    ('missing labels without mask', {'d.csv': csv_text(with_cell(9, 'kind', ''))}, None,
     'd.csv:11', "heads[1].label: column 'kind' is empty in 1 of 12 rows; set "
                 'heads[1].missing_label: mask'),
    ('a header-only file', {'d.csv': csv_text([])}, None,
     'd.csv:1', 'no data rows: the file holds only a header'),
    ('non-UTF-8 bytes', {'d.csv': csv_text(with_cell(4, 'colour', 'XX')).encode().replace(
        b'XX', b'caf\xe9')}, None,
     'd.csv:6', 'byte 0xe9 at column 6 is not UTF-8; save the file as UTF-8'),
    ('a column that is not there', {'d.csv': csv_text(good_rows())},
     lambda c: c['model']['features'].__setitem__(0, 'sizes'),
     'model.features[0].name', "column 'sizes' is not in the data (did you mean 'size'?)"),
    ('an infinite number', {'d.csv': csv_text(with_cell(1, 'size', 'inf'))}, None,
     'd.csv:3', "model.features[0]: column 'size' holds non-finite numbers: 'inf' (1 row); "
                'set non_finite: impute on the feature'),
    ('inf and NaN as R writes them',
     {'d.csv': csv_text(with_cell(4, 'size', 'NaN', with_cell(2, 'size', 'Inf', with_cell(
         7, 'size', 'Inf'))))}, None,
     'd.csv:4', "model.features[0]: column 'size' holds non-finite numbers: 'Inf' (2 rows), "
                "'NaN' (1 row) (3 rows in all); set non_finite: impute"),
    ('a NaN label without mask', {'d.csv': csv_text(with_cell(5, 'visits', 'nan'))}, None,
     'd.csv:7', "heads[0].label: column 'visits' holds non-finite numbers: 'nan' (1 row); set "
                'heads[0].missing_label: mask to leave these rows out of that head'),
    ('an infinite weight', {'d.csv': csv_text(with_cell(8, 'size', '-inf'))},
     lambda c: (c['heads'][2].update(weight_column='size'),
                c['model']['features'].__setitem__(0, {'name': 'size', 'non_finite': 'impute'})),
     'd.csv:10', "heads[2].weight_column: column 'size' holds non-finite numbers: '-inf' "
                 "(1 row); weights must be finite numbers >= 0"),
    ('a negative count', {'d.csv': csv_text(with_cell(7, 'visits', '-2'))}, None,
     'd.csv:9', "heads[0].label: column 'visits' holds '-2' (1 row); a poisson_regression "
                'head reads counts >= 0'),
    ('files whose headers differ', {'a.csv': csv_text(good_rows()),
                                    'b.csv': csv_text(good_rows(), HEADER[:4] + ['Sold'])},
     None, 'b.csv:1', "header differs from {data}/a.csv (missing ['sold']; extra ['Sold'])"),
    ('semicolons', {'d.csv': csv_text(good_rows()).replace(',', ';')}, None,
     'd.csv:1', 'the columns are separated by semicolons'),
    ('an empty file', {'a.csv': csv_text(good_rows()), 'b.csv': ''}, None,
     'b.csv:1', 'empty file: a CSV file needs a header line'),
    ('a row with too many fields', {'d.csv': csv_text(good_rows()) + '1,red,2,a,no,extra\n'},
     None, 'd.csv:14', '6 fields where the header has 5 (1 row)'),
    ('a numeric label holding text', {'d.csv': csv_text(with_cell(0, 'visits', 'many'))}, None,
     'd.csv:2', "heads[0].label: column 'visits' holds text where numbers are read: 'many'"),
    ('a class head without vocabulary over text',
     {'d.csv': csv_text(good_rows())},
     lambda c: c['heads'][1].update(label_vocabulary=None, n_classes=3),
     'd.csv:2', "heads[1].label: column 'kind' holds text (BYTES); without label_vocabulary a "
                "multi_class head reads integer class ids: list the values in label_vocabulary "
                "['a', 'b', 'c']"),
]


def _case(case):
  name, files, change, where, message = case
  config = yaml.safe_load(yaml.safe_dump(CONFIG))
  if change:
    change(config)
  return name, files, config, where, message


@pytest.mark.parametrize('name, files, config, where, message', [_case(c) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_check_reports_the_problem_in_one_line(tmp_path, capsys, name, files, config, where,
                                               message):
  del name
  config_path, data = write(tmp_path, files, config)
  code, out, err = run_cli(['check', '--config', config_path, '--data-dir', data], capsys)
  assert code == 2, err
  where = where if where.startswith(('heads', 'model')) else os.path.join(data, where)
  expected = 'error: {}: {}'.format(where, message.format(data=data))
  lines = err.splitlines()
  assert any(line.startswith(expected) for line in lines), '\n'.join(lines)
  assert all(line.startswith(('error: ', 'warning: ')) for line in lines), err
  assert 'Traceback' not in err
  assert out.startswith('checked ')


@pytest.mark.parametrize('name, files, config, where, message',
                         [_case(c) for c in CASES if c[0] in (
                             'n/a in a numeric column', 'an unseen label value',
                             'a three-valued binary column', 'an empty label column',
                             'a header-only file', 'non-UTF-8 bytes',
                             'inf and NaN as R writes them', 'a NaN label without mask')],
                         ids=lambda value: value if isinstance(value, str) else None)
def test_run_stops_on_the_same_problem_before_the_pipeline(tmp_path, capsys, name, files,
                                                          config, where, message):
  del name
  config_path, data = write(tmp_path, files, config)
  output = tmp_path / 'run'
  code, out, err = run_cli(['run', '--config', config_path, '--data-dir', data,
                            '--output-dir', str(output)], capsys)
  assert code == 2
  where = where if where.startswith(('heads', 'model')) else os.path.join(data, where)
  assert 'error: {}: {}'.format(where, message) in err
  assert not output.exists()  # nothing ran, nothing was written
  assert 'CsvExampleGen' not in out


def test_all_problems_are_reported_at_once(tmp_path, capsys):
  rows = with_cell(3, 'size', 'n/a', with_cell(6, 'kind', 'd', with_cell(2, 'sold', 'maybe')))
  config = yaml.safe_load(yaml.safe_dump(CONFIG))
  config['model']['features'].append('weight')
  config_path, data = write(tmp_path, {'d.csv': csv_text(rows), 'NOTES.txt': 'notes'}, config)
  code, out, err = run_cli(['check', '--config', config_path, '--data-dir', data], capsys)
  assert code == 2
  fields = [line.split(': ')[2] for line in err.splitlines() if line.startswith('error: ')
            and '.csv:' in line] + [line.split(': ')[1] for line in err.splitlines()
                                    if line.startswith('error: model')]
  assert sorted(fields) == ['heads[1].label', 'heads[2].label', 'model.features[0]',
                            'model.features[2].name']
  assert 'warning: {}: not a .csv file; ignored'.format(os.path.join(data, 'NOTES.txt')) in err
  assert 'checked 12 rows of 1 file' in out and '4 errors, 1 warning' in out


def test_non_finite_cells_pass_where_the_policy_allows_them(tmp_path, capsys):
  """non_finite: impute on the feature, missing_label: mask on the (float) label."""
  rows = with_cell(1, 'size', 'inf', with_cell(3, 'size', 'NaN', with_cell(5, 'visits', '-Inf')))
  config = yaml.safe_load(yaml.safe_dump(CONFIG))
  config['model']['features'][0] = {'name': 'size', 'non_finite': 'impute'}
  config['heads'][0]['missing_label'] = 'mask'
  config_path, data = write(tmp_path, {'d.csv': csv_text(rows)}, config)
  code, out, err = run_cli(['check', '--config', config_path, '--data-dir', data], capsys)
  assert code == 0 and err == '', err
  assert '0 errors, 0 warnings' in out


def test_csvs_as_r_and_pandas_write_them_pass(tmp_path, capsys):
  # Quoted header and cells (R write.csv, pandas QUOTE_ALL), CRLF, a BOM, a stray file.
  quoted = csv_text(good_rows(), quoting=csv.QUOTE_ALL, newline='\r\n')
  files = {'a.csv': quoted, 'b.csv': b'\xef\xbb\xbf' + csv_text(good_rows()).encode(),
           'README.md': '# data'}
  config_path, data = write(tmp_path, files)
  code, out, err = run_cli(['check', '--config', config_path, '--data-dir', data], capsys)
  assert code == 0, err
  assert 'checked 24 rows of 2 files' in out and '0 errors, 1 warning' in out
  assert err == 'warning: {}: not a .csv file; ignored\n'.format(
      os.path.join(data, 'README.md'))


@pytest.mark.needs_tfx
def test_quoted_headers_and_a_bom_are_staged_plain_for_example_gen(tmp_path):
  quoted = csv_text(good_rows(3), quoting=csv.QUOTE_ALL, newline='\r\n')
  _, data = write(tmp_path, {'a.csv': quoted, 'b.csv': '\ufeff' + csv_text(good_rows(2)),
                             'NOTES.txt': 'x'})
  scan = csv_data.scan(data)
  assert scan.columns == HEADER and scan.needs_staging
  staged = csv_data.stage(scan, str(tmp_path / 'staged'))
  assert sorted(os.listdir(staged)) == ['.staged.json', 'a.csv', 'b.csv']
  with open(os.path.join(staged, 'a.csv'), 'rb') as f:
    text = f.read()
  assert text == (','.join(HEADER) + '\r\n').encode() + quoted.encode().split(b'\r\n', 1)[1]
  with open(os.path.join(staged, 'b.csv'), 'rb') as f:
    assert f.readline() == (','.join(HEADER) + '\n').encode()
  # What CsvExampleGen reads as the header: the line split at commas.
  from tfx.utils import io_utils  # pylint: disable=g-import-not-at-top
  assert io_utils.load_csv_column_names(os.path.join(staged, 'a.csv')) == HEADER
  mtime = os.stat(os.path.join(staged, 'a.csv')).st_mtime_ns
  csv_data.stage(csv_data.scan(data), staged)  # unchanged sources: the copies stay
  assert os.stat(os.path.join(staged, 'a.csv')).st_mtime_ns == mtime


def test_a_plain_directory_is_read_where_it_is(tmp_path):
  _, data = write(tmp_path, {'a.csv': csv_text(good_rows())})
  scan = csv_data.scan(data)
  assert not scan.needs_staging and csv_data.stage(scan, str(tmp_path / 's')) == data
  assert not (tmp_path / 's').exists()


def test_column_types_are_inferred_as_csv_example_gen_does():
  from tfx_bsl.coders import csv_decoder  # pylint: disable=g-import-not-at-top
  cells = ['', '1', '-3', ' 7 ', '1.5', '1e3', 'nan', 'inf', '2' * 30, 'x', '1,5', 'True',
           '0x10', '١']
  for cell in cells:
    ours = csv_data.cell_type(cell)
    theirs = csv_decoder._InferValueType(cell.encode())  # pylint: disable=protected-access
    assert csv_data.TYPE_NAMES[ours] == {'UNKNOWN': None, 'INT': 'INT', 'FLOAT': 'FLOAT',
                                         'STRING': 'BYTES'}[theirs.name], cell


def test_a_sample_reads_the_first_rows_of_each_file(tmp_path):
  config_path, data = write(tmp_path, {'a.csv': csv_text(good_rows(30)),
                                       'b.csv': csv_text(with_cell(25, 'kind', 'z',
                                                                   good_rows(30)))})
  config = config_lib.load_config(config_path)
  sample = check.check_data(config, data, limit=20)
  assert sample.scan.rows == 20 and sample.scan.truncated and not sample.errors
  assert 'a sample' in sample.summary()
  everything = check.check_data(config, data, limit=None)
  assert everything.scan.rows == 60 and not everything.scan.truncated
  assert [p.where for p in everything.errors] == [os.path.join(data, 'b.csv') + ':27']


def test_thresholds_on_metrics_a_head_lacks_are_one_line_errors(tmp_path, capsys):
  config = yaml.safe_load(yaml.safe_dump(CONFIG))
  config['evaluation'] = {'thresholds': {'visits': [{'metric': 'auc', 'lower_bound': 0.5}]}}
  config_path, data = write(tmp_path, {'d.csv': csv_text(with_cell(3, 'size', 'n/a'))}, config)
  expected = ("error: evaluation.thresholds.visits[0].metric: 'auc' is not a metric of "
              "poisson_regression head 'visits'")
  code, _, err = run_cli(['check', '--config', config_path, '--data-dir', data], capsys)
  assert code == 2 and err.startswith(expected)
  assert "model.features[0]: column 'size' holds text" in err  # and the data problem too
  for argv in (['run', '--data-dir', data, '--output-dir', str(tmp_path / 'run')],
               ['compile', '--output', str(tmp_path / 'p.yaml')]):
    code, _, err = run_cli(argv + ['--config', config_path], capsys)
    assert code == 2 and err.startswith(expected) and len(err.splitlines()) == 1, err
