#!/usr/bin/env bash
# The main job: set up .venv (no-op if current), then run the penguin multi-head
# pipeline end to end (LocalDagRunner, SQLite ML Metadata, Beam DirectRunner in
# multi_processing mode). Outputs go to .runs/penguins/; the run ends by printing
# per-head metrics, the report and the pushed model's path.
# Args are passed to `heads-pipeline run`, e.g. --rows 120 --train-steps 200,
# or `-- <beam args>` (see `.venv/bin/heads-pipeline run --help`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
exec .venv/bin/python -m pipelines run --config pipelines/configs/penguins.yaml \
    --output-dir .runs/penguins "$@"
