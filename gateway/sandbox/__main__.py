"""`python -m gateway.sandbox`: run the Canvas sandbox in the foreground."""

from gateway.sandbox.cli import main

raise SystemExit(main())
