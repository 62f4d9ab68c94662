"""Atrium benchmarks: each module measures one thing against a baseline taken in the same run,
prints a table and writes ``bench/results/<name>.json``. Run all with ``python -m bench`` or one
with ``python -m bench NAME``. These are measurements, never pass/fail tests."""
