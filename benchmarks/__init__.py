"""Throughput and memory benchmarks, printed as tables (``make bench``); never timed assertions."""
