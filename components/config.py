"""The heads config: one declarative file that Trainer and Evaluator both derive from.

Every field is declared once, below, as a pydantic model field: its type, its
default, its bounds and its description. The validator, the defaults and the
JSON Schema of the file (`json_schema()`, committed as
pipelines/configs/heads-config.schema.json) all come from these declarations.
Rules that tie fields together live in each section's `_rules` method.
Errors name the field path, e.g. `heads[1].n_classes: must be > 2 for
multi_class, got 2`; `ConfigError.problems` lists every error found.

Adding a field is one line in its section, e.g. in `TrainingConfig`:

    warmup_steps: int = _field(0, 'Steps of learning-rate warm-up.', ge=0)

then regenerate the schema file (`heads-pipeline schema --output
pipelines/configs/heads-config.schema.json`).

This module imports no TensorFlow (only `build()` does): `heads-pipeline
check` reads configs and data without it.
"""

import difflib
import json
import os
import re
import typing
from typing import Dict, List, Literal, Optional, Union

import pydantic
from pydantic import json_schema as pydantic_json_schema

HeadType = Literal['regression', 'poisson_regression', 'logistic_regression', 'binary',
                   'multi_class', 'multi_label']
FeatureKind = Literal['numeric', 'categorical_vocabulary', 'categorical_hash']
HEAD_TYPES = typing.get_args(HeadType)
FEATURE_KINDS = typing.get_args(FeatureKind)
MISSING_LABEL_POLICIES = ('error', 'mask')
NON_FINITE_POLICIES = ('error', 'impute')
OPTIMIZERS = ('adam', 'sgd', 'adagrad', 'rmsprop')
DIRECTIONS = ('higher_is_better', 'lower_is_better')
# heads.distribute.STRATEGIES, restated so this module needs no TensorFlow
# (tests/test_config.py checks that the two agree).
DISTRIBUTIONS = ('auto', 'default', 'mirrored', 'multi_worker', 'tpu')
# heads.loss_balancing's methods and their parameters, restated for the same
# reason (tests/test_config.py checks that they agree).
LOSS_BALANCING_PARAMETERS = {'fixed': (), 'uncertainty': ('initial_log_variance',),
                             'dwa': ('temperature',), 'normalize': ('decay',)}
LOSS_BALANCING_METHODS = tuple(LOSS_BALANCING_PARAMETERS)

CLASS_HEADS = ('binary', 'multi_class', 'multi_label')
FLOAT_LABEL_HEADS = ('regression', 'poisson_regression', 'logistic_regression')
_HEAD_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')
SCHEMA_FILENAME = 'heads-config.schema.json'


class ConfigError(ValueError):
  """A config value is invalid; the message starts with the field path.

  Takes a message, or a list of (path, message): `problems` holds every one
  found, and the error's message is the first.
  """

  def __init__(self, problems):
    self.problems = [('', problems)] if isinstance(problems, str) else list(problems)
    super().__init__(_join(*self.problems[0]))


def _join(path, message):
  return '{}: {}'.format(path, message) if path else message


class _Invalid(ValueError):
  """Raised by a section's rules: `field` is the path below the section."""

  def __init__(self, field, message):
    super().__init__(message)
    self.field = field
    self.message = message


def _field(default=..., description=None, **constraints):
  return pydantic.Field(default, description=description, **constraints)


class _Section(pydantic.BaseModel):
  """A config mapping: unknown keys are errors, types are strict (no '5' for 5)."""

  model_config = pydantic.ConfigDict(extra='forbid', frozen=True, strict=True)

  @pydantic.model_validator(mode='before')
  @classmethod
  def _fill_defaults(cls, data):
    if not isinstance(data, dict):
      return data
    # `key:` with no value in YAML means the default, as if the key were absent.
    return cls._defaults({key: value for key, value in data.items() if value is not None})

  @classmethod
  def _defaults(cls, data):
    """Defaults that depend on other fields, filled in the raw mapping."""
    return data

  @pydantic.model_validator(mode='after')
  def _check_rules(self):
    self._rules()
    return self

  def _rules(self):
    """Rules across fields: raise _Invalid(field, message)."""


class HeadConfig(_Section):
  """One head: what it predicts (label), how (type and arguments), and its weight."""

  name: str = _field(description='Head name: metric keys, signatures and thresholds use it.')
  type: HeadType = _field(description='The head class.')
  label: str = _field(None, 'Label column (default: the head name).')
  weight: float = _field(1.0, "Weight of the head's loss in the sum over heads.", ge=0,
                         allow_inf_nan=False)
  n_classes: Optional[int] = _field(
      None, 'Classes of multi_class / multi_label heads (default: the vocabulary size).')
  label_vocabulary: Optional[List[str]] = _field(
      None, 'Label values of a class head, in class-id order; without it labels are ids.')
  label_dimension: int = _field(1, 'Values per label (regression heads).', ge=1)
  thresholds: List[float] = _field(
      [], 'Extra probability thresholds for accuracy/precision/recall metrics.')
  weight_column: Optional[str] = _field(None, 'Column of per-example weights (default 1).')
  missing_label: Literal[MISSING_LABEL_POLICIES] = _field(
      'error', "'mask': rows without this label train the other heads only.")
  classes_for_class_based_metrics: Optional[List[Union[int, str]]] = _field(
      None, 'Classes (ids or vocabulary values) that get per-class metrics (multi_label).')
  label_separator: Optional[str] = _field(
      None, "Separator of several labels in one cell, e.g. '|' (multi_label).",
      min_length=1)

  @classmethod
  def _defaults(cls, data):
    if 'label' not in data and isinstance(data.get('name'), str):
      data['label'] = data['name']
    vocabulary = data.get('label_vocabulary')
    if 'n_classes' not in data:
      if data.get('type') == 'binary':
        data['n_classes'] = 2
      elif data.get('type') in ('multi_class', 'multi_label') and isinstance(vocabulary, list):
        data['n_classes'] = len(vocabulary)
    return data

  def _rules(self):
    kind, n_classes, vocabulary = self.type, self.n_classes, self.label_vocabulary
    if not _HEAD_NAME.match(self.name):
      raise _Invalid('name', 'must use letters, digits, _ . - only (it names signatures and '
                             'metrics), got {!r}'.format(self.name))
    if vocabulary is not None and len(set(vocabulary)) != len(vocabulary):
      raise _Invalid('label_vocabulary', 'has duplicate values: {}'.format(vocabulary))
    if vocabulary is not None and kind not in CLASS_HEADS:
      raise _Invalid('label_vocabulary', 'does not apply to {} heads'.format(kind))
    if kind == 'binary' and n_classes != 2:
      raise _Invalid('n_classes', 'must be 2 (or absent) for binary, got {}'.format(n_classes))
    if kind == 'binary' and vocabulary is not None and len(vocabulary) != 2:
      raise _Invalid('label_vocabulary', 'must have 2 values for binary, got {}'.format(
          len(vocabulary)))
    if kind == 'multi_class' and (n_classes is None or n_classes <= 2):
      raise _Invalid('n_classes', 'must be > 2 for multi_class, got {}'.format(n_classes))
    if kind == 'multi_label' and (n_classes is None or n_classes < 2):
      raise _Invalid('n_classes', 'must be >= 2 for multi_label, got {}'.format(n_classes))
    if kind in FLOAT_LABEL_HEADS and n_classes is not None:
      raise _Invalid('n_classes', 'does not apply to {} heads'.format(kind))
    if vocabulary is not None and len(vocabulary) != n_classes:
      raise _Invalid('label_vocabulary', 'has {} values but n_classes is {}'.format(
          len(vocabulary), n_classes))
    if self.label_dimension != 1 and kind not in ('regression', 'poisson_regression'):
      raise _Invalid('label_dimension', 'must be 1 for {} heads, or >= 1 for regression, '
                     'got {}'.format(kind, self.label_dimension))
    for i, threshold in enumerate(self.thresholds):
      if not 0 < threshold < 1:
        raise _Invalid('thresholds[{}]'.format(i), 'must be in (0, 1), got {!r}'.format(
            threshold))
    if self.thresholds and kind not in ('binary', 'multi_label'):
      raise _Invalid('thresholds', 'applies to binary and multi_label heads only')
    self._check_metric_classes()
    if self.label_separator is not None and kind != 'multi_label':
      raise _Invalid('label_separator', 'applies to multi_label heads only')
    if self.label_separator is not None and not vocabulary:
      raise _Invalid('label_separator', 'needs label_vocabulary (the parts of a cell are '
                                        'looked up in it)')

  def _check_metric_classes(self):
    classes = self.classes_for_class_based_metrics
    if classes is None:
      return
    if self.type != 'multi_label':
      raise _Invalid('classes_for_class_based_metrics', 'applies to multi_label heads only')
    for i, value in enumerate(classes):
      field = 'classes_for_class_based_metrics[{}]'.format(i)
      if isinstance(value, str) and value not in (self.label_vocabulary or []):
        raise _Invalid(field, '{!r} is not in label_vocabulary {}'.format(
            value, self.label_vocabulary))
      if isinstance(value, int) and not 0 <= value < self.n_classes:
        raise _Invalid(field, 'must be a class id in [0, {}), got {}'.format(
            self.n_classes, value))

  @property
  def missing_label_value(self):
    """Sentinel that marks a missing label in parsed data (None: labels required)."""
    if self.missing_label != 'mask':
      return None
    if self.type in FLOAT_LABEL_HEADS:
      return float('nan')
    if self.label_vocabulary:
      return ''
    return -1

  @property
  def label_is_string(self):
    return bool(self.label_vocabulary)

  @property
  def label_is_float(self):
    return self.type in FLOAT_LABEL_HEADS

  def build(self):
    """The `heads` head this entry describes."""
    import heads  # pylint: disable=g-import-not-at-top
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


class FeatureConfig(_Section):
  """One input feature of the body and how it is encoded (a bare name is a numeric feature)."""

  name: str = _field(description='Column name.')
  kind: FeatureKind = _field('numeric', 'How the feature is encoded.')
  vocabulary: Optional[List[Union[str, int]]] = _field(
      None, 'Values of a categorical_vocabulary feature; others share one bucket.')
  hash_buckets: Optional[int] = _field(None, 'Buckets of a categorical_hash feature.', gt=0)
  embedding_dim: Optional[int] = _field(
      None, 'Embed a categorical feature in this many dimensions (default: one-hot).', gt=0)
  dtype: Literal['float32', 'int64', 'string'] = _field(
      None, "The model input's dtype (default: float32 for numeric, string for categorical); "
            'integer columns are converted to it.')
  non_finite: Literal[NON_FINITE_POLICIES] = _field(
      'error', "NaN or inf in a float32 numeric feature: 'error' names the column and rows, "
               "'impute' treats them as missing values.")

  @classmethod
  def _defaults(cls, data):
    if 'dtype' not in data:
      data['dtype'] = 'float32' if data.get('kind', 'numeric') == 'numeric' else 'string'
    return data

  def _rules(self):
    if self.kind == 'categorical_vocabulary' and not self.vocabulary:
      raise _Invalid('vocabulary', 'is required for categorical_vocabulary features')
    if self.vocabulary and len(set(map(str, self.vocabulary))) != len(self.vocabulary):
      raise _Invalid('vocabulary', 'has duplicate values: {}'.format(self.vocabulary))
    if self.kind == 'categorical_hash' and not self.hash_buckets:
      raise _Invalid('hash_buckets', 'is required for categorical_hash features')
    if self.kind == 'numeric' and (self.vocabulary or self.hash_buckets or self.embedding_dim):
      raise _Invalid('', 'numeric features take no vocabulary, hash_buckets or embedding_dim')
    if self.kind == 'categorical_hash' and self.vocabulary:
      raise _Invalid('vocabulary', 'applies to categorical_vocabulary features only')
    if self.kind == 'categorical_vocabulary' and self.hash_buckets:
      raise _Invalid('hash_buckets', 'applies to categorical_hash features only')
    allowed = ('float32', 'int64') if self.kind == 'numeric' else ('string', 'int64')
    if self.dtype not in allowed:
      raise _Invalid('dtype', 'must be one of {} for {} features, got {!r}'.format(
          list(allowed), self.kind, self.dtype))
    if self.non_finite != 'error' and (self.kind != 'numeric' or self.dtype != 'float32'):
      raise _Invalid('non_finite', 'applies to float32 numeric features only')


def _feature_from_name(value):
  return {'name': value} if isinstance(value, str) else value


Feature = typing.Annotated[FeatureConfig, pydantic.BeforeValidator(
    _feature_from_name, json_schema_input_type=Union[str, FeatureConfig])]


class ModelConfig(_Section):
  """The body: input features, hidden layers and dropout."""

  features: List[Feature] = _field(description='Input features (columns).', min_length=1)
  hidden_units: List[typing.Annotated[int, pydantic.Field(gt=0)]] = _field(
      [32, 16], 'Units of each hidden ReLU layer.')
  dropout: float = _field(0.0, 'Dropout rate after each hidden layer.', ge=0, lt=1)

  def _rules(self):
    names = [feature.name for feature in self.features]
    for i, name in enumerate(names):
      if name in names[:i]:
        raise _Invalid('features[{}].name'.format(i), 'duplicate feature {!r}'.format(name))


class LossBalancingConfig(_Section):
  """How training weighs the head losses (heads/loss_balancing.py); a bare method name works too.

  A parameter left out (None) takes the method's default.
  """

  method: Literal[LOSS_BALANCING_METHODS] = _field(
      'fixed', "'fixed': the head weights as given; 'normalize', 'uncertainty', 'dwa': weights "
               "from the losses (README: Balancing the head losses).")
  decay: Optional[float] = _field(
      None, 'normalize: decay of the running average of each loss (default 0.99).', ge=0, lt=1)
  initial_log_variance: Optional[float] = _field(
      None, "uncertainty: start of every learned log-variance (default: the optimum for each "
            "head's first batch; the paper starts at 0).", allow_inf_nan=False)
  temperature: Optional[float] = _field(
      None, 'dwa: softmax temperature T (default 2.0).', gt=0, allow_inf_nan=False)

  def _rules(self):
    allowed = LOSS_BALANCING_PARAMETERS[self.method]
    for name in sum(LOSS_BALANCING_PARAMETERS.values(), ()):
      if getattr(self, name) is not None and name not in allowed:
        raise _Invalid(name, 'is not a parameter of {!r} (its parameters: {})'.format(
            self.method, list(allowed)))

  @property
  def parameters(self):
    """{name: value} of the parameters given."""
    return {name: getattr(self, name) for name in LOSS_BALANCING_PARAMETERS[self.method]
            if getattr(self, name) is not None}

  def build(self):
    """A new balancer for one HeadModel."""
    from heads import loss_balancing  # pylint: disable=g-import-not-at-top
    return loss_balancing.get(dict(self.parameters, method=self.method))


def _method_from_name(value):
  return {'method': value} if isinstance(value, str) else value


LossBalancing = typing.Annotated[LossBalancingConfig, pydantic.BeforeValidator(
    _method_from_name,
    json_schema_input_type=Union[Literal[LOSS_BALANCING_METHODS], LossBalancingConfig])]


class TrainingConfig(_Section):
  """How the Trainer trains: steps, batches, optimizer and distribution."""

  train_steps: int = _field(1000, 'Training steps (batches).', gt=0)
  eval_steps: int = _field(100, 'Validation steps after each epoch.', gt=0)
  batch_size: int = _field(32, 'Examples per step (over all replicas).', gt=0)
  optimizer: Literal[OPTIMIZERS] = _field('adam', 'Keras optimizer.')
  learning_rate: float = _field(0.01, 'Learning rate.', gt=0)
  distribution: Literal[DISTRIBUTIONS] = _field(
      'auto', 'tf.distribute strategy (heads.distribute.strategy_from_setting).')
  steps_per_execution: int = _field(1, 'Steps per tf.function call.', gt=0)
  seed: int = _field(0, 'Random seed.')
  loss_balancing: LossBalancing = _field(
      LossBalancingConfig(), 'How the head losses are weighed: a method name or '
                             '{method: ..., <parameter>: ...}.')


class ExportConfig(_Section):
  """The exported SavedModel."""

  serving_default: Optional[str] = _field(
      None, 'Head whose outputs the serving_default signature returns (default: the first).')


class ChangeThreshold(_Section):
  """A change against the baseline (the last blessed model)."""

  direction: Literal[DIRECTIONS] = _field(
      description='Which way is better; alone it means "no worse than the baseline".')
  absolute: Optional[float] = _field(None, 'Allowed absolute change.')
  relative: Optional[float] = _field(None, 'Allowed relative change.')


class MetricThreshold(_Section):
  """A per-head quality gate: absolute bounds and/or a change against the baseline."""

  metric: str = _field(description="A metric of the head (eval_config.head_metric_names).")
  lower_bound: Optional[float] = _field(None, 'The metric must be >= this.')
  upper_bound: Optional[float] = _field(None, 'The metric must be <= this.')
  change: Optional[ChangeThreshold] = _field(None, 'A change against the baseline.')

  def _rules(self):
    if self.lower_bound is None and self.upper_bound is None and self.change is None:
      raise _Invalid('', 'needs lower_bound, upper_bound or change.direction')
    if (self.lower_bound is not None and self.upper_bound is not None
        and self.lower_bound > self.upper_bound):
      raise _Invalid('lower_bound', 'must be <= upper_bound, got {} > {}'.format(
          self.lower_bound, self.upper_bound))

  @property
  def change_direction(self):
    return self.change.direction if self.change else None

  @property
  def change_absolute(self):
    return self.change.absolute if self.change else None

  @property
  def change_relative(self):
    return self.change.relative if self.change else None


class EvaluationConfig(_Section):
  """The Evaluator: per-head blessing thresholds and slices."""

  thresholds: Dict[str, List[MetricThreshold]] = _field(
      {}, 'Blessing gates per head name; a model is blessed when every head passes.')
  slicing: List[List[str]] = _field(
      [[]], 'Slices: each a list of feature columns ([] = all examples).')
  engine: Literal['batched', 'tfma'] = _field(
      'batched', 'batched: the heads\' own metrics on batches (components/evaluation); tfma: '
                 "TFX's TFMA Evaluator, the cross-check.")


class HeadsConfig(_Section):
  """The whole config: heads, model body, training, export and evaluation."""

  heads: List[HeadConfig] = _field(description='The heads sharing one body.', min_length=1)
  model: ModelConfig = _field(description='The shared body.')
  training: TrainingConfig = _field(TrainingConfig(), 'Training settings.')
  export: ExportConfig = _field(ExportConfig(), 'Export settings.')
  evaluation: EvaluationConfig = _field(EvaluationConfig(), 'Evaluator settings.')

  def _rules(self):
    names = [head.name for head in self.heads]
    for i, name in enumerate(names):
      if name in names[:i]:
        raise _Invalid('heads[{}].name'.format(i), 'duplicate head name {!r}'.format(name))
    labels = [head.label for head in self.heads]
    for i, label in enumerate(labels):
      if label in labels[:i]:
        raise _Invalid('heads[{}].label'.format(i), 'column {!r} is already the label of '
                       'heads[{}]'.format(label, labels.index(label)))
    for i, feature in enumerate(self.model.features):
      if feature.name in labels:
        raise _Invalid('model.features[{}].name'.format(i), '{!r} is a head label; a label '
                       'cannot be an input feature'.format(feature.name))
    serving_default = self.export.serving_default
    if serving_default is not None and serving_default not in names:
      raise _Invalid('export.serving_default', 'must name a head {}, got {!r}'.format(
          names, serving_default))
    for head_name in self.evaluation.thresholds:
      if head_name not in names:
        raise _Invalid('evaluation.thresholds.{}'.format(head_name),
                       'is not a head name {}'.format(names))

  def head(self, name):
    for head in self.heads:
      if head.name == name:
        return head
    raise KeyError(name)

  def build_head(self):
    """A MultiHead of all configured heads (head weights from the config)."""
    import heads  # pylint: disable=g-import-not-at-top
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
    return self.model_dump()


# ----------------------------------------------------------------------------
# Errors with field paths.

def _path(loc):
  path = ''
  for part in loc:
    if isinstance(part, int):
      path += '[{}]'.format(part)
    elif part:
      path += '.{}'.format(part) if path else str(part)
  return path


def _model_at(loc):
  """The section class at `loc` (a path into HeadsConfig), for 'known fields' hints."""
  model = HeadsConfig
  for part in loc:
    if isinstance(part, str) and part in model.model_fields:
      model = _inner_model(model.model_fields[part].annotation) or model
  return model


def _inner_model(annotation):
  if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
    return annotation
  for arg in typing.get_args(annotation):
    found = _inner_model(arg)
    if found:
      return found
  return None


_TYPE_NAMES = {'int_type': 'an integer', 'float_type': 'a number', 'string_type': 'a string',
               'bool_type': 'true or false', 'list_type': 'a list', 'dict_type': 'a mapping',
               'model_type': 'a mapping', 'model_attributes_type': 'a mapping'}
_BOUNDS = {'greater_than': ('>', 'gt'), 'greater_than_equal': ('>=', 'ge'),
           'less_than': ('<', 'lt'), 'less_than_equal': ('<=', 'le')}


def _problem(error):
  """(path, message) of one pydantic error dict."""
  kind, loc, ctx = error['type'], error['loc'], error.get('ctx') or {}
  value = error.get('input')
  if kind == 'value_error' and isinstance(ctx.get('error'), _Invalid):
    return _below(_path(loc), ctx['error'].field), ctx['error'].message
  if kind == 'missing':
    return _path(loc), 'is required'
  if kind == 'extra_forbidden':
    known = sorted(_model_at(loc[:-1]).model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1) or [
        name for name in known if name.startswith(str(loc[-1]))]
    hint = "did you mean '{}'? ".format(close[0]) if close else ''
    return _path(loc), 'unknown field ({}known: {})'.format(hint, known)
  if kind == 'literal_error':
    return _path(loc), 'must be one of {}, got {!r}'.format(ctx['expected'], value)
  if kind == 'model_type' and ctx.get('class_name') == 'FeatureConfig':
    return _path(loc), 'must be a column name or a mapping, got {!r}'.format(value)
  if kind == 'model_type' and ctx.get('class_name') == 'LossBalancingConfig':
    return _path(loc), 'must be a method name or a mapping, got {!r}'.format(value)
  if kind in _TYPE_NAMES:
    return _path(loc), 'must be {}, got {!r}'.format(_TYPE_NAMES[kind], value)
  if kind in _BOUNDS:
    sign, key = _BOUNDS[kind]
    return _path(loc), 'must be {} {}, got {!r}'.format(sign, ctx[key], value)
  if kind == 'finite_number':
    return _path(loc), 'must be a finite number, got {!r}'.format(value)
  if kind in ('too_short', 'string_too_short'):
    return _path(loc), 'must not be empty'
  return _path(loc), '{}, got {!r}'.format(error['msg'], value)


def _below(path, field):
  if not path or not field:
    return path or field
  return path + field if field.startswith('[') else '{}.{}'.format(path, field)


def parse_config(data):
  """Validates a config mapping and returns a HeadsConfig (ConfigError on any problem)."""
  if not isinstance(data, dict):
    raise ConfigError([('', 'the config must be a mapping, got {}'.format(
        type(data).__name__))])
  try:
    return HeadsConfig.model_validate(data)
  except pydantic.ValidationError as error:
    raise ConfigError([_problem(e) for e in error.errors()]) from None


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
    raise ConfigError([(source, 'cannot parse: {}'.format(
        ' '.join(str(error).split())))]) from None
  return data


# ----------------------------------------------------------------------------
# JSON Schema.

class _NoTitles(pydantic_json_schema.GenerateJsonSchema):
  """Property titles only repeat the key; descriptions say what a field is."""

  def field_title_should_be_set(self, schema):
    return False


def json_schema():
  """The JSON Schema of a config file, from the models above (editors validate with it)."""
  schema = HeadsConfig.model_json_schema(schema_generator=_NoTitles)
  for section in schema['$defs'].values():
    for prop in section['properties'].values():
      if prop.get('default', 0) is None and 'anyOf' not in prop:
        del prop['default']  # filled from other fields (e.g. label: the head name)
  return {'$schema': 'https://json-schema.org/draft/2020-12/schema',
          'title': 'tf-heads heads config',
          **{key: value for key, value in schema.items() if key != 'title'}}


def json_schema_text():
  return json.dumps(json_schema(), indent=2, sort_keys=True) + '\n'


def schema_path():
  """Where the packaged JSON Schema file is (pipelines/configs/heads-config.schema.json)."""
  from importlib import resources  # pylint: disable=g-import-not-at-top
  return str(resources.files('pipelines').joinpath('configs', SCHEMA_FILENAME))
