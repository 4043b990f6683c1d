"""run_fn under MultiWorkerMirroredStrategy: two worker processes, one export, by the chief.

The export of the distributed variables also serves under the session loader.
"""
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

import penguin_support as support
import serving_support
from conftest import free_ports

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'trainer_worker.py')
TIMEOUT = 300


def test_two_workers_train_together_and_only_the_chief_exports(tmp_path):
  shared = tmp_path / 'shared'
  workers = ['localhost:{}'.format(port) for port in free_ports(2)]
  processes = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps({'cluster': {'worker': workers},
                                                 'task': {'type': 'worker', 'index': index}}))
    log = open(tmp_path / 'worker{}.log'.format(index), 'w')
    command = [sys.executable, WORKER, str(tmp_path / 'w{}'.format(index)), str(shared),
               str(tmp_path / 'worker{}.json'.format(index))]
    processes.append((subprocess.Popen(command, env=env, stdout=log,
                                       stderr=subprocess.STDOUT), log))
  try:
    for process, _ in processes:
      process.wait(timeout=TIMEOUT)
  finally:
    for process, log in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
      log.close()
  for index, (process, _) in enumerate(processes):
    assert process.returncode == 0, (tmp_path / 'worker{}.log'.format(index)).read_text()[-3000:]
  chief, other = (json.loads((tmp_path / 'worker{}.json'.format(i)).read_text())
                  for i in range(2))
  serving = str(shared / 'serving')
  assert chief['exports'] == [serving] and chief['left'] == [True]
  assert len(other['exports']) == 1 and other['exports'][0] != serving
  assert other['left'] == [False]
  assert chief['weights'] == other['weights']
  assert tf.saved_model.contains_saved_model(serving)
  examples = [support.to_example(row).SerializeToString() for row in support.csv_rows(8)]
  serving_support.assert_serves_like_tf2(serving, {'examples': np.array(examples, dtype=object)})
  assert os.listdir(shared) and sorted(os.listdir(shared)) == ['model_run', 'serving']
