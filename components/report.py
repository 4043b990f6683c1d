"""Per-head report of an Evaluator output: one HTML page and PNG plots per head.

Reads what either engine writes (TFMA's result files). For each head: its
metrics on the overall slice (with the baseline and the change when there was
one, and each threshold's outcome), ROC and PR curves for classification
heads (plus calibration for binary heads and the confusion matrix for
multi-class heads), calibration and residuals for regression heads (from the
label/prediction sample, which only the TFMA engine keeps), and its metrics
per slice. A plot the evaluation has no data for is named as absent, with
the reason.
"""

import html
import json
import os

import numpy as np
import tensorflow_model_analysis as tfma
from matplotlib.figure import Figure

from components import eval_config
from components.evaluation import head_changes
from heads.keys import MetricKeys

OVERALL = 'Overall'
REPORT_FILE = 'index.html'
_BASELINE = 'baseline'
_SLICE_METRICS = {
    'regression': ('average_loss', 'mean_absolute_error'),
    'poisson_regression': ('average_loss', 'mean_absolute_error'),
    'logistic_regression': ('average_loss', 'mean_absolute_error'),
    'binary': ('auc', 'accuracy'),
    'multi_class': ('accuracy', 'average_loss'),
    'multi_label': ('auc', 'average_loss'),
}


def slice_name(slice_key):
  """'Overall', or 'column=value, ...' of a SliceKey proto."""
  parts = []
  for key in slice_key.single_slice_keys:
    kind = key.WhichOneof('kind')
    value = getattr(key, kind) if kind else ''
    if isinstance(value, bytes):
      value = value.decode('utf-8', 'replace')
    parts.append('{}={}'.format(key.column, value))
  return ', '.join(parts) or OVERALL


def _metric_value(value):
  kind = value.WhichOneof('type')
  if kind == 'double_value':
    return value.double_value.value
  if kind == 'bytes_value':
    return value.bytes_value
  return None


class Evaluation:
  """Metrics, plots and validation of one evaluation output, keyed by slice and head.

  metrics[slice][head] = {'candidate': {name: value}, 'baseline': {...}, 'diff': {...}}
  plots[slice][head] = {name: PlotData proto}
  """

  def __init__(self, evaluation_uri):
    self.uri = evaluation_uri
    self.metrics = {}
    self.plots = {}
    self.slices = []
    for record in tfma.load_metrics(evaluation_uri):
      name = slice_name(record.slice_key)
      if name not in self.slices:
        self.slices.append(name)
      for item in record.metric_keys_and_values:
        key = item.key
        if key.is_diff:
          group = 'diff'
        else:
          group = _BASELINE if key.model_name == _BASELINE else 'candidate'
        heads = self.metrics.setdefault(name, {})
        heads.setdefault(key.output_name, {}).setdefault(group, {})[key.name] = _metric_value(
            item.value)
    for record in tfma.load_plots(evaluation_uri):
      name = slice_name(record.slice_key)
      for item in record.plot_keys_and_values:
        if item.key.model_name == _BASELINE:
          continue
        self.plots.setdefault(name, {}).setdefault(item.key.output_name, {})[
            item.key.name] = item.value
    self.slices.sort(key=lambda s: (s != OVERALL, s))
    self.validation = self._load_validation()

  def _load_validation(self):
    try:
      return tfma.load_validation_result(self.uri)
    except Exception:  # pylint: disable=broad-except
      return None  # written only when the config has thresholds

  def head_metrics(self, head, group='candidate', slice_=OVERALL):
    return self.metrics.get(slice_, {}).get(head, {}).get(group, {})

  def head_plots(self, head, slice_=OVERALL):
    return self.plots.get(slice_, {}).get(head, {})

  def head_changes(self):
    """(new heads, removed heads) against the baseline, from the overall slice's metrics.

    Both empty without a baseline. A new head has candidate metrics only, a
    removed head baseline metrics only (components/evaluation/head_changes.py).
    """
    overall = self.metrics.get(OVERALL, {})
    if not any(groups.get(_BASELINE) for groups in overall.values()):
      return [], []
    new = sorted(head for head, groups in overall.items()
                 if groups.get('candidate') and not groups.get(_BASELINE))
    removed = sorted(head for head, groups in overall.items()
                     if groups.get(_BASELINE) and not groups.get('candidate'))
    return new, removed

  def failures(self, head):
    """{metric name: failure message} of the head's failed thresholds (all slices)."""
    failed = {}
    if self.validation is None:
      return failed
    for per_slice in self.validation.metric_validations_per_slice:
      for failure in per_slice.failures:
        if failure.metric_key.output_name == head:
          value = failure.metric_value.double_value.value
          failed[failure.metric_key.name] = '{} = {:.6g} on {}{}'.format(
              failure.metric_key.name, value, slice_name(per_slice.slice_key),
              '' if np.isfinite(value) else ' (not finite)')
    return failed


# ----------------------------------------------------------------------------
# Plots.

def _figure(ncols=1):
  figure = Figure(figsize=(4.2 * ncols, 3.6))
  axes = [figure.add_subplot(1, ncols, i + 1) for i in range(ncols)]
  return figure, axes


def _save(figure, out_dir, filename):
  figure.tight_layout()
  figure.savefig(os.path.join(out_dir, filename), dpi=90)
  return filename


def _curves(plot):
  """(fpr, tpr, recall, precision) arrays of a confusion-matrix plot."""
  matrices = plot.confusion_matrix_at_thresholds.matrices
  tp = np.array([m.true_positives for m in matrices])
  fp = np.array([m.false_positives for m in matrices])
  tn = np.array([m.true_negatives for m in matrices])
  fn = np.array([m.false_negatives for m in matrices])
  with np.errstate(divide='ignore', invalid='ignore'):
    fpr = fp / (fp + tn)
    tpr = tp / (tp + fn)
    precision = tp / (tp + fp)
  keep = ~np.isnan(precision)
  return fpr, tpr, tpr[keep], precision[keep]


def _roc_pr(curves, out_dir, prefix, title):
  """ROC and PR curves of {label: confusion-matrix plot} in one PNG."""
  figure, (roc, pr) = _figure(2)
  for label, plot in curves.items():
    fpr, tpr, recall, precision = _curves(plot)
    roc.plot(fpr, tpr, label=label)
    pr.plot(recall, precision, label=label)
  roc.plot([0, 1], [0, 1], ':', color='grey')
  roc.set(title='ROC: ' + title, xlabel='false positive rate', ylabel='true positive rate',
          xlim=(0, 1), ylim=(0, 1.02))
  pr.set(title='PR: ' + title, xlabel='recall', ylabel='precision', xlim=(0, 1), ylim=(0, 1.02))
  if len(curves) > 1:
    roc.legend(fontsize='small')
  return _save(figure, out_dir, prefix + '_roc_pr.png')


def _calibration_buckets(plot, out_dir, prefix, title):
  buckets = [b for b in plot.calibration_histogram_buckets.buckets
             if b.num_weighted_examples.value > 0]
  counts = np.array([b.num_weighted_examples.value for b in buckets])
  predicted = np.array([b.total_weighted_refined_prediction.value for b in buckets]) / counts
  observed = np.array([b.total_weighted_label.value for b in buckets]) / counts
  figure, (axes,) = _figure()
  axes.plot([0, 1], [0, 1], ':', color='grey')
  axes.scatter(predicted, observed, s=10 + 60 * counts / max(counts.max(), 1))
  axes.set(title='Calibration: ' + title, xlabel='mean prediction', ylabel='mean label',
           xlim=(0, 1), ylim=(0, 1))
  return _save(figure, out_dir, prefix + '_calibration.png')


def _confusion_matrix(plot, class_names, out_dir, prefix, title):
  n = len(class_names)
  counts = np.zeros((n, n))
  matrices = plot.multi_class_confusion_matrix_at_thresholds.matrices
  for entry in (matrices[0].entries if matrices else []):
    if 0 <= entry.actual_class_id < n and 0 <= entry.predicted_class_id < n:
      counts[entry.actual_class_id, entry.predicted_class_id] += entry.num_weighted_examples
  figure, (axes,) = _figure()
  axes.imshow(counts, cmap='Blues')
  for i in range(n):
    for j in range(n):
      axes.text(j, i, '{:.4g}'.format(counts[i, j]), ha='center', va='center', fontsize='small')
  axes.set(title='Confusion matrix: ' + title, xlabel='predicted', ylabel='label',
           xticks=range(n), yticks=range(n))
  axes.set_xticklabels(class_names, fontsize='small')
  axes.set_yticklabels(class_names, fontsize='small')
  return _save(figure, out_dir, prefix + '_confusion_matrix.png')


def _regression_plots(sample_bytes, out_dir, prefix, title, bins=10):
  """Calibration (binned by prediction) and residuals of the label/prediction sample."""
  sample = json.loads(sample_bytes)
  label = np.array(sample['label'])
  prediction = np.array(sample['prediction'])
  weight = np.array(sample['weight'])
  if not label.size:
    return None
  figure, (calibration, residuals) = _figure(2)
  order = np.argsort(prediction)
  groups = [g for g in np.array_split(order, min(bins, label.size)) if g.size]
  mean_prediction = [np.average(prediction[g], weights=weight[g]) for g in groups]
  mean_label = [np.average(label[g], weights=weight[g]) for g in groups]
  low = min(np.min(label), np.min(prediction))
  high = max(np.max(label), np.max(prediction))
  calibration.plot([low, high], [low, high], ':', color='grey')
  calibration.plot(mean_prediction, mean_label, 'o-')
  calibration.set(title='Calibration: ' + title, xlabel='mean prediction (bins)',
                  ylabel='mean label')
  residual = label - prediction
  residuals.scatter(prediction, residual, s=6, alpha=0.5)
  residuals.axhline(0, color='grey', linestyle=':')
  residuals.set(title='Residuals ({} sampled)'.format(label.size), xlabel='prediction',
                ylabel='label - prediction')
  return _save(figure, out_dir, prefix + '_calibration_residuals.png')


def _slice_plot(evaluation, head, names, out_dir, prefix):
  slices = [s for s in evaluation.slices if evaluation.head_metrics(head.name, slice_=s)]
  if len(slices) < 2:
    return None
  figure, axes = _figure(len(names))
  positions = np.arange(len(slices))
  for axis, name in zip(axes, names):
    values = [evaluation.head_metrics(head.name, slice_=s).get(name) for s in slices]
    values = [np.nan if not isinstance(v, float) else v for v in values]
    axis.barh(positions, values)
    axis.set_yticks(positions)
    axis.set_yticklabels(slices, fontsize='small')
    axis.invert_yaxis()
    axis.set(title='{} by slice'.format(name))
  return _save(figure, out_dir, prefix + '_slices.png')


def _plot_with(plots, name, field):
  """The plot `name`; stock TFMA plots are written unnamed, so else the unnamed one with `field`."""
  for key in (name, ''):
    if key in plots and plots[key].HasField(field):
      return plots[key]
  return None


_NO_SAMPLE = ('calibration and residual plots: absent. They need a sample of labels and '
              'predictions, which the batched Evaluator does not keep (its statistics are '
              'sums); evaluation.engine: tfma computes it.')


def head_plots(evaluation, head, out_dir, thresholds=(), absent=None):
  """Writes the head's PNGs into out_dir; returns their file names.

  `absent`, a list, gets a sentence for each plot of the head the evaluation
  has no data for.
  """
  absent = [] if absent is None else absent
  prefix = 'head_' + ''.join(c if c.isalnum() else '_' for c in head.name)
  plots = evaluation.head_plots(head.name)
  metrics = evaluation.head_metrics(head.name)
  files = []

  def missing(what):
    absent.append('{}: absent, this evaluation has no data for it.'.format(what))

  if head.type == 'multi_class':
    classes = head.label_vocabulary or ['class{}'.format(i) for i in range(head.n_classes)]
    curves = {name: plots[eval_config.CONFUSION_MATRIX_PLOT + '/' + name]
              for name in classes if eval_config.CONFUSION_MATRIX_PLOT + '/' + name in plots}
    if curves:
      files.append(_roc_pr(curves, out_dir, prefix, head.name))
    else:
      missing('ROC and PR curves per class')
    matrix = _plot_with(plots, eval_config.MULTI_CLASS_CONFUSION_MATRIX_PLOT,
                        'multi_class_confusion_matrix_at_thresholds')
    if matrix is not None:
      files.append(_confusion_matrix(matrix, classes, out_dir, prefix, head.name))
    else:
      missing('confusion matrix')
  elif head.type in ('binary', 'multi_label'):
    matrices = _plot_with(plots, eval_config.CONFUSION_MATRIX_PLOT,
                          'confusion_matrix_at_thresholds')
    if matrices is not None:
      files.append(_roc_pr({head.name: matrices}, out_dir, prefix, head.name))
    else:
      missing('ROC and PR curves')
    buckets = _plot_with(plots, eval_config.CALIBRATION_PLOT, 'calibration_histogram_buckets')
    if buckets is not None:
      files.append(_calibration_buckets(buckets, out_dir, prefix, head.name))
    elif head.type == 'binary':
      missing('calibration')
  elif isinstance(metrics.get(eval_config.SAMPLE), bytes):
    files.append(_regression_plots(metrics[eval_config.SAMPLE], out_dir, prefix, head.name))
  elif metrics:
    absent.append(_NO_SAMPLE)
  files.append(_slice_plot(evaluation, head, _slice_names(head, thresholds), out_dir, prefix))
  return [f for f in files if f]


def _slice_names(head, thresholds):
  """The head's main metrics and its gated ones (at most 3), for the slice views."""
  gated = [item.metric for item in thresholds]
  return list(dict.fromkeys(list(_SLICE_METRICS[head.type]) + gated))[:3]


# ----------------------------------------------------------------------------
# HTML.

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; font-size: 13px; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.pass { color: #176117; font-weight: bold; } .fail { color: #b00020; font-weight: bold; }
img { margin: 4px; border: 1px solid #eee; }
.absent { color: #666; font-style: italic; }
"""


def _fmt(value):
  if isinstance(value, float):
    return '{:.6g}'.format(value)
  return '' if value is None else html.escape(str(value))


def _threshold_text(item):
  parts = []
  if item.lower_bound is not None:
    parts.append('&ge; {:g}'.format(item.lower_bound))
  if item.upper_bound is not None:
    parts.append('&le; {:g}'.format(item.upper_bound))
  if item.change_direction:
    change = item.change_direction.replace('_', ' ')
    if item.change_absolute is not None:
      change += ', absolute {:g}'.format(item.change_absolute)
    if item.change_relative is not None:
      change += ', relative {:g}'.format(item.change_relative)
    parts.append('vs baseline: ' + change)
  return '; '.join(parts)


def _table(header, rows):
  out = ['<table><tr>' + ''.join('<th>{}</th>'.format(h) for h in header) + '</tr>']
  for row in rows:
    out.append('<tr>' + ''.join('<td>{}</td>'.format(cell) for cell in row) + '</tr>')
  out.append('</table>')
  return '\n'.join(out)


def _metrics_table(evaluation, head, items):
  candidate = evaluation.head_metrics(head.name)
  baseline = evaluation.head_metrics(head.name, _BASELINE)
  diff = evaluation.head_metrics(head.name, 'diff')
  thresholds = {MetricKeys.LOSS_MEAN: ['finite']}
  for item in items:
    thresholds.setdefault(item.metric, []).append(_threshold_text(item))
  failures = evaluation.failures(head.name)
  order = eval_config.head_metric_names(head)
  rows = []
  for name in sorted(candidate, key=lambda n: (order.index(n) if n in order else len(order), n)):
    value = candidate[name]
    if not isinstance(value, float):
      continue
    status = ''
    if name in thresholds and evaluation.validation is not None:
      status = ('<span class="fail">FAIL</span>' if name in failures
                else '<span class="pass">pass</span>')
    rows.append([html.escape(name), _fmt(value), _fmt(baseline.get(name)), _fmt(diff.get(name)),
                 '; '.join(thresholds.get(name, [])), status])
  return _table(['metric', 'value', 'baseline', 'change', 'threshold', 'status'], rows)


def _slices_table(evaluation, head, items):
  names = [n for n in eval_config.head_metric_names(head)
           if n in (eval_config.EXAMPLE_COUNT,) + tuple(_slice_names(head, items))]
  rows = []
  for slice_ in evaluation.slices:
    values = evaluation.head_metrics(head.name, slice_=slice_)
    if values:
      rows.append([html.escape(slice_)] + [_fmt(values.get(n)) for n in names])
  return _table(['slice'] + [html.escape(n) for n in names], rows)


def _head_status(evaluation, head, items):
  if evaluation.validation is None:
    return 'not validated'
  failures = evaluation.failures(head.name)
  if failures:
    status = '<span class="fail">FAILED</span>: ' + html.escape('; '.join(failures.values()))
  else:
    status = '<span class="pass">passed</span>' + ('' if items else ' (finite loss only)')
  if head.name in evaluation.head_changes()[0]:
    status += ' &middot; ' + html.escape(head_changes.NEW_HEAD_NOTE)
  return status


def _overall_status(evaluation):
  if evaluation.validation is None:
    return 'No validation result: the Evaluator wrote no blessing.'
  removed = evaluation.head_changes()[1]
  note = ''
  if removed:
    note = ' Removed heads (in the baseline only): {}.'.format(html.escape(', '.join(removed)))
  if evaluation.validation.validation_ok:
    stamp = ' (rubber stamp: no baseline yet)' if evaluation.validation.rubber_stamp else ''
    return ('<span class="pass">BLESSED</span>: every head passed its thresholds' + stamp
            + '.' + note)
  return ('<span class="fail">NOT BLESSED</span>: at least one head failed a threshold.'
          + note)


def write_report(evaluation_uri, config, out_dir):
  """Writes out_dir/index.html and the PNGs of every head; returns the HTML path."""
  os.makedirs(out_dir, exist_ok=True)
  evaluation = Evaluation(evaluation_uri)
  summary_rows, sections = [], []
  for head in config.heads:
    items = config.evaluation.thresholds.get(head.name, [])
    overall = evaluation.head_metrics(head.name)
    summary_rows.append([
        '<a href="#{0}">{0}</a>'.format(html.escape(head.name)), head.type,
        _fmt(overall.get(eval_config.EXAMPLE_COUNT)),
        _fmt(overall.get(eval_config.MISSING_LABEL_COUNT)), _head_status(evaluation, head, items)])
    absent = []
    images = ''.join('<img src="{}">'.format(html.escape(f))
                     for f in head_plots(evaluation, head, out_dir, items, absent))
    images += ''.join('<p class="absent">{}</p>'.format(html.escape(a)) for a in absent)
    sections.append(
        '<h2 id="{name}">{name} <small>({type}, label {label})</small></h2>\n'
        '<h3>Metrics (overall slice)</h3>\n{metrics}\n<h3>Plots</h3>\n{images}\n'
        '<h3>Slices</h3>\n{slices}'.format(
            name=html.escape(head.name), type=head.type, label=html.escape(head.label),
            metrics=_metrics_table(evaluation, head, items), images=images,
            slices=_slices_table(evaluation, head, items)))
  page = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Per-head evaluation'
          '</title><style>{style}</style></head><body>\n<h1>Per-head evaluation</h1>\n'
          '<p>{status}</p>\n<p>Evaluation: <code>{uri}</code></p>\n{summary}\n{sections}\n'
          '</body></html>\n').format(
              style=_STYLE, status=_overall_status(evaluation), uri=html.escape(evaluation_uri),
              summary=_table(['head', 'type', 'labelled examples', 'missing labels', 'gate'],
                             summary_rows),
              sections='\n'.join(sections))
  path = os.path.join(out_dir, REPORT_FILE)
  with open(path, 'w') as f:
    f.write(page)
  return path
