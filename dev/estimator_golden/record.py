"""Records tests/golden/estimator_2_15.json.gz from the real tf.estimator 2.15 heads.

Run with the reference environment's Python (see README.md), never the project's:
    /work/refenv/bin/python dev/estimator_golden/record.py [--self-check]
--self-check replays the written golden file against tf.estimator itself.
"""
import argparse
import gzip
import json
import logging
import os
import sys
import time
from importlib.metadata import version
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "estimator_2_15.json.gz"
sys.path[:0] = [str(ROOT / "tests" / "golden"), str(Path(__file__).parent)]

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import cases as case_gen  # noqa: E402
import harness  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--self-check", action="store_true", help="replay the golden file against tf.estimator")
    parser.add_argument("--output", type=Path, default=GOLDEN)
    args = parser.parse_args()
    tf.get_logger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    impl = tf.estimator

    if args.self_check:
        with gzip.open(args.output, "rt") as f:
            golden = json.load(f)
        start, failed = time.time(), 0
        for entry in golden["cases"]:
            diffs = harness.compare(entry["expected"], harness.run_case(impl, entry["case"], v1_graph_eval_spec=True))
            if diffs:
                failed += 1
                print(entry["case"]["id"], *diffs[:5], sep="\n  ")
        print(f"self-check: {len(golden['cases']) - failed} passed, {failed} failed in {time.time() - start:.1f}s")
        return 1 if failed else 0

    start, entries = time.time(), []
    for case in case_gen.generate():
        entries.append({"case": case, "expected": harness.run_case(impl, case, v1_graph_eval_spec=True)})
    meta = {"tensorflow": tf.__version__, "tensorflow_estimator": version("tensorflow-estimator"),
            "numpy": np.__version__, "python": sys.version.split()[0], "seed": case_gen.SEED}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(json.dumps({"meta": meta, "cases": entries}, sort_keys=True, separators=(",", ":")).encode())
    print(f"{len(entries)} cases in {time.time() - start:.1f}s -> {args.output} ({args.output.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
