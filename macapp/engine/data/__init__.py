"""The Data step: read what a person brings (files, workbooks, documents), turn it into examples, split it,
and make data with a local model.
"""
