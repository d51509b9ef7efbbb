"""Throughput and latency harnesses that print comparable figures (`python -m benchmarks`)."""
