"""Tailor: fine-tune an open LLM on your own Mac, step by step."""

__version__ = "0.1.0"
