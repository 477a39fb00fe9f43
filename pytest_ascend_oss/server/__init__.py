"""Launch, attach to and diagnose an OpenAI-compatible vLLM server. Knows nothing of pytest."""
