"""The Export step: fuse, GGUF and its measured fidelity, Ollama, the local OpenAI-compatible API, and
sharing on Hugging Face with a model card.
"""
