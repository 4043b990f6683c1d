"""Differential test: `heads` replays the golden results of the real tf.estimator 2.15 heads.

The golden file (tests/golden/estimator_2_15.json.gz) holds every case spec and
its recorded result; dev/estimator_golden/README.md tells how to rebuild it.
"""
import gzip
import importlib.util
import json
from pathlib import Path

import pytest

import heads

GOLDEN_DIR = Path(__file__).parent / "golden"
_spec = importlib.util.spec_from_file_location("estimator_golden_harness", GOLDEN_DIR / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

with gzip.open(GOLDEN_DIR / "estimator_2_15.json.gz", "rt") as f:
    GOLDEN = json.load(f)


def test_golden_file_is_complete():
    assert GOLDEN["meta"]["tensorflow_estimator"].startswith("2.15")
    assert len(GOLDEN["cases"]) >= 400


@pytest.mark.parametrize("entry", GOLDEN["cases"], ids=[e["case"]["id"] for e in GOLDEN["cases"]])
def test_matches_tf_estimator_2_15(entry):
    diffs = harness.compare(entry["expected"], harness.run_case(heads, entry["case"]))
    assert not diffs, f"{len(diffs)} difference(s) from tf.estimator 2.15:\n" + "\n".join(diffs[:30])
