"""The one error type for bad input: what the user gave cannot be used, and the message says why.

The CLI answers it with exit code 2 and the worker with an `input` error event, never a traceback.
"""


class InputError(ValueError):
    """Bad input (data, settings, model, run); the message names where and how to fix it."""
