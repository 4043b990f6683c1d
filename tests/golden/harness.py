"""Runs one golden case against a heads implementation and compares results.

`impl` is any namespace exposing the tf.estimator v2 head classes and
`ModeKeys`: `tf.estimator` (TF 2.15, used to record the golden file) or the
project's `heads` package (used by tests/test_estimator_golden.py).

A case is a JSON dict (see dev/estimator_golden/cases.py); a result is a JSON
dict with one entry per stage, each a value or {"error_type", "message"}.
"""
import math
import re

import numpy as np
import tensorflow as tf

_EXPORT_ATTRS = {
    "ClassificationOutput": ("scores", "classes"),
    "RegressionOutput": ("value",),
    "PredictOutput": ("outputs",),
}


# ----------------------------------------------------------------- inputs
def to_tensor(spec):
    """Decodes a tensor spec (dense, sparse, dict of specs or None)."""
    if spec is None:
        return None
    if "dtype" not in spec:
        return {k: to_tensor(v) for k, v in spec.items()}
    if spec.get("sparse"):
        rank = len(spec["dense_shape"])
        return tf.sparse.SparseTensor(
            np.asarray(spec["indices"], np.int64).reshape(-1, rank),
            tf.constant(spec["values"], spec["dtype"], shape=[len(spec["values"])]),
            np.asarray(spec["dense_shape"], np.int64))
    return tf.constant(spec["value"], spec["dtype"])


def build_head(impl, spec):
    if spec["type"] == "MultiHead":
        return impl.MultiHead([build_head(impl, h) for h in spec["heads"]], **spec.get("kwargs", {}))
    return getattr(impl, spec["type"])(**spec.get("kwargs", {}))


def _inputs(case):
    regs = case.get("regularization_losses")
    return dict(
        features=to_tensor(case["features"]),
        logits=to_tensor(case["logits"]),
        labels=to_tensor(case.get("labels")),
        regs=None if regs is None else [tf.constant(r, tf.float32) for r in regs])


# ---------------------------------------------------------------- outputs
def _decode(v):
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v.decode() if isinstance(v, bytes) else v


def encode(t):
    a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
    return {"dtype": tf.as_dtype(t.dtype).name, "shape": list(a.shape), "value": _decode(a.tolist())}


def _key(k):
    return "/".join(k) if isinstance(k, tuple) else k


def _encode_dict(d):
    return {_key(k): encode(v) for k, v in d.items()}


def _encode_export(out):
    name = type(out).__name__
    res = {"class": name}
    for attr in _EXPORT_ATTRS.get(name, ()):
        v = getattr(out, attr)
        res[attr] = _encode_dict(v) if isinstance(v, dict) else None if v is None else encode(v)
    return res


def error(e):
    """Class name + normalised message (no tracebacks, node names or op suffixes)."""
    msg = str(e)
    if msg.startswith("in user code:"):  # error raised while tracing a tf.function
        msg = re.split(r"\n\n    \w+: ", msg)[-1]
    msg = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", msg)
    msg = re.sub(r"<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>", r"<\1 object>", msg)
    m = re.search(r"assertion failed: \[(.*?)\](?: \[|$)", msg, re.S)
    if m:
        msg = m.group(1)
    if isinstance(e, tf.errors.OpError):
        msg = re.sub(r"\s*\[Op:.*", "", msg.split("\n")[0])
    return {"error_type": type(e).__name__, "message": msg.strip()}


def _stage(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - errors are results here
        return error(e)


# ----------------------------------------------------------------- stages
def _results(metrics):
    return {k: float(m.result()) for k, m in metrics.items()}


def _spec_eval_v1_graph(impl, case):
    """EVAL spec inside a tf.compat.v1 Graph + Session.

    tf.estimator 2.15 rejects eagerly (and in tf.function) updated Keras metrics
    in EstimatorSpec ('Please call update_state(...)'), so it is recorded this way.
    """
    with tf.Graph().as_default():
        x = _inputs(case)
        spec = build_head(impl, case["head"]).create_estimator_spec(
            x["features"], impl.ModeKeys.EVAL, x["logits"], x["labels"], regularization_losses=x["regs"])
        v1 = tf.compat.v1
        with v1.Session() as sess:
            sess.run([v1.global_variables_initializer(), v1.local_variables_initializer(), v1.tables_initializer()])
            # In graph mode EstimatorSpec turns each metric into (value, update_op).
            ops = {k: v if isinstance(v, tuple) else (v.result(), v.updates) for k, v in spec.eval_metric_ops.items()}
            sess.run([u for _, u in ops.values()])
            loss, res = sess.run((spec.loss, {k: v for k, (v, _) in ops.items()}))
    return {"mode": spec.mode, "loss": float(loss), "metrics": {k: float(v) for k, v in res.items()},
            "predictions": sorted(map(_key, spec.predictions))}


def run_case(impl, case, v1_graph_eval_spec=False):
    """Result of every stage of one case; each stage builds a fresh head."""
    M = impl.ModeKeys
    try:
        build_head(impl, case["head"])
    except Exception as e:  # noqa: BLE001
        return {"constructor": error(e)}
    x = _inputs(case)

    def head():
        return build_head(impl, case["head"])

    def loss(mode):
        return float(head().loss(labels=x["labels"], logits=x["logits"], features=x["features"],
                                 mode=mode, regularization_losses=x["regs"]))

    def metrics():
        h = head()
        # No `mode`: only the abstract Head.update_metrics of tf.estimator 2.15 declares it.
        return _results(h.update_metrics(h.metrics(regularization_losses=x["regs"]), x["features"],
                                         x["logits"], x["labels"], regularization_losses=x["regs"]))

    def spec_eval():
        if v1_graph_eval_spec:
            return _spec_eval_v1_graph(impl, case)
        spec = head().create_estimator_spec(x["features"], M.EVAL, x["logits"], x["labels"],
                                            regularization_losses=x["regs"])
        return {"mode": spec.mode, "loss": float(spec.loss), "metrics": _results(spec.eval_metric_ops),
                "predictions": sorted(map(_key, spec.predictions))}

    def spec_predict():
        spec = head().create_estimator_spec(x["features"], M.PREDICT, x["logits"])
        return {"mode": spec.mode, "loss": spec.loss, "train_op": spec.train_op,
                "predictions": sorted(map(_key, spec.predictions)),
                "export_outputs": {k: _encode_export(v) for k, v in spec.export_outputs.items()}}

    def graph_loss():
        h = head()

        @tf.function
        def fn(labels, logits, features, regs):
            return h.loss(labels=labels, logits=logits, features=features, mode=M.TRAIN,
                          regularization_losses=regs)
        return float(fn(x["labels"], x["logits"], x["features"], x["regs"]))

    out = {
        "loss_train": _stage(lambda: loss(M.TRAIN)),
        "loss_eval": _stage(lambda: loss(M.EVAL)),
        "predictions": _stage(lambda: _encode_dict(head().predictions(x["logits"]))),
        "metrics": _stage(metrics),
        "spec_predict": _stage(spec_predict),
    }
    if "error_type" not in out["metrics"]:  # EVAL spec needs what the metrics stage needs
        out["spec_eval"] = _stage(spec_eval)
    if case.get("prediction_keys") is not None:
        out["predictions_keys"] = _stage(
            lambda: _encode_dict(head().predictions(x["logits"], keys=case["prediction_keys"])))
    if case.get("graph"):
        out["graph_loss"] = _stage(graph_loss)
    return out


# ------------------------------------------------------------- comparison
def compare(exp, act, path="", rtol=1e-5, atol=1e-6):
    """Returns a list of human-readable differences between golden and actual."""
    def short(v):
        s = repr(v)
        return s if len(s) < 300 else s[:300] + "..."

    if isinstance(exp, dict) and "error_type" in exp:
        if not (isinstance(act, dict) and act.get("error_type") == exp["error_type"]
                and exp["message"] in act.get("message", "")):
            return [f"{path}: expected error {short(exp)}, got {short(act)}"]
        return []
    if isinstance(act, dict) and "error_type" in act:
        return [f"{path}: unexpected error {short(act)}"]
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            return [f"{path}: expected a dict, got {short(act)}"]
        diffs = []
        if set(exp) != set(act):
            diffs.append(f"{path}: keys differ; missing {sorted(set(exp) - set(act))}, "
                         f"unexpected {sorted(set(act) - set(exp))}")
        for k in sorted(set(exp) & set(act)):
            diffs += compare(exp[k], act[k], f"{path}/{k}", rtol, atol)
        return diffs
    if isinstance(exp, list):
        if not isinstance(act, list) or len(act) != len(exp):
            return [f"{path}: expected {short(exp)}, got {short(act)}"]
        return [d for i, (e, a) in enumerate(zip(exp, act)) for d in compare(e, a, f"{path}[{i}]", rtol, atol)]
    if isinstance(exp, float) or isinstance(act, float):
        ok = (isinstance(act, (int, float)) and not isinstance(act, bool) and not isinstance(exp, bool)
              and ((math.isnan(exp) and math.isnan(act)) or abs(act - exp) <= atol + rtol * abs(exp)))
        return [] if ok else [f"{path}: expected {exp!r}, got {short(act)}"]
    if type(exp) is not type(act) or exp != act:
        return [f"{path}: expected {short(exp)}, got {short(act)}"]
    return []
