"""The batched Evaluator end to end on a synthetic 3-head set (Beam DirectRunner).

A candidate and a weaker baseline model of three heads (multi-class; binary
and regression with a weight column and masked labels), evaluated on four
files with two slice columns that are not model inputs. The batched engine
runs in_memory with 1 worker and multi_processing with 2 workers, the TFMA
path once, and the batched engine once more without the baseline. The tests
check every metric against the heads' own update_metrics on the same rows
and against the TFMA path, 2 workers against 1, the blessing decisions, and
the errors on bad input.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
import tf_keras
from apache_beam.options.pipeline_options import PipelineOptions

import batched_evaluator_support as support
import evaluator_support
from components import eval_config as eval_config_lib
from components import evaluate
from components import report
from components import schema
from components import signatures
from components.evaluation import pipeline
from components.evaluation import reading
from components.evaluation import statistics
from heads import export as export_lib

pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')  # numpy, inside TFMA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CANDIDATE, BASELINE = 'candidate', 'baseline'
TOLERANCE = dict(rtol=1e-6, atol=1e-12)
# TFMA runs the model on batches of other sizes (Beam sizes them by timing), so its float32
# predictions differ in the last bit; a mean near 0 of unit-scale values then differs by up to
# float32's epsilon (1.2e-7) absolute.
TFMA_TOLERANCE = dict(rtol=1e-6, atol=1e-7)
TFMA_AUC_TOLERANCE = dict(rtol=0, atol=5e-3)  # TFMA bins a 10000-bucket histogram


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp('batched')
  config = support.load_config()
  records = support.make_examples()
  data = support.write_shards(records, str(root / 'data'))
  candidate = str(root / 'candidate')
  baseline = str(root / 'baseline')
  support.train_and_export(config, records, candidate, steps=150)
  support.train_and_export(config, records, baseline, steps=3)
  return dict(root=root, config=config, records=records, data=data, candidate=candidate,
              baseline=baseline)


def _fast(setup, name, workers, with_baseline=True):
  output = str(setup['root'] / name)
  count = pipeline.run_evaluation(
      setup['candidate'], setup['data'], output, setup['config'],
      baseline_dir=setup['baseline'] if with_baseline else None,
      pipeline_options=evaluate.direct_runner_options(workers), batch_size=support.BATCH_SIZE)
  assert count.examples == support.N_EXAMPLES
  return output


@pytest.fixture(scope='module')
def fast_1(setup):
  return _fast(setup, 'fast_in_memory_1', workers=1)


@pytest.fixture(scope='module')
def fast_2(setup):
  return _fast(setup, 'fast_multi_processing_2', workers=2)


@pytest.fixture(scope='module')
def fast_no_baseline(setup):
  return _fast(setup, 'fast_no_baseline', workers=1, with_baseline=False)


@pytest.fixture(scope='module')
def tfma_path(setup):
  output = str(setup['root'] / 'tfma')
  evaluate.run_evaluation(setup['candidate'], setup['data'], output, setup['config'],
                          baseline_dir=setup['baseline'])
  return output


def _by_slice_and_head(values, model):
  grouped = {}
  for (slice_, model_name, head, name, is_diff), value in values.items():
    if model_name == model and not is_diff:
      grouped.setdefault((slice_, head), {})[name] = value
  return grouped


def _one_slice_per_spec(slices):
  """Overall and the first slice of each slicing spec (by the columns it names)."""
  chosen = {}
  for slice_ in slices:
    columns = () if slice_ == report.OVERALL else tuple(
        part.split('=')[0] for part in slice_.split(', '))
    chosen.setdefault(columns, slice_)
  return sorted(chosen.values())


def _expected_additions(logits, records, rows):
  """The Evaluator's additions to the heads' own metrics, computed here with numpy and Keras."""
  examples = [tf.train.Example.FromString(records[i]).features.feature for i in rows]
  logits = {head: np.stack([logits[records[i]][head] for i in range(len(records))])
            for head in ('kind', 'click', 'spend')}
  expected = {}
  for head, label in (('kind', 'kind'), ('click', 'click'), ('spend', 'spend')):
    labelled = sum(label in f for f in examples)
    expected[head] = {'example_count': labelled, 'missing_label_count': len(rows) - labelled}
  spend = [(i, f) for i, f in zip(rows, examples) if 'spend' in f]
  if spend:
    error = np.array([np.float64(logits['spend'][i, 0]) - f['spend'].float_list.value[0]
                      for i, f in spend])
    weight = np.array([f['w'].float_list.value[0] for _, f in spend], np.float64)
    expected['spend']['mean_squared_error'] = np.average(error ** 2, weights=weight)
    expected['spend']['mean_absolute_error'] = np.average(np.abs(error), weights=weight)
  probabilities = tf.nn.softmax(logits['kind'][rows]).numpy()
  labels = np.array([support.KINDS.index(f['kind'].bytes_list.value[0].decode())
                     for f in examples])
  predicted = probabilities.argmax(axis=1)
  for class_id, name in enumerate(support.KINDS):
    hits = np.sum((labels == class_id) & (predicted == class_id))
    expected['kind']['precision/' + name] = hits / max(np.sum(predicted == class_id), 1)
    expected['kind']['recall/' + name] = hits / max(np.sum(labels == class_id), 1)
    auc = tf_keras.metrics.AUC(dtype=tf.float64)
    auc.update_state(labels == class_id, probabilities[:, class_id])
    expected['kind']['auc/' + name] = float(auc.result())
  return expected


@pytest.mark.parametrize('model', [CANDIDATE, BASELINE])
def test_every_metric_equals_the_heads_own_on_the_same_rows(setup, fast_1, model):
  """Per slice: the heads' own update_metrics (float64 state, as the Evaluator keeps it) on
  the same rows and logits, and the additions computed independently.
  One slice per slicing spec: which rows each slice holds is checked for
  every slice against TFMA's slicer (test_every_metric_equals_the_tfma_paths).

  Within 1e-6 relative: the graph the Evaluator runs may round float32 losses
  differently from eager code in the last bit.
  """
  records, config = setup['records'], setup['config']
  logits = support.logits_by_record(setup[model], setup['data'])
  grouped = _by_slice_and_head(support.load_metrics(fast_1), model)
  slices = sorted({slice_ for slice_, _ in grouped})
  assert len(slices) == 1 + 3 + 3 + 9, slices
  for slice_ in _one_slice_per_spec(slices):
    rows = support.slice_rows(records, slice_)
    own = support.heads_own_metrics(logits, config, [records[i] for i in rows])
    additions = _expected_additions(logits, records, rows)
    for head in config.heads:
      written = grouped[(slice_, head.name)]
      expected = dict(own[head.name], **additions[head.name])
      assert sorted(written) == sorted(expected), (slice_, head.name)
      for name, value in expected.items():
        np.testing.assert_allclose(written[name], value, err_msg='{} {} {}'.format(
            slice_, head.name, name), **TOLERANCE)
      assert written['example_count'] == additions[head.name]['example_count']


def test_every_metric_equals_the_tfma_paths(fast_1, tfma_path):
  """1e-6 relative (see TFMA_TOLERANCE); a diff relative to the two values it subtracts."""
  fast, tfma_values = support.load_metrics(fast_1), support.load_metrics(tfma_path)
  sample_keys = {k for k in tfma_values if k[3] == eval_config_lib.SAMPLE}
  assert set(fast) == set(tfma_values) - sample_keys
  for key, value in fast.items():
    if key[3].startswith('auc'):
      tolerance = TFMA_AUC_TOLERANCE
    elif key[4]:
      tolerance = support.diff_tolerance(fast, key)
    else:
      tolerance = TFMA_TOLERANCE
    np.testing.assert_allclose(value, tfma_values[key], err_msg=str(key), **tolerance)
    if key[3] in ('example_count', 'missing_label_count') and not key[4]:
      assert value == tfma_values[key] and value == int(value), key
  plot_keys = set(support.load_plots(tfma_path))
  assert set(support.load_plots(fast_1)) == plot_keys


def test_two_workers_equal_one(fast_1, fast_2):
  one, two = support.load_metrics(fast_1), support.load_metrics(fast_2)
  assert sorted(one) == sorted(two)
  for key, value in one.items():
    if key[3] in ('example_count', 'missing_label_count'):
      assert two[key] == value, key
    else:
      np.testing.assert_allclose(two[key], value, rtol=1e-9, atol=0, err_msg=str(key))
  plots_one, plots_two = support.load_plots(fast_1), support.load_plots(fast_2)
  assert sorted(plots_one) == sorted(plots_two)
  for key, plot in plots_one.items():
    matrices = [(m.true_positives, m.false_positives, m.true_negatives, m.false_negatives)
                for m in plot.confusion_matrix_at_thresholds.matrices]
    other = [(m.true_positives, m.false_positives, m.true_negatives, m.false_negatives)
             for m in plots_two[key].confusion_matrix_at_thresholds.matrices]
    np.testing.assert_allclose(np.array(other).reshape(-1), np.array(matrices).reshape(-1),
                               rtol=1e-9, atol=0, err_msg=str(key))
  assert support.failures(fast_1) == support.failures(fast_2)


def test_blessing_decisions_agree_with_the_tfma_path(fast_1, tfma_path, fast_no_baseline):
  for output in (fast_1, tfma_path):
    validation = tfma.load_validation_result(output)
    assert not validation.validation_ok and not validation.rubber_stamp
    assert support.failures(output) == support.FAILING, output
  diff = support.load_metrics(fast_1)[(report.OVERALL, CANDIDATE, 'spend', 'average_loss', True)]
  assert diff < 0  # the candidate's loss is lower: 'higher_is_better' fails
  without = tfma.load_validation_result(fast_no_baseline)
  assert without.rubber_stamp and not without.validation_ok
  assert support.failures(fast_no_baseline) == support.FAILING_WITHOUT_BASELINE
  assert not any(key[1] or key[4] for key in support.load_metrics(fast_no_baseline))


def test_plots_come_from_the_metric_states(setup, fast_1):
  plots = support.load_plots(fast_1)
  metrics = support.load_metrics(fast_1)
  click = plots[(report.OVERALL, CANDIDATE, 'click', '')]
  buckets = click.calibration_histogram_buckets.buckets
  examples = [tf.train.Example.FromString(r).features.feature for r in setup['records']]
  weight = sum(f['w'].float_list.value[0] for f in examples if 'click' in f)
  np.testing.assert_allclose(sum(b.num_weighted_examples.value for b in buckets), weight, 1e-9)
  first = click.confusion_matrix_at_thresholds.matrices[0]  # threshold below 0: all positive
  np.testing.assert_allclose(first.true_positives + first.false_positives, weight, 1e-9)
  matrix = plots[(report.OVERALL, CANDIDATE, 'kind', 'multi_class_confusion_matrix_plot')]
  entries = matrix.multi_class_confusion_matrix_at_thresholds.matrices[0].entries
  hits = sum(e.num_weighted_examples for e in entries if e.actual_class_id == e.predicted_class_id)
  np.testing.assert_allclose(hits / support.N_EXAMPLES,
                             metrics[(report.OVERALL, CANDIDATE, 'kind', 'accuracy', False)], 1e-9)
  for name in support.KINDS:
    assert (report.OVERALL, CANDIDATE, 'kind', 'confusion_matrix_plot/' + name) in plots


def test_the_report_draws_the_plots_and_names_what_is_absent(setup, fast_1, tmp_path):
  path = report.write_report(fast_1, setup['config'], str(tmp_path / 'report'))
  page = open(path).read()
  images = [part.split('"')[0] for part in page.split('<img src="')[1:]]
  for name in ('head_kind_roc_pr.png', 'head_kind_confusion_matrix.png', 'head_click_roc_pr.png',
               'head_click_calibration.png', 'head_spend_slices.png'):
    assert name in images, name
  assert 'calibration and residual plots: absent' in page
  assert 'NOT BLESSED' in page


# ----------------------------------------------------------------------------
# Bad input: errors name the file, head, value or model; no blessing.

def _one_file(records, path, gzip=True):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with tf.io.TFRecordWriter(path, options='GZIP' if gzip else None) as writer:
    for record in records:
      writer.write(record)
  return path


def test_a_label_outside_the_vocabulary_names_head_value_and_file(setup, tmp_path):
  records = list(setup['records'][:50])
  example = tf.train.Example.FromString(records[7])
  example.features.feature['kind'].bytes_list.value[:] = [b'purple']
  records[7] = example.SerializeToString()
  path = _one_file(records, str(tmp_path / 'eval' / 'bad.gz'))
  batch = next(reading.read_batches(path, batch_size=64))
  states = pipeline.BatchStates({CANDIDATE: setup['candidate']},
                                eval_config_lib.slicing_specs(setup['config']))
  states.setup()
  with pytest.raises(statistics.EvaluationInputError) as error:
    list(states.process(batch))
  message = str(error.value)
  for part in (path, 'records 0 to 49', "head 'kind'", 'purple', 'label_vocabulary'):
    assert part in message, (part, message)


def test_a_missing_required_label_names_the_head(setup, tmp_path):
  example = tf.train.Example.FromString(setup['records'][0])
  del example.features.feature['kind']
  statistics_ = statistics.BatchStatistics({CANDIDATE: setup['candidate']})
  with pytest.raises(statistics.EvaluationInputError,
                     match="head 'kind': label column 'kind' has no value in 1 example"):
    statistics_.batch_states(np.array([example.SerializeToString()], object), [np.arange(1)])


def _corrupt_split(setup, tmp_path):
  """<tmp>/examples/Split-eval with a good file and a truncated GZIP file; the latter's path."""
  data = tmp_path / 'examples' / 'Split-eval'
  good = _one_file(setup['records'][:100], str(data / 'good.gz'))
  corrupt = str(data / 'corrupt.gz')
  with open(good, 'rb') as f:
    payload = f.read()
  with open(corrupt, 'wb') as f:
    f.write(payload[:len(payload) // 2])
  return corrupt


def test_a_corrupt_file_names_the_file(setup, tmp_path):
  corrupt = _corrupt_split(setup, tmp_path)
  with pytest.raises(statistics.EvaluationInputError,
                     match=r'corrupt.gz: cannot read TFRecords after record \d+: '):
    list(reading.read_batches(corrupt))


@pytest.mark.needs_tfx
def test_a_failing_evaluation_writes_no_blessing(setup, tmp_path):
  from tfx.types import artifact_utils  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
  from components.evaluation import executor as executor_lib  # pylint: disable=g-import-not-at-top
  _corrupt_split(setup, tmp_path)
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / 'examples')
  examples.split_names = artifact_utils.encode_split_names(['eval'])
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  shutil.copytree(setup['candidate'], os.path.join(model.uri, 'Format-Serving'))
  evaluation = standard_artifacts.ModelEvaluation()
  evaluation.uri = str(tmp_path / 'evaluation')
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  os.makedirs(blessing.uri)
  eval_config = eval_config_lib.build_eval_config(setup['config'])
  with pytest.raises(Exception, match=r'corrupt.gz: cannot read TFRecords after record \d+: '):
    executor_lib.Executor().Do(
        {'examples': [examples], 'model': [model]},
        {'evaluation': [evaluation], 'blessing': [blessing]},
        {'eval_config': proto_utils.proto_to_json(eval_config)})
  assert not os.listdir(blessing.uri)
  assert 'blessed' not in blessing.mlmd_artifact.custom_properties


def test_a_model_without_the_signature_or_the_config_is_named(setup, tmp_path):
  config = setup['config']
  model = evaluator_support.build_model(config)
  features, _ = evaluator_support.parse(config, setup['records'][:4])
  model(features)
  bare = str(tmp_path / 'bare')
  export_lib.export_saved_model(model, bare, feature_spec=schema.full_spec(config))
  with pytest.raises(statistics.EvaluationInputError,
                     match="{}: the SavedModel has no 'eval_logits' signature".format(bare)):
    pipeline.run([setup['data']], bare, str(tmp_path / 'out'),
                 eval_config_lib.build_eval_config(config))
  no_config = str(tmp_path / 'no_config')
  shutil.copytree(setup['candidate'], no_config)
  os.remove(os.path.join(no_config, signatures.HEADS_CONFIG_ASSET))
  with pytest.raises(statistics.EvaluationInputError, match='no_config: the model carries no '
                                                            'heads config'):
    statistics.check_model(no_config)
  with pytest.raises(statistics.EvaluationInputError, match='no eval data: no file matches'):
    pipeline.run([str(tmp_path / 'nothing' / '*')], setup['candidate'], str(tmp_path / 'out'),
                 eval_config_lib.build_eval_config(config))


def test_local_worker_processes_share_out_the_cores():
  cores = len(os.sched_getaffinity(0))

  def threads(*args):
    return pipeline.threads_per_worker(PipelineOptions(list(args)))

  multi = ('--runner=DirectRunner', '--direct_running_mode=multi_processing')
  assert threads(*multi, '--direct_num_workers=2') == max(1, cores // 2)
  assert threads(*multi, '--direct_num_workers={}'.format(cores + 1)) == 1
  assert threads('--direct_running_mode=multi_processing', '--direct_num_workers=0') == (
      1 if cores > 1 else None)  # 0 workers: one per core; no runner named: DirectRunner
  assert threads(*multi, '--direct_num_workers=1') is None
  assert threads('--runner=DirectRunner', '--direct_running_mode=in_memory',
                 '--direct_num_workers=2') is None  # threads of this process
  assert threads('--runner=FlinkRunner', '--direct_running_mode=multi_processing',
                 '--direct_num_workers=2') is None


def test_a_process_sized_to_one_thread_computes_the_same_states(setup, tmp_path):
  records = np.array(setup['records'][:300], object)
  slices = [np.arange(300), np.arange(0, 300, 3)]
  expected = statistics.BatchStatistics({CANDIDATE: setup['candidate']}).batch_states(
      records, slices)[CANDIDATE]
  np.save(tmp_path / 'records.npy', records)
  code = '\n'.join([
      'import sys, numpy as np, tensorflow as tf',
      'from components.evaluation import statistics',
      "records = np.load(sys.argv[2], allow_pickle=True)",
      "stats = statistics.BatchStatistics({'m': sys.argv[1]}, threads=1)",
      "states = stats.batch_states(records, [np.arange(300), np.arange(0, 300, 3)])['m']",
      'np.save(sys.argv[3], states)',
      'session = stats.models["m"]._session._config',
      'print(tf.config.threading.get_intra_op_parallelism_threads(),',
      '      tf.config.threading.get_inter_op_parallelism_threads(),',
      '      session.intra_op_parallelism_threads, session.inter_op_parallelism_threads)'])
  done = subprocess.run(
      [sys.executable, '-c', code, setup['candidate'], str(tmp_path / 'records.npy'),
       str(tmp_path / 'states.npy')], capture_output=True, text=True, cwd=ROOT,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.split() == ['1', '1', '1', '1']
  np.testing.assert_allclose(np.load(tmp_path / 'states.npy'), expected, rtol=1e-9, atol=0)


@pytest.mark.needs_tfx
def test_small_splits_run_in_process_on_direct_runner_only():
  from components.evaluation import executor as executor_lib  # pylint: disable=g-import-not-at-top
  multi = ['--runner=DirectRunner', '--direct_running_mode=multi_processing',
           '--direct_num_workers=2']
  assert executor_lib.runner_args(multi, 1 << 20)[-2:] == [
      '--direct_running_mode=in_memory', '--direct_num_workers=1']
  assert executor_lib.runner_args(multi, 1 << 30) == multi
  flink = ['--runner=FlinkRunner', '--flink_master=h:8081']
  assert executor_lib.runner_args(flink, 1 << 20) == flink
  assert executor_lib.runner_args([], 1 << 30) == ['--runner=DirectRunner']


@pytest.mark.needs_tfx
def test_slice_column_types_come_from_the_schema_input_when_wired(tmp_path):
  import penguin_support  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from components.evaluation import executor as executor_lib  # pylint: disable=g-import-not-at-top
  schema_artifact = standard_artifacts.Schema()
  schema_artifact.uri = os.path.dirname(penguin_support.write_schema(str(tmp_path / 'schema')))
  types = executor_lib._column_types({'schema': [schema_artifact]})  # pylint: disable=protected-access
  assert types == penguin_support.COLUMN_TYPES
  assert executor_lib._column_types({}) is None  # pylint: disable=protected-access
