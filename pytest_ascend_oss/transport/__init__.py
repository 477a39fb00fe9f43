"""How we talk HTTP to a vLLM (OpenAI-compatible) server: headers, clients, timeouts, SSE,
timed streaming, vLLM's own endpoints and its Prometheus counters. Imports nothing else of the
package but ``metrics`` (a streamed request fills a ``RequestRecord``)."""
