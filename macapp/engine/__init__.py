"""Tailor's engine: plain Python over MLX and mlx-lm, shared by the CLI, the worker and the app.

It never imports Qt; the GUI is a thin layer on top.
"""

import os

# transformers warns at import that PyTorch is missing; MLX does not need it.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
