"""Benchmarks of the heads package (run as modules, e.g. `python -m benchmarks.train_throughput`)."""
