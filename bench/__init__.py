"""Benchmarks: the engine against raw SpiffWorkflow doing the same work, printed as one table."""
