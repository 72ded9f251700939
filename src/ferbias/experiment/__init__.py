"""Experiments: spec, data, grid of runs, the runner and executors."""
