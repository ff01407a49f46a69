"""Headless Chromium (Debian's `chromium`) as a person's browser: the DOM it built, a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--window-size=1280,900"]


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("Debian's chromium is needed for the page tests: apt-get install chromium")
    return subprocess.run([binary, *_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM after Chromium loaded ``url`` (what a person's browser shows, as HTML)."""
    return _chromium(profile, "--dump-dom", url).stdout


def screenshot(url: str, profile: Path, target: Path) -> Path:
    """A 1280x900 PNG of ``url``; fails if Chromium wrote none."""
    _chromium(profile, f"--screenshot={target}", url)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no PNG screenshot"
    return target
