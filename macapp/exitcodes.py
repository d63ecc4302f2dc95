"""Exit codes shared by the `tailor` command and the worker process.

0 done, 1 failed, 2 bad input (the message names the place and the fix), 130 stopped (as after Ctrl-C).
"""

DONE, FAILED, BAD_INPUT, STOPPED = 0, 1, 2, 130
