"""Offline work on a checkpoint directory (no server): converting the hub's MXFP4 gpt-oss to BF16."""
