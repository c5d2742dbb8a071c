"""``python -m cli``: the same as the ``seedance`` command."""

import sys

from cli.app import main

sys.exit(main())
