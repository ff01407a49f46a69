"""The `sandbox` subcommand's options and defaults."""

from __future__ import annotations

import argparse

import pytest

from gateway.sandbox import cli


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
