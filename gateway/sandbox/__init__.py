"""Canvas sandbox: a Canvas SIS Imports API simulator on loopback, for the demo and tests.

`CanvasSandbox` (server.py) is the entry point; `add_sandbox_parser` (cli.py) adds the
`sandbox` subcommand.  Behaviour follows canvas-lms's source (the README's fidelity table
names the file behind each behaviour) and is checked with canvasapi; API users (users.py),
persistence in a data dir (journal.py), fault injection (faults.py) and Canvas's throttle
(throttle.py) are configurable per sandbox.
"""

from gateway.sandbox.faults import (
    ErrorFault,
    Faults,
    ImportFault,
    LatencyFault,
    MaintenanceFault,
    OutcomeFault,
    RequestFault,
    StuckFault,
)
from gateway.sandbox.server import CanvasSandbox
from gateway.sandbox.throttle import Throttling

__all__ = [
    "CanvasSandbox",
    "ErrorFault",
    "Faults",
    "ImportFault",
    "LatencyFault",
    "MaintenanceFault",
    "OutcomeFault",
    "RequestFault",
    "StuckFault",
    "Throttling",
]
