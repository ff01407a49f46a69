"""Rendezvous hashing: every node agrees, the spread is even, a change moves little."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.cluster.assignment import owner, share, weight

INSTITUTIONS = [f"inst{n:03d}" for n in range(300)]
names = st.lists(st.text("abcdefgh-0123", min_size=1, max_size=6), min_size=1, max_size=6,
                 unique=True)


def test_the_weight_is_stable_across_processes() -> None:
    # Fixed value: a change of hash would move every institution at a rolling upgrade.
    assert weight("alpha", "node-a") == 0x08F5195BF0E3F242
    assert weight("alpha", "node-b") != weight("alpha", "node-a")


@given(names)
def test_every_institution_has_exactly_one_node_and_order_does_not_matter(
        nodes: list[str]) -> None:
    shares = [share(INSTITUTIONS, nodes, node) for node in nodes]
    assert sum(len(part) for part in shares) == len(INSTITUTIONS)
    assert set().union(*shares) == set(INSTITUTIONS)
    assert [owner(i, nodes) for i in INSTITUTIONS] == \
        [owner(i, list(reversed(nodes))) for i in INSTITUTIONS]


def test_no_live_node_owns_nothing() -> None:
    assert owner("alpha", []) is None
    assert share(INSTITUTIONS, [], "a") == set()


def test_three_nodes_share_evenly() -> None:
    nodes = ["node-a", "node-b", "node-c"]
    sizes = [len(share(INSTITUTIONS, nodes, node)) for node in nodes]
    assert min(sizes) >= 70, sizes  # 100 each on average


@given(names, st.text("xyz", min_size=1, max_size=3))
def test_a_node_joining_takes_only_from_others_and_moves_nothing_else(
        nodes: list[str], joining: str) -> None:
    if joining in nodes:
        return
    before = {i: owner(i, nodes) for i in INSTITUTIONS}
    after = {i: owner(i, [*nodes, joining]) for i in INSTITUTIONS}
    moved = {i for i in INSTITUTIONS if before[i] != after[i]}
    assert all(after[i] == joining for i in moved)
