"""Tailor: fine-tune an open LLM on your own Mac, step by step."""
