"""The embedded default: offline o200k_harmony vocab and a tiny GPT-OSS model for vLLM CPU.

Nothing here imports pytest; the CLI and the plugin both use it.
"""
