"""``python -m agentlightning``: the ``agentlightning`` command (see ``agentlightning.cli``)."""

import sys

from agentlightning.cli import main

sys.exit(main())
