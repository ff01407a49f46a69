"""How ``gateway ... --help`` reads: plain text.  Docstrings double as help, so their RST
``literals`` are shown as `literals`, and words are never broken at their hyphens
(``hash-password`` stays one word)."""

from __future__ import annotations

import argparse
import textwrap


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help as plain text: docstrings' ``literals`` shown as `literals`, and
    words never broken at their hyphens (``hash-password`` stays one word)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(plain(" ".join(text.split())), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = [textwrap.fill(" ".join(p.split()), width, initial_indent=indent,
                                    subsequent_indent=indent, break_on_hyphens=False)
                      for p in plain(text).split("\n\n")]
        return "\n\n".join(paragraphs)


class RawPlainFormatter(argparse.RawDescriptionHelpFormatter):
    """A description laid out by hand (kept as written), its ``literals`` shown plain."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(plain(text), width, indent)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(plain(" ".join(text.split())), width, break_on_hyphens=False)


def plain(text: str) -> str:
    """``text`` with RST's double backticks as single ones."""
    return text.replace("``", "`")
