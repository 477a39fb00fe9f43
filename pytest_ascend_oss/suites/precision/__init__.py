"""The guide's 精度对比: token match, hidden-state cosine, perplexity difference, ROUGE-L.
prompts -> collect (per server) -> compare (+ hidden) -> report; baseline files keep a reference;
run.py ties them together."""
