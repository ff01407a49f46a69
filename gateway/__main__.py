"""``python -m gateway`` runs the ``gateway`` command."""

import sys

from gateway.ops.cli import main

sys.exit(main())
