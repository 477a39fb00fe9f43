"""Repository-level wiring only.

The plugin itself (options, markers, fixtures) is ``pytest_ascend_oss.plugin``, registered once
through the ``pytest11`` entry point when the package is installed; registering it here as well
would load it twice. Install the project (``pip install -e .``) before running ``pytest``.
"""
