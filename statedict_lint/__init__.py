"""statedict-lint: predict a PyTorch model's state_dict from source and check checkpoints against it.

Nothing under this package imports torch at module level; the static path (keys, lint, inspect,
the flake8 plugin) never imports torch or the user's code.
"""

__version__ = "0.1.0"
