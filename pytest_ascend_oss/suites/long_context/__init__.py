"""The guide's 长上下文测试: needle in a haystack up to 131,072 tokens, sized by the server's own
tokenizer, judged exactly. cases -> sizing (+ haystack) -> runner -> verdict -> report; run.py
ties them together."""
