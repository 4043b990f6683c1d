"""run_fn under MultiWorkerMirroredStrategy: two worker processes, one export, by the chief.

The workers are killed once the chief has checkpointed step 2, and rerun: both
resume from step 2 of the chief's checkpoint, and finish in step. The export
of the distributed variables also serves under the session loader.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

import penguin_support as support
import serving_support
from conftest import free_ports

import trainer_worker
from components import resume

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'trainer_worker.py')
TIMEOUT = 300


def _start_workers(tmp_path, shared, round_name, *extra):
  workers = ['localhost:{}'.format(port) for port in free_ports(2)]
  processes = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps({'cluster': {'worker': workers},
                                                 'task': {'type': 'worker', 'index': index}}))
    log = open(tmp_path / '{}{}.log'.format(round_name, index), 'w')
    command = [sys.executable, WORKER, str(tmp_path / 'data'), str(shared),
               str(tmp_path / '{}{}.json'.format(round_name, index))] + list(extra)
    processes.append((subprocess.Popen(command, env=env, stdout=log,
                                       stderr=subprocess.STDOUT), log))
  return processes


def _stop(processes):
  for process, log in processes:
    if process.poll() is None:
      process.kill()
      process.wait()
    log.close()


def _log(tmp_path, round_name, index):
  return (tmp_path / '{}{}.log'.format(round_name, index)).read_text()[-3000:]


def test_two_workers_resume_a_killed_training_and_only_the_chief_exports(tmp_path):
  shared = tmp_path / 'shared'
  args = trainer_worker.fn_args(str(tmp_path / 'data'), str(shared), write=True)
  directory = resume.checkpoint_dir(args, trainer_worker.TRAIN_STEPS, 1)

  killed = _start_workers(tmp_path, shared, 'killed', '2')
  try:
    deadline = time.monotonic() + TIMEOUT
    for index, (process, _) in enumerate(killed):
      marker = tmp_path / 'killed{}.json.blocked'.format(index)
      while not marker.exists():
        assert process.poll() is None, _log(tmp_path, 'killed', index)
        assert time.monotonic() < deadline, 'no checkpoint before the timeout'
        time.sleep(0.2)
    for process, _ in killed:
      os.kill(process.pid, signal.SIGKILL)
  finally:
    _stop(killed)
  assert tf.train.latest_checkpoint(directory).endswith('ckpt-2')

  rerun = _start_workers(tmp_path, shared, 'rerun')
  try:
    for process, _ in rerun:
      process.wait(timeout=TIMEOUT)
  finally:
    _stop(rerun)
  for index, (process, _) in enumerate(rerun):
    assert process.returncode == 0, _log(tmp_path, 'rerun', index)
  chief, other = (json.loads((tmp_path / 'rerun{}.json'.format(i)).read_text())
                  for i in range(2))
  assert chief['restored'] == other['restored'] == [2]
  serving = str(shared / 'serving')
  assert chief['exports'] == [serving] and chief['left'] == [True]
  assert len(other['exports']) == 1 and other['exports'][0] != serving
  assert other['left'] == [False]
  assert chief['weights'] == other['weights']
  assert chief['head_weights'] == other['head_weights'] != [1., 1., 1.]
  assert tf.saved_model.contains_saved_model(serving)
  examples = [support.to_example(row).SerializeToString() for row in support.csv_rows(8)]
  serving_support.assert_serves_like_tf2(serving, {'examples': np.array(examples, dtype=object)})
  assert os.listdir(shared) and sorted(os.listdir(shared)) == ['model_run', 'serving']
  assert not os.path.exists(directory)
