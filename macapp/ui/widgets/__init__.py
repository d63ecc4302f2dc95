"""Widgets the pages share: the step list, the charts (loss, speed, memory, token lengths).

Charts keep their points in numpy buffers and redraw only when their page's timer asks.
"""
