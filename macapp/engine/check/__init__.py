"""Checks of this Mac before it trains: the machine and its memory, the GPU guard, the maths library, and
keeping the Mac awake.
"""
