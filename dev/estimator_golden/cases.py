"""Deterministic generator of golden cases for the tf.estimator 2.15 heads (numpy only).

A case is a JSON dict:
  id, head ({"type", "kwargs"} or {"type": "MultiHead", "heads": [...], "kwargs"}),
  features ({name: tensor}), logits (tensor or {head: tensor}),
  labels (tensor, sparse tensor, {head: ...} or None), regularization_losses
  (None or list of floats), graph (also run head.loss in tf.function),
  prediction_keys (optional, also run predictions(logits, keys)).
A tensor is {"dtype", "value"}; a sparse tensor is
  {"sparse": true, "indices", "values", "dense_shape", "dtype"}.
"""
import numpy as np

SEED = 20240123
VOCAB = ("aang", "iroh", "zuko", "katara", "sokka", "toph")
NAMES = ("head1", "head2", "my_head", "ctr", "score")
THRESHOLDS = (0.25, 0.3, 0.5, 0.75, 0.9)


def dense(value, dtype):
    return {"dtype": dtype, "value": np.asarray(value).tolist()}


def sparse(indices, values, dense_shape, dtype):
    return {"sparse": True, "indices": [[int(i) for i in ix] for ix in indices],
            "values": [v if isinstance(v, str) else int(v) for v in values],
            "dense_shape": [int(d) for d in dense_shape], "dtype": dtype}


def head(type_, **kwargs):
    return {"type": type_, "kwargs": kwargs}


class _Gen:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.cases = []

    # ------------------------------------------------------------ helpers
    def flip(self, p=0.5):
        return bool(self.rng.random() < p)

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def shape(self):
        b = int(self.rng.integers(1, 7))
        return (b, int(self.rng.integers(1, 4))) if self.flip(0.25) else (b,)

    def logits(self, shape, d, scale=2.0):
        a = self.rng.normal(0, scale * (8 if self.flip(0.1) else 1), shape + (d,)).round(3)
        return dense(a, "float64" if self.flip(0.05) else "float32")

    def vocab(self, n):
        return [str(v) for v in self.rng.choice(VOCAB, n, replace=False)]

    def maybe_squeeze(self, a):
        """Labels of shape [D0..DN] instead of [D0..DN, 1], sometimes."""
        return a[..., 0] if a.shape[-1] == 1 and self.flip(0.3) else a

    def weights(self, shape, d, per_logit):
        forms = ["batch", "batch1"] + (["per_logit"] if per_logit and d > 1 else [])
        form = self.pick(forms)
        wshape = shape if form == "batch" else shape + (1,) if form == "batch1" else shape + (d,)
        if self.flip(0.1):
            return dense(self.rng.integers(0, 4, wshape), "int32")
        return dense(self.rng.uniform(0, 3, wshape).round(2), "float32")

    def add(self, tag, head_spec, features, logits, labels, regs=None, **extra):
        case = {"id": f"{len(self.cases):03d}_{tag}", "head": head_spec, "features": features,
                "logits": logits, "labels": labels, "regularization_losses": regs}
        case.update({k: v for k, v in extra.items() if v is not None})
        self.cases.append(case)

    def x(self, b):
        return {"x": dense(np.arange(b, dtype=np.float32).reshape(b, 1), "float32")}

    # ---------------------------------------------------- per-type heads
    # Each returns (type, kwargs, logits_dimension, labels spec, per_logit_weights, tag).
    def regression(self, shape):
        d = int(self.rng.integers(1, 4))
        kw = {"label_dimension": d} if d > 1 or self.flip() else {}
        a = self.maybe_squeeze(self.rng.normal(0, 3, shape + (d,)).round(2))
        dtype = "int32" if self.flip(0.15) else "float32"
        return "RegressionHead", kw, d, dense(a.round().astype(int) if dtype == "int32" else a, dtype), True, f"d{d}"

    def poisson(self, shape):
        d = int(self.rng.integers(1, 3))
        kw = {"label_dimension": d} if d > 1 else {}
        full = self.pick([None, True, False])
        if full is not None:
            kw["compute_full_loss"] = full
        a = self.maybe_squeeze(self.rng.poisson(2.0, shape + (d,)))
        dtype = self.pick(["int32", "float32"])
        return "PoissonRegressionHead", kw, d, dense(a, dtype), True, f"full{full}"

    def logistic(self, shape):
        a = self.maybe_squeeze(self.rng.uniform(0, 1, shape + (1,)).round(2))
        return "LogisticRegressionHead", {}, 1, dense(a, "float32"), False, ""

    def binary(self, shape):
        kind = self.pick(["int", "float", "vocab"])
        kw = {}
        if self.flip(0.4):
            kw["thresholds"] = sorted(self.rng.choice(THRESHOLDS, int(self.rng.integers(1, 4)), replace=False).tolist())
        ids = self.rng.integers(0, 2, shape + (1,))
        if kind == "vocab":
            kw["label_vocabulary"] = self.vocab(2)
            labels = dense(self.maybe_squeeze(np.asarray(kw["label_vocabulary"])[ids]), "string")
        elif kind == "float":
            labels = dense(self.maybe_squeeze(self.rng.uniform(0, 1, shape + (1,)).round(2)), "float32")
        else:
            labels = dense(self.maybe_squeeze(ids), self.pick(["int64", "int32"]))
        return "BinaryClassHead", kw, 1, labels, False, kind

    def multi_class(self, shape):
        n = int(self.rng.integers(3, 6))
        kw = {"n_classes": n}
        ids = self.rng.integers(0, n, shape + (1,))
        if self.flip(0.4):
            kw["label_vocabulary"] = self.vocab(n)
            labels = dense(self.maybe_squeeze(np.asarray(kw["label_vocabulary"])[ids]), "string")
        else:
            labels = dense(self.maybe_squeeze(ids), self.pick(["int64", "int32"]))
        return "MultiClassHead", kw, n, labels, False, f"n{n}{'-vocab' if 'label_vocabulary' in kw else ''}"

    def multi_label(self, shape):
        n = int(self.rng.integers(2, 5))
        kind = self.pick(["dense", "sparse_int", "sparse_str"])
        kw = {"n_classes": n}
        if self.flip(0.4):
            kw["thresholds"] = sorted(self.rng.choice(THRESHOLDS, int(self.rng.integers(1, 4)), replace=False).tolist())
        multi_hot = self.rng.integers(0, 2, shape + (n,))
        if kind == "dense":
            labels = dense(multi_hot, self.pick(["int64", "int32"]))
        else:
            idx = [np.unravel_index(i, shape) for i in range(int(np.prod(shape)))]
            rows = [np.flatnonzero(multi_hot[ix]) for ix in idx]
            indices = [tuple(ix) + (j,) for ix, row in zip(idx, rows) for j in range(len(row))]
            values = [int(c) for row in rows for c in row]
            dense_shape = shape + (max([len(r) for r in rows] + [1]),)
            if kind == "sparse_str":
                kw["label_vocabulary"] = self.vocab(n)
                labels = sparse(indices, [kw["label_vocabulary"][v] for v in values], dense_shape, "string")
            else:
                labels = sparse(indices, values, dense_shape, "int64")
        if self.flip(0.4):
            ids = sorted(self.rng.choice(n, int(self.rng.integers(1, n + 1)), replace=False).tolist())
            vocab = kw.get("label_vocabulary")
            kw["classes_for_class_based_metrics"] = [vocab[i] for i in ids] if vocab and self.flip() else ids
        return "MultiLabelHead", kw, n, labels, False, f"n{n}-{kind}"

    # -------------------------------------------------------- valid cases
    def single(self, make):
        shape = self.shape()
        type_, kw, d, labels, per_logit, tag = make(shape)
        features = self.x(shape[0])
        if self.flip():
            kw["name"] = self.pick(NAMES)
        reduction = self.pick([None, "sum_over_batch_size", "sum"])
        if reduction:
            kw["loss_reduction"] = reduction
        if self.flip():
            kw["weight_column"] = "w"
            features["w"] = self.weights(shape, d, per_logit)
        regs = [round(float(r), 2) for r in self.rng.uniform(0, 2, int(self.rng.integers(1, 3)))] if self.flip(0.3) else None
        tags = [type_.replace("Head", "").lower(), tag, f"r{len(shape) + 1}", reduction or "",
                "w" if "weight_column" in kw else "", "reg" if regs else "", "named" if "name" in kw else ""]
        self.add("-".join(t for t in tags if t), head(type_, **kw), features, self.logits(shape, d), labels, regs,
                 graph=True if self.flip(0.08) else None)

    def multi(self):
        shape = self.shape()
        makers = [self.regression, self.poisson, self.logistic, self.binary, self.multi_class, self.multi_label]
        n_heads = int(self.rng.integers(2, 4))
        reduction = self.pick([None, "sum_over_batch_size", "sum"])
        features, heads, logits, labels = self.x(shape[0]), [], {}, {}
        for i in range(n_heads):
            type_, kw, d, lab, per_logit, _ = self.pick(makers)(shape)
            kw["name"] = f"h{i}_{type_[:-4].lower()}"
            if reduction:
                kw["loss_reduction"] = reduction
            if self.flip(0.4):
                kw["weight_column"] = f"w{i}"
                features[f"w{i}"] = self.weights(shape, d, per_logit)
            heads.append(head(type_, **kw))
            logits[kw["name"]] = self.logits(shape, d)
            labels[kw["name"]] = lab
        kwargs = {"head_weights": [round(float(w), 2) for w in self.rng.uniform(0.1, 3, n_heads)]} if self.flip() else {}
        as_tensor = self.flip()
        if as_tensor:
            logits = dense(np.concatenate([np.asarray(logits[h["kwargs"]["name"]]["value"]) for h in heads], -1), "float32")
        regs = [round(float(self.rng.uniform(0, 2)), 2)] if self.flip(0.3) else None
        tag = f"multi{n_heads}-r{len(shape) + 1}{'-concat' if as_tensor else ''}{'-hw' if kwargs else ''}"
        self.add(tag, {"type": "MultiHead", "heads": heads, "kwargs": kwargs}, features, logits, labels, regs,
                 graph=True if self.flip(0.1) else None)

    # ------------------------------------------------ documented vectors
    def documented(self):
        """A few vectors from heads_behaviour.md section 9 (numbers known by hand)."""
        f2, f3 = self.x(2), self.x(3)
        add, D = self.add, dense
        add("doc-regression-eval", head("RegressionHead"), f2, D([[45], [41]], "float32"), D([[43], [44]], "float32"), [1.5, 0.5])
        add("doc-regression-weighted", head("RegressionHead", weight_column="label_weights"),
            {**f3, "label_weights": D([[1.], [.1], [1.5]], "float32")}, D([[45], [41], [44]], "float32"),
            D([[35], [42], [45]], "float32"), graph=True)
        add("doc-regression-multi-dim", head("RegressionHead", label_dimension=3, weight_column="w"),
            {**f2, "w": D([[1., 1.5], [2., 2.5]], "float32")},
            D([[[0, 1, 2], [10, 11, 12]], [[20, 21, 22], [30, 31, 32]]], "float32"),
            D([[[1, 2, 3], [12, 13, 14]], [[23, 24, 25], [34, 35, 36]]], "float32"))
        add("doc-poisson", head("PoissonRegressionHead"), f3, D([[0], [-1], [1]], "float32"), D([[1], [2], [3]], "int32"))
        add("doc-logistic", head("LogisticRegressionHead"), f3, D([[0], [-1], [1]], "float32"), D([[.4], [.6], [.8]], "float32"))
        add("doc-binary-thresholds", head("BinaryClassHead", thresholds=[0.25, 0.5, 0.75]), f2,
            D([[-1], [1]], "float32"), D([[1], [1]], "int64"), graph=True)
        add("doc-binary-weighted", head("BinaryClassHead", weight_column="w"), {**f3, "w": D([[1.], [.1], [1.5]], "float32")},
            D([[45], [-41], [44]], "float32"), D([[1], [1], [0]], "int64"))
        add("doc-binary-vocab", head("BinaryClassHead", label_vocabulary=["aang", "iroh"]), f2,
            D([[45], [-41]], "float32"), D([["iroh"], ["iroh"]], "string"))
        add("doc-multiclass-weighted", head("MultiClassHead", n_classes=3, weight_column="w"),
            {**f3, "w": D([[1.], [2.], [3.]], "float32")}, D([[10, 0, 0], [0, 10, 0], [0, 0, 10]], "float32"),
            D([[1], [2], [2]], "int64"))
        add("doc-multilabel-sparse-cbm", head("MultiLabelHead", n_classes=2, classes_for_class_based_metrics=[0, 1],
                                              thresholds=[0.25, 0.5, 0.75]),
            f2, D([[-1., 1.], [-1.5, 1.5]], "float32"), sparse([[0, 0], [1, 0], [1, 1]], [0, 0, 1], [2, 2], "int64"))
        add("doc-multilabel-vocab-cbm", head("MultiLabelHead", n_classes=2, label_vocabulary=["a", "b"],
                                             classes_for_class_based_metrics=["a", "b"]),
            f2, D([[-1., 1.], [-1.5, 1.5]], "float32"), sparse([[0, 0], [1, 0], [1, 1]], ["a", "a", "b"], [2, 2], "string"))
        ml = [head("MultiLabelHead", n_classes=2, name="head1", weight_column="weights1"),
              head("MultiLabelHead", n_classes=3, name="head2", weight_column="weights2")]
        feats = {**f2, "weights1": D([[1.], [2.]], "float32"), "weights2": D([[2.], [3.]], "float32")}
        lab = {"head1": D([[1, 0], [1, 1]], "int64"), "head2": D([[0, 1, 0], [1, 1, 0]], "int64")}
        add("doc-multihead-concat", {"type": "MultiHead", "heads": ml, "kwargs": {"head_weights": [1., 2.]}}, feats,
            D([[-10, 10, 20, -20, 20], [-15, 10, -30, 20, -20]], "float32"), lab, [1.5, 0.5], graph=True)

    # ----------------------------------------------------------- errors
    def errors(self):
        D, f2 = dense, self.x(2)
        lg1, lg3 = D([[0.5], [-1.2]], "float32"), D([[0.5, -1., 2.], [1., 0.2, -0.3]], "float32")
        lg2 = D([[0.5, -1.], [1., 0.2]], "float32")
        vocab2, vocab3 = ["aang", "iroh"], ["aang", "iroh", "zuko"]

        def err(tag, spec, logits, labels, features=None, graph=None, **extra):
            self.add("err-" + tag, spec, features or f2, logits, labels, graph=graph, **extra)

        # constructor arguments
        ctor = {
            "reduction-none": head("BinaryClassHead", loss_reduction="none"),
            "reduction-bogus": head("RegressionHead", loss_reduction="mean"),
            "reduction-none-multiclass": head("MultiClassHead", n_classes=3, loss_reduction="none"),
            "regression-label-dim-0": head("RegressionHead", label_dimension=0),
            "binary-threshold-0": head("BinaryClassHead", thresholds=[0.0, 0.5]),
            "binary-threshold-1": head("BinaryClassHead", thresholds=[1.0]),
            "binary-threshold-neg": head("BinaryClassHead", thresholds=[0.5, -0.1]),
            "binary-vocab-str": head("BinaryClassHead", label_vocabulary="ab"),
            "multiclass-n2": head("MultiClassHead", n_classes=2),
            "multiclass-n1": head("MultiClassHead", n_classes=1),
            "multiclass-n-none": head("MultiClassHead", n_classes=None),
            "multiclass-vocab-len": head("MultiClassHead", n_classes=3, label_vocabulary=vocab2),
            "multiclass-vocab-str": head("MultiClassHead", n_classes=3, label_vocabulary="abc"),
            "multilabel-n1": head("MultiLabelHead", n_classes=1),
            "multilabel-threshold-0": head("MultiLabelHead", n_classes=2, thresholds=[0.0]),
            "multilabel-threshold-1.5": head("MultiLabelHead", n_classes=2, thresholds=[0.5, 1.5]),
            "multilabel-vocab-len": head("MultiLabelHead", n_classes=2, label_vocabulary=vocab3),
            "multilabel-vocab-str": head("MultiLabelHead", n_classes=2, label_vocabulary="ab"),
            "multilabel-cbm-range": head("MultiLabelHead", n_classes=3, classes_for_class_based_metrics=[0, 3]),
            "multilabel-cbm-neg": head("MultiLabelHead", n_classes=3, classes_for_class_based_metrics=[-1]),
            "multilabel-cbm-str-no-vocab": head("MultiLabelHead", n_classes=2, classes_for_class_based_metrics=["a"]),
            "multilabel-cbm-str-unknown": head("MultiLabelHead", n_classes=2, label_vocabulary=["a", "b"],
                                               classes_for_class_based_metrics=["z"]),
            "multihead-empty": {"type": "MultiHead", "heads": [], "kwargs": {}},
            "multihead-no-name": {"type": "MultiHead", "heads": [head("BinaryClassHead", name="a"),
                                                                 head("RegressionHead")], "kwargs": {}},
            "multihead-weights-len": {"type": "MultiHead", "heads": [head("BinaryClassHead", name="a"),
                                                                     head("RegressionHead", name="b")],
                                      "kwargs": {"head_weights": [1.0]}},
        }
        for tag, spec in ctor.items():
            err(tag, spec, lg1, D([[1], [0]], "int64"))

        # label values and dtypes
        B, MC, ML, LR = head("BinaryClassHead"), head("MultiClassHead", n_classes=3), head("MultiLabelHead", n_classes=2), head("LogisticRegressionHead")
        err("binary-label-2", B, lg1, D([[1], [2]], "int64"), graph=True)
        err("binary-label-neg", B, lg1, D([[-1], [0]], "int64"), graph=True)
        err("binary-label-1.2", B, lg1, D([[1.2], [0.4]], "float32"), graph=True)
        err("binary-string-no-vocab", B, lg1, D([["aang"], ["iroh"]], "string"))
        err("binary-vocab-oov", head("BinaryClassHead", label_vocabulary=vocab2), lg1, D([["iroh"], ["zuko"]], "string"), graph=True)
        err("binary-vocab-int-labels", head("BinaryClassHead", label_vocabulary=vocab2), lg1, D([[1], [0]], "int64"))
        err("logistic-label-1.2", LR, lg1, D([[1.2], [0.4]], "float32"), graph=True)
        err("logistic-label-neg", LR, lg1, D([[-0.2], [0.4]], "float32"))
        err("multiclass-label-3", MC, lg3, D([[1], [3]], "int64"), graph=True)
        err("multiclass-label-45", MC, lg3, D([[45], [0]], "int32"))
        err("multiclass-label-neg", MC, lg3, D([[-5], [0]], "int64"), graph=True)
        err("multiclass-float-labels", MC, lg3, D([[1.], [0.]], "float32"))
        err("multiclass-string-no-vocab", MC, lg3, D([["aang"], ["iroh"]], "string"))
        err("multiclass-vocab-int-labels", head("MultiClassHead", n_classes=3, label_vocabulary=vocab3), lg3, D([[1], [0]], "int64"))
        err("multiclass-vocab-oov", head("MultiClassHead", n_classes=3, label_vocabulary=vocab3), lg3, D([["zuko"], ["toph"]], "string"), graph=True)
        err("multiclass-sparse-labels", MC, lg3, sparse([[0, 0], [1, 0]], [1, 2], [2, 1], "int64"))
        err("binary-sparse-labels", B, lg1, sparse([[0, 0], [1, 0]], [1, 0], [2, 1], "int64"))
        err("multilabel-dense-2", ML, lg2, D([[1, 0], [2, 1]], "int64"), graph=True)
        err("multilabel-dense-neg", ML, lg2, D([[1, 0], [-1, 1]], "int64"))
        err("multilabel-sparse-2", ML, lg2, sparse([[0, 0], [1, 0], [1, 1]], [2, 0, 1], [2, 2], "int64"), graph=True)
        err("multilabel-sparse-float", ML, lg2, sparse([[0, 0], [1, 0]], [1, 0], [2, 1], "float32"))
        err("multilabel-sparse-string-no-vocab", ML, lg2, sparse([[0, 0], [1, 0]], ["a", "b"], [2, 1], "string"))
        err("multilabel-sparse-oov", head("MultiLabelHead", n_classes=2, label_vocabulary=["a", "b"]), lg2,
            sparse([[0, 0], [1, 0]], ["a", "z"], [2, 1], "string"))
        err("labels-none", B, lg1, None)

        # shapes
        err("binary-labels-2-cols", B, lg1, D([[1, 0], [0, 1]], "int64"))
        err("binary-labels-batch", B, lg1, D([[1], [0], [1]], "int64"), graph=True)
        err("binary-labels-scalar", B, lg1, D(1, "int64"))
        err("multiclass-labels-2-cols", MC, lg3, D([[1, 0], [0, 1]], "int64"))
        err("multiclass-labels-batch", MC, lg3, D([[1], [0], [2]], "int64"))
        err("multilabel-labels-3-cols", ML, lg2, D([[1, 0, 1], [0, 1, 1]], "int64"))
        err("multilabel-labels-batch", ML, lg2, D([[1, 0]], "int64"))
        err("regression-labels-dim", head("RegressionHead", label_dimension=2), lg2, D([[1., 2., 3.], [0., 1., 2.]], "float32"))
        err("regression-labels-rank3", head("RegressionHead"), lg1, D([[[1.]], [[2.]]], "float32"))
        err("logits-dim-binary", B, lg2, D([[1], [0]], "int64"))
        err("logits-dim-multiclass", MC, lg2, D([[1], [0]], "int64"))
        err("logits-dim-regression", head("RegressionHead", label_dimension=3), lg2, D([[1., 2., 3.], [0., 1., 2.]], "float32"))
        err("logits-rank1", B, D([0.5, -1.], "float32"), D([1, 0], "int64"))
        err("logits-rank3-labels-rank1", MC, D([[[0.5, -1., 2.]], [[1., 0.2, -0.3]]], "float32"), D([1, 0], "int64"))
        err("predict-invalid-key", MC, lg3, D([[1], [0]], "int64"), prediction_keys=["logits", "bogus"])

        # weights
        def weighted(type_, w, logits, labels, tag, **kw):
            err("weights-" + tag, head(type_, weight_column="w", **kw), logits, labels, {**f2, "w": w})
        weighted("BinaryClassHead", D([[1., 2.], [3., 4.]], "float32"), lg1, D([[1], [0]], "int64"), "binary-2-cols")
        weighted("BinaryClassHead", D([1., 2., 3.], "float32"), lg1, D([[1], [0]], "int64"), "binary-batch")
        weighted("MultiClassHead", D([[1., 2., 3.], [3., 4., 5.]], "float32"), lg3, D([[1], [0]], "int64"), "multiclass-per-class", n_classes=3)
        weighted("MultiLabelHead", D([[1., 2.], [3., 4.]], "float32"), lg2, D([[1, 0], [0, 1]], "int64"), "multilabel-per-class", n_classes=2)
        weighted("RegressionHead", D([[1., 2., 3.], [3., 4., 5.]], "float32"), lg2, D([[1., 2.], [0., 1.]], "float32"), "regression-3-cols", label_dimension=2)
        weighted("RegressionHead", D([[1., 2.], [3., 4.]], "float32"),
                 D([[[1.], [2.], [3.]], [[4.], [5.], [6.]]], "float32"), D([[[1.], [2.], [3.]], [[4.], [5.], [6.]]], "float32"), "rank3-wrong-t")
        weighted("RegressionHead", D([1., 2.], "float32"),
                 D([[[1.], [2.], [3.]], [[4.], [5.], [6.]]], "float32"), D([[[1.], [2.], [3.]], [[4.], [5.], [6.]]], "float32"), "rank3-batch-only")
        weighted("BinaryClassHead", D([["a"], ["b"]], "string"), lg1, D([[1], [0]], "int64"), "string")
        err("weights-missing", head("BinaryClassHead", weight_column="w"), lg1, D([[1], [0]], "int64"))

        # MultiHead inputs
        two = {"type": "MultiHead", "heads": [head("BinaryClassHead", name="a"), head("MultiClassHead", n_classes=3, name="b")], "kwargs": {}}
        labs = {"a": D([[1], [0]], "int64"), "b": D([[2], [0]], "int64")}
        lgs = {"a": lg1, "b": lg3}
        err("multihead-labels-missing", two, lgs, {"a": labs["a"]})
        err("multihead-labels-not-dict", two, lgs, labs["a"])
        err("multihead-logits-missing", two, {"a": lg1}, labs)
        err("multihead-logits-split", two, D([[1., 2., 3.], [4., 5., 6.]], "float32"), labs)
        err("multihead-logits-split-wide", two, D([[1., 2., 3., 4., 5.], [4., 5., 6., 7., 8.]], "float32"), labs)
        err("multihead-label-range", two, lgs, {"a": labs["a"], "b": D([[3], [0]], "int64")}, graph=True)


def generate(seed=SEED):
    g = _Gen(seed)
    g.documented()
    makers = [(g.regression, 45), (g.poisson, 25), (g.logistic, 20), (g.binary, 60), (g.multi_class, 50), (g.multi_label, 70)]
    for make, count in makers:
        for _ in range(count):
            g.single(make)
    for _ in range(60):
        g.multi()
    g.errors()
    return g.cases


if __name__ == "__main__":
    cases = generate()
    print(len(cases), "cases,", sum(bool(c.get("graph")) for c in cases), "in graph mode")
