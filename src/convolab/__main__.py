"""``python -m convolab``: the ``convolab`` command."""

import sys

from convolab.cli import main

sys.exit(main())
