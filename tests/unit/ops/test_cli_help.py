"""`gateway --help` and `--version`: commands grouped by task, plain text, every option
explained."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from gateway.ops.cli import GROUPS, _parser, main, package_version


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield name, child
                yield from ((f"{name} {n}", c) for n, c in _subparsers(child))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"gateway (sis-gateway) {package_version()}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", package_version())


def test_help_groups_every_command_once_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    titles = [title for title, _ in GROUPS]
    assert [line[:-1] for line in text.splitlines() if line[:-1] in titles] == titles
    listed = re.findall(r"^  ([a-z-]+) {2,}", text.split("\noptions:")[0], re.MULTILINE)
    commands = {name for name, _ in _subparsers(_parser()) if " " not in name}
    assert sorted(listed) == sorted(commands)  # each once, none left out
    assert listed == [name for _, names in GROUPS for name in names]


def test_help_is_plain_text_with_whole_words(capsys: pytest.CaptureFixture[str]) -> None:
    for name, _ in [("", None), *_subparsers(_parser())]:
        with pytest.raises(SystemExit):
            main([*name.split(), "--help"])
        text = capsys.readouterr().out
        assert "``" not in text, name
        assert not re.search(r"[a-z]-\n", text), f"{name}: a word broken at its hyphen"


def test_every_option_has_help() -> None:
    for name, parser in _subparsers(_parser()):
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                assert action.help, f"gateway {name} {action.option_strings or action.dest}"
