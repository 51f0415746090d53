"""``python -m agentlightning.cli``: the ``agentlightning`` command."""

import sys

from agentlightning.cli import main

sys.exit(main())
