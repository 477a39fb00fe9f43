"""The self-check: each criterion of the acceptance suite seen failing on the user's own server
behind a fault that should flip it (``pytest -m selfcheck``, ``ascend-oss selfcheck``)."""
