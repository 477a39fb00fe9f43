"""What the gpt-oss format is, independent of any server or model build: the o200k vocab and
where it lives, the harmony rendering and special ids, the HF tokenizer.json, tool definitions.
"""
