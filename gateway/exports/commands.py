"""The exports' operator commands: ``gateway exports`` and ``gateway export run``.

Both work against a running daemon's data dir: ``exports`` reads the store's snapshot;
``export run`` queues a run in one transaction, which the running exporter starts within a
second or two (or the next start does).  Exit codes: 0 done, 1 no such export, 2 no data
dir or a bad config.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from gateway.exports.config import ExportSettings
from gateway.exports.planner import queue_operator_run
from gateway.exports.runs import last_runs, run_summary
from gateway.settings import Settings
from gateway.state.backends import has_store, open_store
from gateway.state.protocols import StateStore

AddCommon = Callable[[argparse.ArgumentParser], None]
SettingsFor = Callable[[argparse.Namespace], Settings]


def add_export_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                       add_common: AddCommon, settings_for: SettingsFor) -> None:
    """Add ``exports`` and ``export run`` to the ``gateway`` command."""
    listing = commands.add_parser("exports", help="every institution's exports and last runs")
    add_common(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=lambda args: _list(settings_for(args), args.json))
    export = commands.add_parser("export", help="run an export now")
    actions = export.add_subparsers(title="actions", dest="action", required=True)
    run = actions.add_parser("run", help="queue a run of INSTITUTION's EXPORT now")
    run.add_argument("institution", metavar="INSTITUTION", help="the institution's name")
    run.add_argument("export", metavar="EXPORT", help="the export's name (its report's, "
                                                      "unless the config names it)")
    add_common(run)
    run.set_defaults(handler=lambda args: _run(settings_for(args), args.institution,
                                               args.export))


def _store(settings: Settings) -> StateStore | None:
    if not has_store(settings):
        print(f"gateway: no gateway data at {settings.data_dir} (state.db missing)",
              file=sys.stderr)
        return None
    return open_store(settings)


def _list(settings: Settings, as_json: bool) -> int:
    store = _store(settings)
    if store is None:
        return 2
    try:
        last = last_runs(store)
    finally:
        store.close()
    rows: list[dict[str, Any]] = [
        {"institution": name, "export": export.export_name, "report": export.report,
         "triggers": triggers(export),
         "last_run": run_summary(last[(name, export.export_name)])
         if (name, export.export_name) in last else None}
        for name, institution in sorted(settings.institutions.items())
        for export in institution.exports]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'INSTITUTION':<16} {'EXPORT':<24} {'WHEN':<34} LAST RUN")
    for row in rows:
        last_run = row["last_run"]
        shown = "-" if last_run is None else (
            f"{last_run['state']} ({last_run['trigger']}, queued {last_run['queued_at']})"
            + (f" {last_run['file']}" if last_run["file"] else "")
            + (f": {last_run['reason']}" if last_run["reason"] else ""))
        print(f"{row['institution']:<16} {row['export']:<24} "
              f"{', '.join(row['triggers']) or '-':<34} {shown}")
    return 0


def triggers(export: ExportSettings) -> list[str]:
    """When an export runs, in words."""
    words = [f"cron {export.schedule!r}"] if export.schedule else []
    if export.after_import:
        words.append("after import")
    if export.on_request:
        words.append("on request")
    if export.run_at_start:
        words.append("at start")
    return words


def _run(settings: Settings, institution: str, name: str) -> int:
    found = settings.institutions.get(institution)
    exports = {e.export_name: e for e in (found.exports if found else [])}
    if name not in exports:
        known = ", ".join(sorted(exports)) or "none"
        print(f"gateway: {institution!r} has no export {name!r} (its exports: {known})",
              file=sys.stderr)
        return 1
    store = _store(settings)
    if store is None:
        return 2
    try:
        run_id = queue_operator_run(store, institution, exports[name])
    finally:
        store.close()
    print(f"queued export run {run_id} ({institution} {name}); the running gateway starts it "
          "within seconds (see `gateway exports`)")
    return 0
