"""The eval split as batches of serialized tf.Examples, the same batches however many workers read.

Each TFRecord file (GZIP, as ExampleGen writes it, or uncompressed: told
apart by the file's first bytes) is read by one worker from its start, in
batches of `batch_size` consecutive records. A batch is therefore the same
records whatever the runner and the number of workers, which matters:
inference is not bitwise batch-invariant (an example's logits can differ in
the last float32 bit in another batch), and equal batches make 2 workers
give exactly the numbers of 1. Beam reads a TFRecord file in one piece
anyway (TFRecords are not splittable), so workers share the work file by
file either way.

A file that cannot be read (corrupt, truncated, not a TFRecord file) fails
naming the file and the record it failed at. TensorFlow's reader takes a
GZIP file cut short at some points for a shorter file, so the records read
are checked against the size the gzip trailer records.
"""

import collections
import struct

import apache_beam as beam
import tensorflow as tf

from components.evaluation.statistics import EvaluationInputError
from components.evaluation.statistics import tf_error_text

DEFAULT_BATCH_SIZE = 4096
_GZIP_MAGIC = b'\x1f\x8b'
_FRAMING = 16  # bytes around each TFRecord: length, its CRC, the data's CRC

# Nothing here to tune, and an autotuned iterator's destructor waits for its
# tuning thread to wake up, which sleeps up to seconds: it stalled a worker
# 0.4-2.4 s at the end of every file.
_WITHOUT_AUTOTUNE = tf.data.Options()
_WITHOUT_AUTOTUNE.autotune.enabled = False

Batch = collections.namedtuple('Batch', ['file', 'start', 'records'])
Batch.__doc__ = 'Records [start, start + len(records)) of a file, as a 1-D array of bytes.'


def list_files(file_patterns):
  """The sorted files matching the patterns; fails naming the patterns if there are none."""
  files = sorted({path for pattern in file_patterns for path in tf.io.gfile.glob(pattern)
                  if not tf.io.gfile.isdir(path)})
  if not files:
    raise EvaluationInputError('no eval data: no file matches {}'.format(list(file_patterns)))
  return files


def total_bytes(files):
  return sum(tf.io.gfile.stat(path).length for path in files)


def compression_of(path):
  """'GZIP' for a gzip file, else '' (uncompressed TFRecords)."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    return 'GZIP' if f.read(2) == _GZIP_MAGIC else ''


def _gzip_size(path):
  """The uncompressed size mod 2**32 that a gzip file's trailer records."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    f.seek(max(f.size() - 4, 0))
    trailer = f.read(4)
  return struct.unpack('<I', trailer)[0] if len(trailer) == 4 else None


def read_batches(path, batch_size=DEFAULT_BATCH_SIZE):
  """Yields the Batches of one TFRecord file, in order."""
  compression = compression_of(path)
  dataset = tf.data.TFRecordDataset(path, compression_type=compression,
                                    buffer_size=1 << 20).batch(batch_size)
  dataset = dataset.with_options(_WITHOUT_AUTOTUNE)
  iterator = iter(dataset)
  start, size = 0, 0
  while True:
    try:
      records = next(iterator)
    except StopIteration:
      break
    except tf.errors.OpError as error:
      raise EvaluationInputError('{}: cannot read TFRecords after record {}: {}'.format(
          path, start, tf_error_text(error))) from None
    records = records.numpy()
    yield Batch(path, start, records)
    start += len(records)
    size += sum(len(record) for record in records) + _FRAMING * len(records)
  if compression and _gzip_size(path) != size % 2**32:
    raise EvaluationInputError(
        '{}: cannot read TFRecords after record {}: the GZIP file is truncated or corrupt '
        '({} bytes of records read, its trailer records {})'.format(
            path, start, size, _gzip_size(path)))


class ReadBatches(beam.DoFn):
  """File path -> its Batches."""

  def __init__(self, batch_size=DEFAULT_BATCH_SIZE):
    super().__init__()
    self._batch_size = batch_size

  def process(self, path):
    yield from read_batches(path, self._batch_size)
