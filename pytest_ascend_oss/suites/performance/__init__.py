"""The guide's 性能 Benchmark: TTFT / TPOT / throughput / QPS at concurrency 1/4/8/16."""
