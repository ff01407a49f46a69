"""Which live node should hold each institution: rendezvous (highest random weight) hashing.

Each (institution, node) pair gets a stable pseudo-random weight; an institution belongs to
the live node with the highest.  Every node computes the same answer from the same list of
live nodes, with no coordination, and when a node joins or leaves only the institutions it
gains or loses change hands (about 1/n of them), not the whole spread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def weight(institution: str, node: str) -> int:
    """The pair's weight: stable across processes and versions (not Python's ``hash``)."""
    digest = hashlib.blake2b(f"{institution}\0{node}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(institution: str, nodes: Sequence[str]) -> str | None:
    """The node that should hold ``institution`` among ``nodes`` (None when there are none);
    ties, vanishingly rare, go to the smaller name so every node agrees."""
    if not nodes:
        return None
    return max(nodes, key=lambda node: (weight(institution, node), _reverse(node)))


def share(institutions: Iterable[str], nodes: Sequence[str], node: str) -> set[str]:
    """The institutions ``node`` should hold when ``nodes`` are the live ones."""
    return {name for name in institutions if owner(name, nodes) == node}


def _reverse(node: str) -> tuple[int, ...]:
    """A key that orders names in reverse, so ``max`` prefers the smaller on a tie."""
    return (*(-ord(character) for character in node), 1)
