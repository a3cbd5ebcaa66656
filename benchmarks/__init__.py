"""Benchmarks side by side with LazyLLM 1.4.0: ``python -m benchmarks`` (see docs/benchmarks.md)."""
