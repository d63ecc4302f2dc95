"""The window's pages: one per step (Check, Data, Train, Test, Export) and the list of past runs.

Each page reads and writes the shared Plan and says through `ready` whether the user may go on.
"""
