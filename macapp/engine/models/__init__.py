"""The models: the catalog of what fits this Mac, downloads and the models already here, the hub token,
loading, memory, and the built-in demo.
"""
