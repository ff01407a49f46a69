"""The `sandbox` subcommand's options and defaults."""

from __future__ import annotations

import argparse

import pytest

from gateway.sandbox import cli, faultflags
from gateway.sandbox.faults import (
    ErrorFault,
    Faults,
    LatencyFault,
    MaintenanceFault,
    OutcomeFault,
    RequestFault,
    StuckFault,
)
from gateway.sandbox.throttle import Throttling


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gateway")
    cli.add_sandbox_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli.TOKEN_ENV, raising=False)
    args = parse(["sandbox"])
    assert (args.host, args.port, args.account, args.token, args.processing_seconds) == (
        "127.0.0.1",
        8765,
        "1",
        "sandbox-token",
        1.0,
    )
    assert args.handler is cli.run_sandbox
    assert (args.errors_file_delay, args.data) == (5.0, None)


def test_data_dir_and_errors_file_delay() -> None:
    args = parse(["sandbox", "--data", "/tmp/sandbox-data", "--errors-file-delay", "0"])
    assert str(args.data) == "/tmp/sandbox-data"
    assert args.errors_file_delay == 0.0
    for bad in ("-1", "nan", "inf"):
        with pytest.raises(SystemExit):
            parse(["sandbox", "--errors-file-delay", bad])


def test_token_from_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.TOKEN_ENV, "from-env")
    assert parse(["sandbox"]).token == "from-env"
    args = parse(
        [
            "sandbox",
            "--token",
            "flag",
            "--port",
            "0",
            "--account",
            "7",
            "--processing-seconds",
            "0.5",
            "--host",
            "127.0.0.2",
        ]
    )
    assert (args.token, args.port, args.account, args.processing_seconds, args.host) == (
        "flag",
        0,
        "7",
        0.5,
        "127.0.0.2",
    )


def test_unbindable_address_returns_1(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["sandbox", "--host", "203.0.113.1", "--port", "0"])  # TEST-NET-3: not ours
    assert cli.run_sandbox(args) == 1
    assert "cannot start" in capsys.readouterr().err


def test_fault_and_throttle_flags() -> None:
    args = parse(
        [
            "sandbox",
            "--seed", "7",
            "--fail-rate", "0.2",
            "--fail-status", "502",
            "--fail-status", "504",
            "--fail-after",
            "--reset-after-rate", "0.1",
            "--reset-before-rate", "0.05",
            "--maintenance-rate", "0.3",
            "--maintenance-status", "200",
            "--latency", "1.5",
            "--stuck-count", "1",
            "--outcome-rate", "0.5",
            "--outcome", "aborted",
            "--fault-method", "POST",
            "--fault-path", "sis_imports$",
            "--request-cost", "12.5",
            "--throttle-status", "429",
        ]
    )  # fmt: skip
    faults = faultflags.faults_from_args(args)
    methods, path = ("POST",), "sis_imports$"
    assert faults == Faults(
        seed=7,
        latency=LatencyFault(rate=1.0, seconds=1.5, methods=methods, path=path),
        reset_before=RequestFault(rate=0.05, methods=methods, path=path),
        maintenance=MaintenanceFault(rate=0.3, status=200, methods=methods, path=path),
        errors=ErrorFault(rate=0.2, statuses=(502, 504), after=True, methods=methods, path=path),
        reset_after=RequestFault(rate=0.1, methods=methods, path=path),
        stuck=StuckFault(count=1),
        outcome=OutcomeFault(rate=0.5, state="aborted"),
    )
    assert faultflags.throttling_from_args(args) == Throttling(request_cost=12.5, status=429)


def test_no_fault_flags_mean_no_faults_and_canvas_throttle() -> None:
    args = parse(["sandbox"])
    assert faultflags.faults_from_args(args) == Faults()
    assert faultflags.throttling_from_args(args) == Throttling()
    assert faultflags.throttling_from_args(parse(["sandbox", "--no-throttle"])).enabled is False


@pytest.mark.parametrize(
    "argv",
    [
        ["--fail-rate", "1.5"],
        ["--fail-status", "404"],
        ["--maintenance-status", "500"],
        ["--latency", "-1"],
        ["--stuck-count", "-2"],
        ["--outcome", "imported"],
        ["--throttle-status", "500"],
    ],
)
def test_bad_fault_flags_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["sandbox", *argv])
