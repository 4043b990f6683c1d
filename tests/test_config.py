"""Every validation rule of the heads config, each with a config that breaks only that rule.

`RULES` lists one case per rule: a change to the valid `BASE` config, and the
field path and message the error must have. Removing any rule from
components/config.py makes its case fail; `python -m dev.config_mutations`
proves it by deleting each rule in turn.
"""
import copy
import json
import os

import jsonschema
import pytest
import yaml

from components import config as config_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, 'pipelines', 'configs')
SCHEMA_PATH = os.path.join(CONFIG_DIR, config_lib.SCHEMA_FILENAME)

BASE = {
    'heads': [
        {'name': 'kind', 'type': 'multi_class', 'label': 'kind',
         'label_vocabulary': ['a', 'b', 'c']},
        {'name': 'click', 'type': 'binary', 'label': 'click', 'thresholds': [0.3],
         'weight_column': 'w', 'missing_label': 'mask'},
        {'name': 'price', 'type': 'regression', 'label': 'price', 'label_dimension': 2,
         'weight': 0.5},
        {'name': 'topics', 'type': 'multi_label', 'label': 'topics',
         'label_vocabulary': ['x', 'y', 'z'], 'classes_for_class_based_metrics': ['y', 2],
         'label_separator': '|'},
    ],
    'model': {
        'features': ['f', {'name': 'g', 'kind': 'categorical_vocabulary', 'vocabulary': ['u', 'v']},
                     {'name': 'h', 'kind': 'categorical_hash', 'hash_buckets': 4,
                      'embedding_dim': 2}],
        'hidden_units': [8],
        'dropout': 0.1,
    },
    'training': {'train_steps': 10, 'eval_steps': 2, 'batch_size': 4, 'optimizer': 'sgd',
                 'learning_rate': 0.1, 'distribution': 'default', 'steps_per_execution': 2,
                 'seed': 3, 'loss_balancing': {'method': 'dwa', 'temperature': 3}},
    'export': {'serving_default': 'click'},
    'evaluation': {
        'thresholds': {'kind': [{'metric': 'accuracy', 'lower_bound': 0.5, 'upper_bound': 0.9,
                                 'change': {'direction': 'higher_is_better',
                                            'absolute': -0.1}}]},
        'slicing': [[], ['g']],
    },
}

DELETE = object()


def change(*path_and_value):
  """A change to the config mapping: set (or DELETE) the value at a key path."""
  *path, value = path_and_value

  def apply(data):
    target = data
    for key in path[:-1]:
      target = target[key]
    if value is DELETE:
      del target[path[-1]]
    else:
      target[path[-1]] = value
    return data

  return apply


def head(i, key, value):
  return change('heads', i, key, value)


def feature(i, key, value):
  return change('model', 'features', i, key, value)


def threshold(key, value):
  return change('evaluation', 'thresholds', 'kind', 0, key, value)


# (rule, change to BASE, field path of the error, start of its message)
RULES = [
    ('config is a mapping', lambda d: [], '', 'the config must be a mapping'),
    ('unknown top-level field', change('trainng', {}), 'trainng',
     "unknown field (did you mean 'training'?"),
    ('heads required', change('heads', DELETE), 'heads', 'is required'),
    ('heads is a list', change('heads', {}), 'heads', 'must be a list'),
    ('heads not empty', change('heads', []), 'heads', 'must not be empty'),
    ('head is a mapping', change('heads', 0, 'kind'), 'heads[0]', 'must be a mapping'),
    ('head name required', head(0, 'name', DELETE), 'heads[0].name', 'is required'),
    ('head name is a string', head(0, 'name', 5), 'heads[0].name', 'must be a string, got 5'),
    ('head name characters', head(0, 'name', 'my head'), 'heads[0].name',
     'must use letters, digits'),
    ('head type required', head(0, 'type', DELETE), 'heads[0].type', 'is required'),
    ('head type choice', head(0, 'type', 'ranking'), 'heads[0].type', 'must be one of'),
    ('label is a string', head(0, 'label', 3), 'heads[0].label', 'must be a string'),
    ('weight >= 0', head(2, 'weight', -1), 'heads[2].weight', 'must be >= 0'),
    ('weight finite', head(2, 'weight', float('inf')), 'heads[2].weight',
     'must be a finite number'),
    ('weight not a bool', head(2, 'weight', True), 'heads[2].weight', 'must be a number'),
    ('weight not a string', head(2, 'weight', '1'), 'heads[2].weight', 'must be a number'),
    ('n_classes is an integer', head(0, 'n_classes', 3.0), 'heads[0].n_classes',
     'must be an integer'),
    ('label_vocabulary is a list', head(0, 'label_vocabulary', 'abc'),
     'heads[0].label_vocabulary', 'must be a list'),
    ('label_vocabulary holds strings', head(0, 'label_vocabulary', [1, 'b', 'c']),
     'heads[0].label_vocabulary[0]', 'must be a string, got 1'),
    ('label_vocabulary without duplicates', head(0, 'label_vocabulary', ['a', 'b', 'a']),
     'heads[0].label_vocabulary', 'has duplicate values'),
    ('label_vocabulary for class heads only', head(2, 'label_vocabulary', ['a', 'b']),
     'heads[2].label_vocabulary', 'does not apply to regression heads'),
    ('binary n_classes is 2', head(1, 'n_classes', 3), 'heads[1].n_classes',
     'must be 2 (or absent) for binary, got 3'),
    ('binary vocabulary has 2 values', head(1, 'label_vocabulary', ['a', 'b', 'c']),
     'heads[1].label_vocabulary', 'must have 2 values for binary, got 3'),
    ('multi_class n_classes > 2', head(0, 'n_classes', 2), 'heads[0].n_classes',
     'must be > 2 for multi_class, got 2'),
    ('multi_class needs n_classes', head(0, 'label_vocabulary', DELETE), 'heads[0].n_classes',
     'must be > 2 for multi_class, got None'),
    ('multi_label n_classes >= 2',
     lambda d: head(3, 'label_vocabulary', ['x'])(head(3, 'label_separator', DELETE)(
         head(3, 'classes_for_class_based_metrics', DELETE)(d))),
     'heads[3].n_classes', 'must be >= 2 for multi_label, got 1'),
    ('n_classes for class heads only', head(2, 'n_classes', 3), 'heads[2].n_classes',
     'does not apply to regression heads'),
    ('label_vocabulary matches n_classes', head(0, 'n_classes', 4), 'heads[0].label_vocabulary',
     'has 3 values but n_classes is 4'),
    ('label_dimension >= 1', head(2, 'label_dimension', 0), 'heads[2].label_dimension',
     'must be >= 1, got 0'),
    ('label_dimension 1 for class heads', head(1, 'label_dimension', 2),
     'heads[1].label_dimension', 'must be 1 for binary heads'),
    ('thresholds < 1', head(1, 'thresholds', [0.5, 1]), 'heads[1].thresholds[1]',
     'must be in (0, 1), got 1'),
    ('thresholds > 0', head(1, 'thresholds', [0]), 'heads[1].thresholds[0]',
     'must be in (0, 1), got 0'),
    ('thresholds are numbers', head(1, 'thresholds', ['0.5']), 'heads[1].thresholds[0]',
     'must be a number'),
    ('thresholds for binary and multi_label', head(0, 'thresholds', [0.5]),
     'heads[0].thresholds', 'applies to binary and multi_label heads only'),
    ('metric classes for multi_label only', head(1, 'classes_for_class_based_metrics', [1]),
     'heads[1].classes_for_class_based_metrics', 'applies to multi_label heads only'),
    ('metric class names in the vocabulary', head(3, 'classes_for_class_based_metrics', ['w']),
     'heads[3].classes_for_class_based_metrics[0]', "'w' is not in label_vocabulary"),
    ('metric class ids in range', head(3, 'classes_for_class_based_metrics', [3]),
     'heads[3].classes_for_class_based_metrics[0]', 'must be a class id in [0, 3), got 3'),
    ('weight_column is a string', head(1, 'weight_column', 1), 'heads[1].weight_column',
     'must be a string'),
    ('missing_label choice', head(1, 'missing_label', 'skip'), 'heads[1].missing_label',
     'must be one of'),
    ('unknown head field', head(0, 'n_clases', 3), 'heads[0].n_clases',
     "unknown field (did you mean 'n_classes'?"),
    ('label_separator for multi_label only', head(1, 'label_separator', '|'),
     'heads[1].label_separator', 'applies to multi_label heads only'),
    ('label_separator needs a vocabulary',
     lambda d: head(3, 'label_vocabulary', DELETE)(head(3, 'n_classes', 3)(
         head(3, 'classes_for_class_based_metrics', DELETE)(d))),
     'heads[3].label_separator', 'needs label_vocabulary'),
    ('label_separator not empty', head(3, 'label_separator', ''), 'heads[3].label_separator',
     'must not be empty'),
    ('head names differ', head(1, 'name', 'kind'), 'heads[1].name',
     "duplicate head name 'kind'"),
    ('label columns differ', head(1, 'label', 'kind'), 'heads[1].label',
     "column 'kind' is already the label of heads[0]"),
    ('model required', change('model', DELETE), 'model', 'is required'),
    ('unknown model field', change('model', 'layers', [3]), 'model.layers', 'unknown field'),
    ('features required', change('model', 'features', DELETE), 'model.features', 'is required'),
    ('features not empty', change('model', 'features', []), 'model.features',
     'must not be empty'),
    ('feature is a name or a mapping', change('model', 'features', 0, 5), 'model.features[0]',
     'must be a column name or a mapping, got 5'),
    ('feature name required', change('model', 'features', 0, {'kind': 'numeric'}),
     'model.features[0].name', 'is required'),
    ('feature kind choice', feature(1, 'kind', 'text'), 'model.features[1].kind',
     'must be one of'),
    ('vocabulary required', feature(1, 'vocabulary', DELETE), 'model.features[1].vocabulary',
     'is required for categorical_vocabulary features'),
    ('vocabulary without duplicates', feature(1, 'vocabulary', ['u', 'u']),
     'model.features[1].vocabulary', 'has duplicate values'),
    ('hash_buckets required', feature(2, 'hash_buckets', DELETE),
     'model.features[2].hash_buckets', 'is required for categorical_hash features'),
    ('hash_buckets > 0', feature(2, 'hash_buckets', 0), 'model.features[2].hash_buckets',
     'must be > 0, got 0'),
    ('embedding_dim > 0', feature(2, 'embedding_dim', 0), 'model.features[2].embedding_dim',
     'must be > 0, got 0'),
    ('numeric takes no encoding', change('model', 'features', 0,
                                         {'name': 'f', 'embedding_dim': 2}),
     'model.features[0]', 'numeric features take no vocabulary'),
    ('vocabulary for categorical_vocabulary only', feature(2, 'vocabulary', ['u']),
     'model.features[2].vocabulary', 'applies to categorical_vocabulary features only'),
    ('hash_buckets for categorical_hash only', feature(1, 'hash_buckets', 4),
     'model.features[1].hash_buckets', 'applies to categorical_hash features only'),
    ('dtype choice', feature(1, 'dtype', 'float64'), 'model.features[1].dtype',
     'must be one of'),
    ('numeric dtype', change('model', 'features', 0, {'name': 'f', 'dtype': 'string'}),
     'model.features[0].dtype', "must be one of ['float32', 'int64'] for numeric"),
    ('categorical dtype', feature(1, 'dtype', 'float32'), 'model.features[1].dtype',
     "must be one of ['string', 'int64'] for categorical_vocabulary"),
    ('non_finite choice', change('model', 'features', 0, {'name': 'f', 'non_finite': 'drop'}),
     'model.features[0].non_finite', "must be one of 'error' or 'impute', got 'drop'"),
    ('non_finite for float numeric only', feature(1, 'non_finite', 'impute'),
     'model.features[1].non_finite', 'applies to float32 numeric features only'),
    ('non_finite not for int64', change('model', 'features', 0,
                                        {'name': 'f', 'dtype': 'int64', 'non_finite': 'impute'}),
     'model.features[0].non_finite', 'applies to float32 numeric features only'),
    ('unknown feature field', feature(2, 'buckets', 4), 'model.features[2].buckets',
     "unknown field (did you mean 'hash_buckets'?"),
    ('feature names differ', change('model', 'features', 1, 'f'), 'model.features[1].name',
     "duplicate feature 'f'"),
    ('a label is no feature', change('model', 'features', 0, 'price'),
     'model.features[0].name', "'price' is a head label"),
    ('hidden_units > 0', change('model', 'hidden_units', [8, 0]), 'model.hidden_units[1]',
     'must be > 0, got 0'),
    ('hidden_units are integers', change('model', 'hidden_units', [True]),
     'model.hidden_units[0]', 'must be an integer'),
    ('dropout < 1', change('model', 'dropout', 1), 'model.dropout', 'must be < 1'),
    ('dropout >= 0', change('model', 'dropout', -0.1), 'model.dropout', 'must be >= 0'),
    ('training is a mapping', change('training', 5), 'training', 'must be a mapping'),
    ('train_steps > 0', change('training', 'train_steps', 0), 'training.train_steps',
     'must be > 0, got 0'),
    ('eval_steps > 0', change('training', 'eval_steps', -1), 'training.eval_steps',
     'must be > 0, got -1'),
    ('batch_size > 0', change('training', 'batch_size', 0), 'training.batch_size',
     'must be > 0'),
    ('optimizer choice', change('training', 'optimizer', 'adamw'), 'training.optimizer',
     "must be one of 'adam', 'sgd', 'adagrad' or 'rmsprop', got 'adamw'"),
    ('learning_rate > 0', change('training', 'learning_rate', 0), 'training.learning_rate',
     'must be > 0'),
    ('distribution choice', change('training', 'distribution', 'gpu'),
     'training.distribution', 'must be one of'),
    ('steps_per_execution > 0', change('training', 'steps_per_execution', 0),
     'training.steps_per_execution', 'must be > 0'),
    ('seed is an integer', change('training', 'seed', 'x'), 'training.seed',
     'must be an integer'),
    ('unknown training field', change('training', 'epochs', 3), 'training.epochs',
     'unknown field'),
    ('loss_balancing is a name or a mapping', change('training', 'loss_balancing', ['dwa']),
     'training.loss_balancing', "must be a method name or a mapping, got ['dwa']"),
    ('loss_balancing method choice', change('training', 'loss_balancing', 'gradnorm'),
     'training.loss_balancing.method',
     "must be one of 'fixed', 'uncertainty', 'dwa' or 'normalize', got 'gradnorm'"),
    ('temperature > 0', change('training', 'loss_balancing', 'temperature', 0),
     'training.loss_balancing.temperature', 'must be > 0'),
    ('temperature finite', change('training', 'loss_balancing', 'temperature', float('inf')),
     'training.loss_balancing.temperature', 'must be a finite number'),
    ('decay < 1', change('training', 'loss_balancing', {'method': 'normalize', 'decay': 1}),
     'training.loss_balancing.decay', 'must be < 1'),
    ('decay >= 0', change('training', 'loss_balancing', {'method': 'normalize', 'decay': -.1}),
     'training.loss_balancing.decay', 'must be >= 0'),
    ('initial_log_variance finite',
     change('training', 'loss_balancing', {'method': 'uncertainty',
                                           'initial_log_variance': float('nan')}),
     'training.loss_balancing.initial_log_variance', 'must be a finite number'),
    ('parameters of the method only',
     change('training', 'loss_balancing', {'method': 'normalize', 'temperature': 2}),
     'training.loss_balancing.temperature',
     "is not a parameter of 'normalize' (its parameters: ['decay'])"),
    ('unknown loss_balancing field', change('training', 'loss_balancing', 'temp', 2),
     'training.loss_balancing.temp', "unknown field (did you mean 'temperature'?"),
    ('serving_default names a head', change('export', 'serving_default', 'nope'),
     'export.serving_default', "must name a head ['kind', 'click', 'price', 'topics']"),
    ('unknown export field', change('export', 'format', 'x'), 'export.format', 'unknown field'),
    ('thresholds are per head name', change('evaluation', 'thresholds', 'kid', []),
     'evaluation.thresholds.kid', 'is not a head name'),
    ('head thresholds are a list', change('evaluation', 'thresholds', 'kind', {}),
     'evaluation.thresholds.kind', 'must be a list'),
    ('threshold metric required', threshold('metric', DELETE),
     'evaluation.thresholds.kind[0].metric', 'is required'),
    ('threshold needs a bound or a direction',
     change('evaluation', 'thresholds', 'kind', 0, {'metric': 'accuracy'}),
     'evaluation.thresholds.kind[0]', 'needs lower_bound, upper_bound or change.direction'),
    ('threshold bounds in order', threshold('lower_bound', 0.95),
     'evaluation.thresholds.kind[0].lower_bound', 'must be <= upper_bound'),
    ('threshold bounds are numbers', threshold('upper_bound', 'high'),
     'evaluation.thresholds.kind[0].upper_bound', 'must be a number'),
    ('change needs a direction', threshold('change', {'absolute': 0.1}),
     'evaluation.thresholds.kind[0].change.direction', 'is required'),
    ('change direction choice', threshold('change', {'direction': 'up'}),
     'evaluation.thresholds.kind[0].change.direction', 'must be one of'),
    ('unknown change field', threshold('change', {'direction': 'higher_is_better', 'abs': 1}),
     'evaluation.thresholds.kind[0].change.abs', "unknown field (did you mean 'absolute'?"),
    ('unknown threshold field', threshold('lower', 0.1), 'evaluation.thresholds.kind[0].lower',
     "unknown field (did you mean 'lower_bound'?"),
    ('slicing is a list of lists', change('evaluation', 'slicing', ['g']),
     'evaluation.slicing[0]', 'must be a list'),
    ('slicing keys are strings', change('evaluation', 'slicing', [[1]]),
     'evaluation.slicing[0][0]', 'must be a string'),
    ('unknown evaluation field', change('evaluation', 'slices', []), 'evaluation.slices',
     'unknown field'),
]


def parse(mapping):
  return config_lib.parse_config(mapping)


def test_the_base_config_is_valid():
  config = parse(copy.deepcopy(BASE))
  assert [h.name for h in config.heads] == ['kind', 'click', 'price', 'topics']
  assert config.head('click').n_classes == 2
  assert config.head('kind').n_classes == 3  # from the vocabulary
  assert config.model.features[0] == config_lib.FeatureConfig(name='f')
  assert config.model.features[0].dtype == 'float32'
  assert config.model.features[1].dtype == 'string'
  assert config.evaluation.thresholds['kind'][0].change_direction == 'higher_is_better'


@pytest.mark.parametrize('rule, mutate, path, message', RULES, ids=[r[0] for r in RULES])
def test_each_rule_names_the_field(rule, mutate, path, message):
  del rule
  with pytest.raises(config_lib.ConfigError) as error:
    parse(mutate(copy.deepcopy(BASE)))
  found = error.value.problems
  assert (path, message) in [(p, m[:len(message)]) for p, m in found], found
  expected = '{}: {}'.format(path, message) if path else message
  assert str(error.value).startswith(expected), str(error.value)


def test_defaults_and_null_values():
  mapping = {'heads': [{'name': 'y', 'type': 'regression'}], 'model': {'features': ['x']},
             'training': None, 'evaluation': {'slicing': None}}
  config = parse(mapping)
  assert config.heads[0].label == 'y'  # the head name
  assert config.heads[0].weight == 1.0 and config.heads[0].missing_label == 'error'
  assert config.model.features[0].non_finite == 'error'
  assert config.training == config_lib.TrainingConfig()
  assert config.training.train_steps == 1000 and config.evaluation.slicing == [[]]
  assert config.serving_default_head == 'y'


def test_every_problem_is_listed():
  mapping = change('training', 'train_steps', 0)(change('training', 'batch_size', -1)(
      copy.deepcopy(BASE)))
  with pytest.raises(config_lib.ConfigError) as error:
    parse(mapping)
  assert [p for p, _ in error.value.problems] == ['training.train_steps', 'training.batch_size']


def test_unparseable_text_is_one_line():
  with pytest.raises(config_lib.ConfigError, match=r'^<text>: cannot parse: ') as error:
    config_lib.load_config('heads: [\n  - {name: a')
  assert '\n' not in str(error.value)


def test_distributions_are_the_strategies_of_heads_distribute():
  from heads import distribute  # pylint: disable=g-import-not-at-top
  assert config_lib.DISTRIBUTIONS == distribute.STRATEGIES


def test_loss_balancing_methods_and_parameters_are_those_of_heads():
  from heads import loss_balancing  # pylint: disable=g-import-not-at-top
  assert config_lib.LOSS_BALANCING_METHODS == tuple(loss_balancing.METHODS)
  for method, parameters in config_lib.LOSS_BALANCING_PARAMETERS.items():
    assert parameters == loss_balancing.parameters(method), method


def test_loss_balancing_takes_a_method_name_and_defaults_to_fixed():
  def parsed(value):
    return parse(change('training', 'loss_balancing', value)(copy.deepcopy(BASE))).training

  assert parse(change('training', 'loss_balancing', DELETE)(copy.deepcopy(BASE))).training == (
      parsed('fixed'))
  assert parsed('fixed').loss_balancing == config_lib.LossBalancingConfig()
  assert parsed('normalize').loss_balancing == config_lib.LossBalancingConfig(method='normalize')
  balancing = parse(copy.deepcopy(BASE)).training.loss_balancing
  assert balancing.method == 'dwa' and balancing.parameters == {'temperature': 3.0}
  assert parsed('dwa').loss_balancing.parameters == {}  # the method's default
  # The mapping a config dumps to parses to the same config.
  config = parse(copy.deepcopy(BASE))
  assert parse(config.to_dict()) == config


def test_the_config_module_imports_no_tensorflow():
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  code = ('import sys; from components import config; import pipelines.check, '
          'pipelines.starter; print("tensorflow" in sys.modules)')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT,
                       check=True)
  assert out.stdout.strip() == 'False'


# ----------------------------------------------------------------------------
# The JSON Schema.

def test_the_committed_schema_is_current():
  with open(SCHEMA_PATH) as f:
    committed = f.read()
  assert committed == config_lib.json_schema_text(), (
      'pipelines/configs/{} is stale: regenerate it with `heads-pipeline schema --output '
      'pipelines/configs/{}`'.format(config_lib.SCHEMA_FILENAME, config_lib.SCHEMA_FILENAME))
  assert config_lib.schema_path() == SCHEMA_PATH


@pytest.mark.parametrize('name', sorted(n for n in os.listdir(CONFIG_DIR)
                                        if n.endswith(('.yaml', '.yml'))))
def test_sample_configs_reference_and_pass_the_schema(name):
  with open(os.path.join(CONFIG_DIR, name)) as f:
    text = f.read()
  assert text.startswith('# yaml-language-server: $schema={}\n'.format(
      config_lib.SCHEMA_FILENAME))
  with open(SCHEMA_PATH) as f:
    schema = json.load(f)
  jsonschema.validate(yaml.safe_load(text), schema)


def test_the_schema_accepts_the_base_config_and_rejects_what_the_validator_rejects():
  with open(SCHEMA_PATH) as f:
    schema = json.load(f)
  validator = jsonschema.Draft202012Validator(schema)
  assert not list(validator.iter_errors(BASE))
  for mutate in (change('trainng', {}), head(0, 'type', 'ranking'),
                 change('training', 'train_steps', 0), change('model', 'features', 0, 5),
                 head(2, 'weight', -1), change('heads', [])):
    assert list(validator.iter_errors(mutate(copy.deepcopy(BASE))))
