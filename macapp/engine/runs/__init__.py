"""The run folder a person keeps: making and finding runs, the events a worker writes, and the one reducer
that works out a run's state from them.
"""
