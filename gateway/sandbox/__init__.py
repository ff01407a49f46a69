"""Canvas sandbox: a Canvas SIS Imports API simulator on loopback, for the demo and tests.

`CanvasSandbox` (server.py) is the entry point; `add_sandbox_parser` (cli.py) adds the
`sandbox` subcommand.  Behaviour follows docs/canvas-sis-reference §1-§4.
"""

from gateway.sandbox.server import CanvasSandbox

__all__ = ["CanvasSandbox"]
