"""Evaluator throughput: the batched engine against the TFMA path and raw inference.

On the same serialized tf.Examples (default 200k, in 4 shards as ExampleGen
writes them) and the same SavedModel (three heads: multi-class, masked binary
with a weight column, masked regression; overall + one slice), it measures
in one run:

  raw inference   the `eval_logits` signature alone (what the batched engine
                  calls), and `head_outputs` + `transform_features` (what TFMA
                  calls), on batches of 4096
  batched         components.evaluation on DirectRunner in_memory with 1
                  worker, then multi_processing with 1 and with 2 workers
  TFMA            components.evaluate.run_evaluation (TFMA), in_memory, 1
                  worker, on the first --tfma-rows rows (TFMA runs near 1k
                  examples/s here, so 200k rows would take minutes)
  memory          peak RSS of a process running the batched engine (in_memory)
                  on --rows rows and on --memory-rows rows (the rows repeated)
  scaling         multi_processing with 1 worker and with 2 on the --memory-rows
                  rows, --scaling-pairs times, alternating

and prints examples/s, the ratios and the peak memories. examples/s are
rows / wall time of the whole Beam pipeline, start-up included; for the
batched engine it also prints the scoring throughput (first batch started to
last batch done, on any worker), which leaves out the fixed start-up
(loading and tracing the model, 20-40 s to start DirectRunner workers). Run:

  .venv/bin/python -m benchmarks.evaluator_throughput [--rows 200000] [--tfma-rows 40000]
      [--memory-rows 1000000] [--scaling-pairs 2] [--shards 4] [--workdir DIR]
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components import body  # noqa: E402
from components import config as config_lib  # noqa: E402
from components import evaluate  # noqa: E402
from components import schema  # noqa: E402
from components import signatures  # noqa: E402
from components.evaluation import pipeline  # noqa: E402

CONFIG = """
heads:
  - {name: species, type: multi_class, label: species, label_vocabulary: [a, b, c]}
  - {name: heavy, type: binary, label: heavy, weight_column: w, missing_label: mask}
  - {name: mass, type: regression, label: mass, missing_label: mask}
model:
  features: [x1, x2, x3, {name: island, kind: categorical_vocabulary, vocabulary: [p, q, r]}]
  hidden_units: [32, 16]
evaluation:
  thresholds:
    species: [{metric: accuracy, lower_bound: 0.5}]
  slicing: [[], [island]]
"""
BATCH = 4096
TRAIN_ROWS = 5000


def make_records(n, seed=0):
  """n serialized examples; 20% of heavy and 10% of mass labels are missing."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  species = np.argmax(x @ rng.normal(size=(3, 3)) + rng.normal(size=(n, 3)), axis=1)
  heavy = (x[:, 0] + rng.normal(scale=0.5, size=n) > 0).astype(np.int64)
  mass = (2 * x[:, 1] + rng.normal(scale=0.3, size=n)).astype(np.float32)
  weight = rng.uniform(0.5, 2, size=n).astype(np.float32)
  island = rng.integers(0, 3, size=n)
  heavy_known = rng.random(n) > 0.2
  mass_known = rng.random(n) > 0.1

  def floats(v):
    return tf.train.Feature(float_list=tf.train.FloatList(value=[v]))

  def strings(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

  records = []
  for i in range(n):
    feature = {'x1': floats(x[i, 0]), 'x2': floats(x[i, 1]), 'x3': floats(x[i, 2]),
               'w': floats(weight[i]), 'island': strings(b'pqr'[island[i]:island[i] + 1]),
               'species': strings(b'abc'[species[i]:species[i] + 1])}
    if heavy_known[i]:
      feature['heavy'] = tf.train.Feature(int64_list=tf.train.Int64List(value=[heavy[i]]))
    if mass_known[i]:
      feature['mass'] = floats(mass[i])
    records.append(tf.train.Example(
        features=tf.train.Features(feature=feature)).SerializeToString())
  return records


def train_and_export(config, records, export_dir, steps=200):
  """A briefly trained model of the config, exported with the Evaluators' signatures."""
  keras.utils.set_random_seed(0)
  parsed = tf.io.parse_example(tf.constant(records), schema.full_spec(config))
  labels = {head.name: parsed.pop(head.label) for head in config.heads}
  model = body.build_model(config)
  model(parsed)
  optimizer = keras.optimizers.Adam(0.01)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = model.head.loss(labels, model(parsed, training=True), parsed)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))

  for _ in range(steps):
    step()
  signatures.export(model, config, export_dir)


def write_shards(records, directory, shards, copies=1):
  """Writes `copies` x the records round-robin into GZIP TFRecord shards; returns their pattern."""
  os.makedirs(directory, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(directory, 'eval-{:05d}.gz'.format(i)), 'GZIP')
             for i in range(shards)]
  index = 0
  for _ in range(copies):
    for record in records:
      writers[index % shards].write(record)
      index += 1
  for writer in writers:
    writer.close()
  return os.path.join(directory, 'eval-*.gz')


def raw_inference(model_dir, data_pattern, signature_names):
  """examples/s of calling the signatures on batches read from the TFRecord files."""
  loaded = tf.saved_model.load(model_dir)
  functions = [loaded.signatures[name] for name in signature_names]
  files = sorted(tf.io.gfile.glob(data_pattern))
  batches = tf.data.TFRecordDataset(files, compression_type='GZIP').batch(BATCH).prefetch(2)
  for function in functions:  # warm up
    function(examples=next(iter(batches)))
  count, started = 0, time.perf_counter()
  for batch in batches:
    for function in functions:
      function(examples=batch)
    count += int(batch.shape[0])
  return count / (time.perf_counter() - started)


def batched(model_dir, data_pattern, output_dir, config, workers, mode=None):
  """The batched engine's Run (examples, seconds, scoring_seconds)."""
  return pipeline.run_evaluation(model_dir, data_pattern, output_dir, config,
                                 pipeline_options=evaluate.direct_runner_options(workers, mode))


def tfma_seconds(model_dir, data_pattern, output_dir, config):
  started = time.perf_counter()
  evaluate.run_evaluation(model_dir, data_pattern, output_dir, config,
                          pipeline_options=evaluate.direct_runner_options(1))
  return time.perf_counter() - started


def peak_memory(model_dir, data_pattern, output_dir):
  """(peak RSS in MiB, the Run) of a fresh process running the batched engine in_memory."""
  command = [sys.executable, '-m', 'benchmarks.evaluator_throughput', '--peak-memory-of',
             model_dir, data_pattern, output_dir]
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode != 0:
    raise RuntimeError('the memory run failed:\n' + done.stderr[-3000:])
  peak, examples, seconds, scoring = done.stdout.strip().splitlines()[-1].split()
  return float(peak), pipeline.Run(int(examples), float(seconds), float(scoring))


def _peak_memory_child(model_dir, data_pattern, output_dir):
  run = batched(model_dir, data_pattern, output_dir, config_lib.load_config(CONFIG), workers=1)
  print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, run.examples, run.seconds,
        run.scoring_seconds)


def scaling(model_dir, data_pattern, workdir, config, pairs):
  """Prints 2 workers against 1 (multi_processing) on larger data, where start-up weighs less.

  The runs alternate, 1 worker then 2, so that a drift in the machine's speed
  shows as disagreeing pairs rather than as a skewed ratio.
  """
  runs = {1: [], 2: []}
  for pair in range(pairs):
    for workers in (1, 2):
      runs[workers].append(batched(
          model_dir, data_pattern, os.path.join(workdir, 'scaling_{}_{}'.format(workers, pair)),
          config, workers=workers, mode='multi_processing'))
    one, two = runs[1][-1], runs[2][-1]
    print('{} rows, multi_processing, pair {}: 1 worker {:.1f} s ({:.1f} s scoring), 2 workers '
          '{:.1f} s ({:.1f} s scoring)'.format(one.examples, pair + 1, one.seconds,
                                               one.scoring_seconds, two.seconds,
                                               two.scoring_seconds))
  seconds = {workers: sum(run.seconds for run in done) for workers, done in runs.items()}
  scoring = {workers: sum(run.scoring_seconds for run in done) for workers, done in runs.items()}
  print('ratio 2 workers / 1 worker, multi_processing, over the {} pairs: {:.2f} start-up '
        'included, {:.2f} scoring only'.format(pairs, seconds[1] / seconds[2],
                                               scoring[1] / scoring[2]))


def _line(label, value, unit='examples/s'):
  print('{:<58}{:>12,.0f} {}'.format(label, value, unit))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--rows', type=int, default=200000)
  parser.add_argument('--tfma-rows', type=int, default=40000,
                      help='rows for the TFMA path (its first rows); 0 skips it')
  parser.add_argument('--memory-rows', type=int, default=1000000,
                      help='rows of the second memory run (the data repeated); 0 skips memory')
  parser.add_argument('--shards', type=int, default=4, help='TFRecord files of the data')
  parser.add_argument('--scaling-pairs', type=int, default=2,
                      help='pairs of multi_processing runs, 1 worker then 2 workers, on the '
                           '--memory-rows data; 0 skips them')
  parser.add_argument('--workdir', default=None, help='kept if given (default: a temp dir)')
  parser.add_argument('--peak-memory-of', nargs=3, default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.peak_memory_of:
    _peak_memory_child(*args.peak_memory_of)
    return
  workdir = args.workdir or tempfile.mkdtemp(prefix='evaluator-throughput-')
  os.makedirs(workdir, exist_ok=True)
  config = config_lib.load_config(CONFIG)
  load_before = os.getloadavg()[0]

  started = time.perf_counter()
  records = make_records(args.rows)
  data = write_shards(records, os.path.join(workdir, 'data'), args.shards)
  tfma_rows = min(args.tfma_rows, args.rows)
  tfma_data = write_shards(records[:tfma_rows], os.path.join(workdir, 'data_tfma'), args.shards)
  model_dir = os.path.join(workdir, 'model')
  train_and_export(config, records[:TRAIN_ROWS], model_dir)
  copies = -(-args.memory_rows // args.rows) if args.memory_rows else 0
  memory_data = (write_shards(records, os.path.join(workdir, 'data_memory'), args.shards, copies)
                 if copies else None)
  del records
  print('{} examples in {} files and the model ready in {:.0f}s ({})'.format(
      args.rows, args.shards, time.perf_counter() - started, workdir))

  logits = raw_inference(model_dir, data, [signatures.EVAL_LOGITS_SIGNATURE])
  tfma_signatures = raw_inference(model_dir, data, [signatures.HEAD_OUTPUTS_SIGNATURE,
                                                    signatures.TRANSFORM_FEATURES_SIGNATURE])
  _line('raw inference, eval_logits (batched engine\'s call):', logits)
  _line('raw inference, head_outputs + transform_features (TFMA\'s):', tfma_signatures)
  one = batched(model_dir, data, os.path.join(workdir, 'batched_1'), config, workers=1)
  _line('batched, in_memory, 1 worker, {} rows:'.format(args.rows), one.examples / one.seconds)
  _line('  scoring only (start-up excluded):', one.examples / one.scoring_seconds)
  one_process = batched(model_dir, data, os.path.join(workdir, 'batched_1p'), config,
                        workers=1, mode='multi_processing')
  _line('batched, multi_processing, 1 worker, {} rows:'.format(args.rows),
        one_process.examples / one_process.seconds)
  _line('  scoring only (start-up excluded):',
        one_process.examples / one_process.scoring_seconds)
  two = batched(model_dir, data, os.path.join(workdir, 'batched_2'), config, workers=2)
  _line('batched, multi_processing, 2 workers, {} rows:'.format(args.rows),
        two.examples / two.seconds)
  _line('  scoring only (start-up excluded):', two.examples / two.scoring_seconds)
  if tfma_rows:
    tfma = tfma_rows / tfma_seconds(model_dir, tfma_data, os.path.join(workdir, 'tfma_1'), config)
    _line('TFMA, in_memory, 1 worker, {} rows:'.format(tfma_rows), tfma)
    print('ratio batched / TFMA (1 worker, start-up included):      {:.1f}x'.format(
        one.examples / one.seconds / tfma))
    print('ratio batched scoring / TFMA (1 worker):                 {:.1f}x'.format(
        one.examples / one.scoring_seconds / tfma))
  print('ratio batched (1 worker) / raw eval_logits inference:    {:.3f} (scoring: {:.3f})'.format(
      one.examples / one.seconds / logits, one.examples / one.scoring_seconds / logits))
  print('ratio batched (1 worker) / raw TFMA-signature inference: {:.3f} (scoring: {:.3f})'.format(
      one.examples / one.seconds / tfma_signatures,
      one.examples / one.scoring_seconds / tfma_signatures))
  print('ratio 2 workers / 1 worker in_memory: {:.2f} start-up included, {:.2f} scoring '
        'only'.format(one.seconds / two.seconds, one.scoring_seconds / two.scoring_seconds))
  print('ratio 2 workers / 1 worker, both multi_processing: {:.2f} start-up included, {:.2f} '
        'scoring only'.format(one_process.seconds / two.seconds,
                              one_process.scoring_seconds / two.scoring_seconds))
  if memory_data:
    small, small_run = peak_memory(model_dir, data, os.path.join(workdir, 'memory_small'))
    large, large_run = peak_memory(model_dir, memory_data, os.path.join(workdir, 'memory_large'))
    for peak, run in ((small, small_run), (large, large_run)):
      _line('peak memory, batched in_memory, {} rows:'.format(run.examples), peak, 'MiB')
      _line('  its examples/s, start-up included:', run.examples / run.seconds)
      _line('  its examples/s, scoring only:', run.examples / run.scoring_seconds)
    print('ratio peak memory {} / {} rows: {:.2f}'.format(large_run.examples, small_run.examples,
                                                          large / small))
  if memory_data and args.scaling_pairs:
    scaling(model_dir, memory_data, workdir, config, args.scaling_pairs)
  print('CPUs: {}; load average (1 min) at the start: {:.1f}, at the end: {:.1f} (other '
        'processes competing for the CPUs lower the 2-worker figure most)'.format(
            os.cpu_count(), load_before, os.getloadavg()[0]))
  if not args.workdir:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
  main()
