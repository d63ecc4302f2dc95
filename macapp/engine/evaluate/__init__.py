"""The Test step: answers of the base and the tuned model, how they are drawn and scored, and the
report.
"""
