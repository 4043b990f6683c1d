"""The heads config: one declarative file that Trainer and Evaluator both derive from.

Loaded from YAML or JSON and validated on load. Errors name the field path,
e.g. `heads[1].n_classes: must be > 2 for multi_class`.
"""

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Optional

import heads
from heads import distribute

HEAD_TYPES = ('regression', 'poisson_regression', 'logistic_regression', 'binary',
              'multi_class', 'multi_label')
FEATURE_KINDS = ('numeric', 'categorical_vocabulary', 'categorical_hash')
MISSING_LABEL_POLICIES = ('error', 'mask')
NON_FINITE_POLICIES = ('error', 'impute')
OPTIMIZERS = ('adam', 'sgd', 'adagrad', 'rmsprop')
DIRECTIONS = ('higher_is_better', 'lower_is_better')

_CLASS_HEADS = ('binary', 'multi_class', 'multi_label')
_FLOAT_LABEL_HEADS = ('regression', 'poisson_regression', 'logistic_regression')


class ConfigError(ValueError):
  """A config value is invalid; the message starts with the field path."""


def _fail(path, message):
  raise ConfigError('{}: {}'.format(path, message))


class _Reader:
  """Reads typed fields of one mapping, naming the path in every error."""

  def __init__(self, data, path):
    if not isinstance(data, dict):
      _fail(path, 'must be a mapping, got {}'.format(type(data).__name__))
    self.data = data
    self.path = path
    self._used = set()

  def field(self, key):
    return '{}.{}'.format(self.path, key) if self.path else key

  def get(self, key, kinds, default=None, required=False):
    self._used.add(key)
    if key not in self.data or self.data[key] is None:
      if required:
        _fail(self.field(key), 'is required')
      return default
    value = self.data[key]
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
      return value
    _fail(self.field(key), 'must be {}, got {!r}'.format(
        ' or '.join(k.__name__ for k in kinds), value))

  def choice(self, key, choices, default=None, required=False):
    value = self.get(key, (str,), default, required)
    if value is not None and value not in choices:
      _fail(self.field(key), 'must be one of {}, got {!r}'.format(list(choices), value))
    return value

  def sub(self, key, required=False):
    return _Reader(self.get(key, (dict,), {}, required), self.field(key))

  def items(self, key, required=False):
    values = self.get(key, (list,), [], required)
    return [(value, '{}[{}]'.format(self.field(key), i)) for i, value in enumerate(values)]

  def done(self):
    unknown = sorted(set(self.data) - self._used)
    if unknown:
      _fail(self.field(unknown[0]), 'unknown field (known: {})'.format(sorted(self._used)))


def _positive(path, value, allow_zero=False):
  if value is not None and (value < 0 or (value == 0 and not allow_zero)):
    _fail(path, 'must be {} 0, got {}'.format('>=' if allow_zero else '>', value))
  return value


@dataclasses.dataclass(frozen=True)
class HeadConfig:
  """One head: what it predicts (label), how (type and arguments), and its weight."""

  name: str
  type: str
  label: str
  weight: float = 1.0
  n_classes: Optional[int] = None
  label_vocabulary: Optional[List[str]] = None
  label_dimension: int = 1
  thresholds: List[float] = dataclasses.field(default_factory=list)
  weight_column: Optional[str] = None
  missing_label: str = 'error'
  classes_for_class_based_metrics: Optional[List[Any]] = None

  @property
  def missing_label_value(self):
    """Sentinel that marks a missing label in parsed data (None: labels required)."""
    if self.missing_label != 'mask':
      return None
    if self.type in _FLOAT_LABEL_HEADS:
      return float('nan')
    if self.label_vocabulary:
      return ''
    return -1

  @property
  def label_is_string(self):
    return bool(self.label_vocabulary)

  @property
  def label_is_float(self):
    return self.type in _FLOAT_LABEL_HEADS

  def build(self):
    """The `heads` head this entry describes."""
    common = dict(weight_column=self.weight_column, name=self.name,
                  missing_label_value=self.missing_label_value)
    if self.type == 'regression':
      return heads.RegressionHead(label_dimension=self.label_dimension, **common)
    if self.type == 'poisson_regression':
      return heads.PoissonRegressionHead(label_dimension=self.label_dimension, **common)
    if self.type == 'logistic_regression':
      return heads.LogisticRegressionHead(**common)
    if self.type == 'binary':
      return heads.BinaryClassHead(thresholds=self.thresholds or None,
                                   label_vocabulary=self.label_vocabulary, **common)
    if self.type == 'multi_class':
      return heads.MultiClassHead(self.n_classes, label_vocabulary=self.label_vocabulary,
                                  **common)
    return heads.MultiLabelHead(
        self.n_classes, thresholds=self.thresholds or None,
        label_vocabulary=self.label_vocabulary,
        classes_for_class_based_metrics=self.classes_for_class_based_metrics, **common)


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
  """One input feature of the body and how it is encoded."""

  name: str
  kind: str = 'numeric'
  vocabulary: Optional[List[str]] = None
  hash_buckets: Optional[int] = None
  embedding_dim: Optional[int] = None
  dtype: str = 'float32'
  non_finite: str = 'error'  # NaN/inf values of a numeric feature: 'error' or 'impute'


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  features: List[FeatureConfig]
  hidden_units: List[int] = dataclasses.field(default_factory=lambda: [32, 16])
  dropout: float = 0.0


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  train_steps: int = 1000
  eval_steps: int = 100
  batch_size: int = 32
  optimizer: str = 'adam'
  learning_rate: float = 0.01
  distribution: str = 'auto'
  steps_per_execution: int = 1
  seed: int = 0


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  serving_default: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class MetricThreshold:
  """A per-head quality gate: absolute bounds and/or a change against the baseline."""

  metric: str
  lower_bound: Optional[float] = None
  upper_bound: Optional[float] = None
  change_direction: Optional[str] = None
  change_absolute: Optional[float] = None
  change_relative: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  thresholds: Dict[str, List[MetricThreshold]] = dataclasses.field(default_factory=dict)
  slicing: List[List[str]] = dataclasses.field(default_factory=lambda: [[]])


@dataclasses.dataclass(frozen=True)
class HeadsConfig:
  """The whole config: heads, model body, training, export and evaluation."""

  heads: List[HeadConfig]
  model: ModelConfig
  training: TrainingConfig = TrainingConfig()
  export: ExportConfig = ExportConfig()
  evaluation: EvaluationConfig = EvaluationConfig()

  def head(self, name):
    for head in self.heads:
      if head.name == name:
        return head
    raise KeyError(name)

  def build_head(self):
    """A MultiHead of all configured heads (head weights from the config)."""
    built = [head.build() for head in self.heads]
    return heads.MultiHead(built, head_weights=[head.weight for head in self.heads],
                           allow_missing_labels=False)

  @property
  def label_keys(self):
    """Label feature of each head, keyed by head name."""
    return {head.name: head.label for head in self.heads}

  @property
  def serving_default_head(self):
    return self.export.serving_default or self.heads[0].name

  def to_dict(self):
    return dataclasses.asdict(self)


# ----------------------------------------------------------------------------
# Parsing.

def _parse_head(data, path):
  r = _Reader(data, path)
  name = r.get('name', (str,), required=True)
  head_type = r.choice('type', HEAD_TYPES, required=True)
  label = r.get('label', (str,), default=name)
  weight = r.get('weight', (int, float), default=1.0)
  if not math.isfinite(weight) or weight < 0:
    _fail(r.field('weight'), 'must be a finite number >= 0, got {}'.format(weight))
  n_classes = r.get('n_classes', (int,))
  vocabulary = r.get('label_vocabulary', (list,))
  if vocabulary is not None:
    for i, value in enumerate(vocabulary):
      if not isinstance(value, str):
        _fail('{}[{}]'.format(r.field('label_vocabulary'), i),
              'must be a string, got {!r}'.format(value))
    if len(set(vocabulary)) != len(vocabulary):
      _fail(r.field('label_vocabulary'), 'has duplicate values: {}'.format(vocabulary))
  if head_type == 'binary':
    if n_classes not in (None, 2):
      _fail(r.field('n_classes'), 'must be 2 (or absent) for binary, got {}'.format(n_classes))
    if vocabulary is not None and len(vocabulary) != 2:
      _fail(r.field('label_vocabulary'), 'must have 2 values for binary, got {}'.format(
          len(vocabulary)))
    n_classes = 2
  elif head_type == 'multi_class':
    if n_classes is None and vocabulary:
      n_classes = len(vocabulary)
    if n_classes is None or n_classes <= 2:
      _fail(r.field('n_classes'), 'must be > 2 for multi_class, got {}'.format(n_classes))
  elif head_type == 'multi_label':
    if n_classes is None and vocabulary:
      n_classes = len(vocabulary)
    if n_classes is None or n_classes < 2:
      _fail(r.field('n_classes'), 'must be >= 2 for multi_label, got {}'.format(n_classes))
  elif n_classes is not None:
    _fail(r.field('n_classes'), 'does not apply to {} heads'.format(head_type))
  if vocabulary is not None and head_type not in _CLASS_HEADS:
    _fail(r.field('label_vocabulary'), 'does not apply to {} heads'.format(head_type))
  if vocabulary is not None and n_classes is not None and len(vocabulary) != n_classes:
    _fail(r.field('label_vocabulary'), 'has {} values but n_classes is {}'.format(
        len(vocabulary), n_classes))
  label_dimension = r.get('label_dimension', (int,), default=1)
  if label_dimension < 1 or (label_dimension != 1 and head_type not in (
      'regression', 'poisson_regression')):
    _fail(r.field('label_dimension'), 'must be 1 for {} heads, or >= 1 for regression, '
          'got {}'.format(head_type, label_dimension))
  thresholds = r.get('thresholds', (list,), default=[])
  for i, threshold in enumerate(thresholds):
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
        0 < threshold < 1):
      _fail('{}[{}]'.format(r.field('thresholds'), i), 'must be in (0, 1), got {!r}'.format(
          threshold))
  if thresholds and head_type not in ('binary', 'multi_label'):
    _fail(r.field('thresholds'), 'applies to binary and multi_label heads only')
  classes = r.get('classes_for_class_based_metrics', (list,))
  if classes is not None and head_type != 'multi_label':
    _fail(r.field('classes_for_class_based_metrics'), 'applies to multi_label heads only')
  weight_column = r.get('weight_column', (str,))
  missing_label = r.choice('missing_label', MISSING_LABEL_POLICIES, default='error')
  r.done()
  return HeadConfig(
      name=name, type=head_type, label=label, weight=float(weight), n_classes=n_classes,
      label_vocabulary=vocabulary, label_dimension=label_dimension,
      thresholds=[float(t) for t in thresholds], weight_column=weight_column,
      missing_label=missing_label, classes_for_class_based_metrics=classes)


def _parse_feature(data, path):
  if isinstance(data, str):
    return FeatureConfig(name=data)
  r = _Reader(data, path)
  name = r.get('name', (str,), required=True)
  kind = r.choice('kind', FEATURE_KINDS, default='numeric')
  vocabulary = r.get('vocabulary', (list,))
  hash_buckets = _positive(r.field('hash_buckets'), r.get('hash_buckets', (int,)))
  embedding_dim = _positive(r.field('embedding_dim'), r.get('embedding_dim', (int,)))
  if kind == 'categorical_vocabulary' and not vocabulary:
    _fail(r.field('vocabulary'), 'is required for categorical_vocabulary features')
  if kind == 'categorical_hash' and not hash_buckets:
    _fail(r.field('hash_buckets'), 'is required for categorical_hash features')
  if kind == 'numeric' and (vocabulary or hash_buckets or embedding_dim):
    _fail(r.path, 'numeric features take no vocabulary, hash_buckets or embedding_dim')
  default_dtype = 'float32' if kind == 'numeric' else 'string'
  dtype = r.choice('dtype', ('float32', 'int64', 'string'), default=default_dtype)
  non_finite = r.choice('non_finite', NON_FINITE_POLICIES, default='error')
  if 'non_finite' in data and (kind != 'numeric' or dtype != 'float32'):
    _fail(r.field('non_finite'), 'applies to float32 numeric features only')
  r.done()
  return FeatureConfig(name=name, kind=kind, vocabulary=vocabulary, hash_buckets=hash_buckets,
                       embedding_dim=embedding_dim, dtype=dtype, non_finite=non_finite)


def _parse_threshold(data, path):
  r = _Reader(data, path)
  change = r.sub('change')
  threshold = MetricThreshold(
      metric=r.get('metric', (str,), required=True),
      lower_bound=r.get('lower_bound', (int, float)),
      upper_bound=r.get('upper_bound', (int, float)),
      change_direction=change.choice('direction', DIRECTIONS),
      change_absolute=change.get('absolute', (int, float)),
      change_relative=change.get('relative', (int, float)))
  change.done()
  r.done()
  if threshold.lower_bound is None and threshold.upper_bound is None and (
      threshold.change_direction is None):
    _fail(path, 'needs lower_bound, upper_bound or change.direction')
  if (threshold.change_absolute is not None or threshold.change_relative is not None) and (
      threshold.change_direction is None):
    _fail('{}.change.direction'.format(path), 'is required with change.absolute/relative')
  return threshold


def parse_config(data):
  """Validates a config mapping and returns a HeadsConfig."""
  root = _Reader(data, '')
  head_items = root.items('heads', required=True)
  if not head_items:
    _fail('heads', 'must list at least one head')
  parsed_heads = [_parse_head(item, path) for item, path in head_items]
  names = [head.name for head in parsed_heads]
  for i, name in enumerate(names):
    if name in names[:i]:
      _fail('heads[{}].name'.format(i), 'duplicate head name {!r}'.format(name))

  model = root.sub('model', required=True)
  features = [_parse_feature(item, path) for item, path in model.items('features', required=True)]
  if not features:
    _fail('model.features', 'must list at least one feature')
  feature_names = [f.name for f in features]
  for i, name in enumerate(feature_names):
    if name in feature_names[:i]:
      _fail('model.features[{}].name'.format(i), 'duplicate feature {!r}'.format(name))
  labels = {head.label for head in parsed_heads}
  for i, name in enumerate(feature_names):
    if name in labels:
      _fail('model.features[{}].name'.format(i), '{!r} is a head label; a label cannot be '
            'an input feature'.format(name))
  hidden_units = model.get('hidden_units', (list,), default=[32, 16])
  for i, units in enumerate(hidden_units):
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
      _fail('model.hidden_units[{}]'.format(i), 'must be a positive integer, got {!r}'.format(
          units))
  dropout = model.get('dropout', (int, float), default=0.0)
  if not 0 <= dropout < 1:
    _fail('model.dropout', 'must be in [0, 1), got {}'.format(dropout))
  model.done()

  training = root.sub('training')
  training_config = TrainingConfig(
      train_steps=_positive('training.train_steps', training.get('train_steps', (int,), 1000)),
      eval_steps=_positive('training.eval_steps', training.get('eval_steps', (int,), 100)),
      batch_size=_positive('training.batch_size', training.get('batch_size', (int,), 32)),
      optimizer=training.choice('optimizer', OPTIMIZERS, default='adam'),
      learning_rate=_positive('training.learning_rate',
                              training.get('learning_rate', (int, float), 0.01)),
      distribution=training.choice('distribution', distribute.STRATEGIES, default='auto'),
      steps_per_execution=_positive('training.steps_per_execution',
                                    training.get('steps_per_execution', (int,), 1)),
      seed=training.get('seed', (int,), 0))
  training.done()

  export = root.sub('export')
  serving_default = export.get('serving_default', (str,))
  if serving_default is not None and serving_default not in names:
    _fail('export.serving_default', 'must name a head {}, got {!r}'.format(names,
                                                                          serving_default))
  export.done()

  evaluation = root.sub('evaluation')
  thresholds_reader = evaluation.sub('thresholds')
  thresholds = {}
  for head_name, items in thresholds_reader.data.items():
    path = thresholds_reader.field(head_name)
    thresholds_reader.get(head_name, (list,))
    if head_name not in names:
      _fail(path, 'is not a head name {}'.format(names))
    thresholds[head_name] = [_parse_threshold(item, '{}[{}]'.format(path, i))
                             for i, item in enumerate(items)]
  slicing = evaluation.get('slicing', (list,), default=[[]])
  for i, spec in enumerate(slicing):
    if not isinstance(spec, list) or not all(isinstance(k, str) for k in spec):
      _fail('evaluation.slicing[{}]'.format(i),
            'must be a list of feature names ([] = overall), got {!r}'.format(spec))
  evaluation.done()
  root.done()
  return HeadsConfig(
      heads=parsed_heads,
      model=ModelConfig(features=features, hidden_units=list(hidden_units),
                        dropout=float(dropout)),
      training=training_config,
      export=ExportConfig(serving_default=serving_default),
      evaluation=EvaluationConfig(thresholds=thresholds, slicing=slicing))


def load_config(path_or_text):
  """Loads a config from a .yaml/.yml/.json path, or from YAML/JSON text."""
  return parse_config(read_config_data(path_or_text))


def read_config_data(path_or_text):
  """The mapping in a .yaml/.yml/.json path or YAML/JSON text, not yet validated.

  The pipeline ships this mapping to the Trainer (custom_config), which
  validates it again with `parse_config`.
  """
  if os.path.exists(str(path_or_text)):
    with open(path_or_text) as f:
      text = f.read()
    source = str(path_or_text)
  else:
    text, source = str(path_or_text), '<text>'
  try:
    if source.endswith('.json'):
      data = json.loads(text)
    else:
      import yaml  # pylint: disable=g-import-not-at-top
      data = yaml.safe_load(text)
  except Exception as error:  # pylint: disable=broad-except
    raise ConfigError('{}: cannot parse: {}'.format(source, error)) from None
  return data
