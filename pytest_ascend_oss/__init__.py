"""Acceptance tests for gpt-oss-20b served by vLLM(-ascend), as a pytest plugin."""

__version__ = "0.1.0"
