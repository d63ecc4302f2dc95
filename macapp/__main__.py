"""`python -m macapp`: the same as the `tailor` command."""

import sys

from .cli import main

sys.exit(main())
