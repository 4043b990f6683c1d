"""Choosing a tf.distribute strategy from one setting."""

import json
import os

import tensorflow as tf

STRATEGIES = ('auto', 'default', 'mirrored', 'multi_worker', 'tpu')


def _tpu_resolver(tpu=''):
  """A TPU cluster resolver, or None when there is no TPU to be found.

  Without a TPU name (argument or TPU_NAME) a TPU VM's own chips are used.
  """
  if not tpu and not os.environ.get('TPU_NAME') and os.path.exists('/dev/accel0'):
    tpu = 'local'
  try:
    return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
  except (ValueError, RuntimeError, OSError, tf.errors.NotFoundError):
    return None


def _multi_worker_config():
  try:
    config = json.loads(os.environ.get('TF_CONFIG', '{}'))
  except json.JSONDecodeError as error:
    raise ValueError('TF_CONFIG is not valid JSON: {}'.format(error)) from None
  cluster = config.get('cluster', {})
  return len(cluster.get('worker', [])) + len(cluster.get('chief', [])) > 1


def _mirrored_strategy():
  """MirroredStrategy over the GPUs, or over the logical CPUs when there are several."""
  cpus = tf.config.list_logical_devices('CPU')
  if tf.config.list_logical_devices('GPU') or len(cpus) < 2:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.MirroredStrategy([device.name for device in cpus])


def _tpu_strategy(resolver):
  """TPUStrategy on a resolved TPU: connect, initialize the TPU system, distribute."""
  tf.config.experimental_connect_to_cluster(resolver)
  tf.tpu.experimental.initialize_tpu_system(resolver)
  return tf.distribute.TPUStrategy(resolver)


def strategy_from_setting(setting='auto', tpu=''):
  """Returns a strategy for 'auto', 'default', 'mirrored', 'multi_worker' or 'tpu'.

  'auto' takes a TPU when a TPU resolver finds one, multi-worker when TF_CONFIG
  names several workers, mirrored when there are several GPUs, else default.
  'mirrored' replicates over the GPUs, or over several logical CPUs when there
  are no GPUs (for tests). Build and compile the model under `strategy.scope()`. 'tpu' (TPUStrategy)
  connects to `tpu` (a name or grpc:// address), TPU_NAME, or the TPU VM's
  own chips; it is not tested here, having no TPU.
  """
  if setting not in STRATEGIES:
    raise ValueError('Unknown distribution strategy {!r}. Choose one of {}.'.format(
        setting, list(STRATEGIES)))
  if setting == 'auto':
    on_tpu_host = tpu or os.environ.get('TPU_NAME') or os.path.exists('/dev/accel0')
    resolver = _tpu_resolver(tpu) if on_tpu_host else None
    if resolver is not None:
      return _tpu_strategy(resolver)
    if _multi_worker_config():
      return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices('GPU')) > 1:
      return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
  if setting == 'default':
    return tf.distribute.get_strategy()
  if setting == 'mirrored':
    return _mirrored_strategy()
  if setting == 'multi_worker':
    return tf.distribute.MultiWorkerMirroredStrategy()
  resolver = _tpu_resolver(tpu)
  if resolver is None:
    raise ValueError("distribution strategy 'tpu' was asked for, but no TPU was found "
                     '(tpu={!r}, TPU_NAME={!r}).'.format(tpu, os.environ.get('TPU_NAME')))
  return _tpu_strategy(resolver)


def is_chief():
  """True on the worker that should write exports: the chief, or worker 0 without one."""
  config = json.loads(os.environ.get('TF_CONFIG', '{}') or '{}')
  task = config.get('task', {})
  task_type = task.get('type')
  if task_type is None:
    return True
  if task_type in ('chief', 'workerpool0'):
    return True
  has_chief = bool(config.get('cluster', {}).get('chief'))
  return task_type == 'worker' and task.get('index', 0) == 0 and not has_chief
