"""Everything Qt: the window, its pages and widgets, and the bridge to the worker process.

The engine never imports from here; heavy work runs in the worker, started through bridge.Job.
"""
