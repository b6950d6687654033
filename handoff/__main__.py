"""``python -m handoff`` is the ``handoff`` command (SPEC 11)."""

import sys

from handoff.cli import main

sys.exit(main())
