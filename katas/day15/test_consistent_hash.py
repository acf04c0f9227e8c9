"""Task 3: the consistent-hash ring."""

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consistent_hash import ConsistentHashRing

pytestmark = pytest.mark.task(taskno=3)

KEYS = [f"user-{i}" for i in range(20_000)]


_LONG_PREFIX = "https://feature-store.internal/v1/entities/customer/feature-views/" + "embedding/" * 20
# Sets of different keys that one careless step turns into one key, or a few.
KEYS_ALIKE = {
    # encode("ascii", errors="ignore") leaves "-" of each
    "chinese-and-greek": [f"用户{chr(0x4E00 + i)}-{chr(0x3B1 + i % 20)}" for i in range(5000)],
    # lower() merges the 4,096 spellings
    "letter-case-only": ["".join(c.upper() if mask >> i & 1 else c for i, c in enumerate("userfeatures"))
                         for mask in range(2 ** len("userfeatures"))],
    # strip() (keys read line by line) merges the 4,900 paddings of one key
    "surrounding-whitespace-only": [" " * a + "user-42" + "\n" * b for a in range(70) for b in range(70)],
    # unicodedata.normalize("NFKC") merges fullwidth letters with ASCII ones: 4,096 spellings again
    "fullwidth-forms-only": ["".join(chr(ord(c) + 0xFEE0) if mask >> i & 1 else c for i, c in enumerate("userfeatures"))
                             for mask in range(2 ** len("userfeatures"))],
    # unicodedata.normalize("NFC") (or "NFD") merges an accent written as one character with a letter followed by a
    # combining accent: 4,096 spellings of one word
    "composed-or-combining-accents": ["".join("\u00e9" if mask >> i & 1 else "e\u0301" for i in range(12))
                                      for mask in range(2 ** 12)],
    # hashing only the first N characters of URLs and feature paths
    "long-shared-prefix": [f"{_LONG_PREFIX}{i}" for i in range(5000)],
    # a cap as large as 64 KiB or 99,999 characters still merges these
    "very-long-shared-prefix": [f"{'embedding/' * 10_000}{i}" for i in range(300)],
    # file names read with os.fsdecode(): a byte that is not UTF-8 becomes a lone surrogate ('\udc80'..'\udcff');
    # encode("utf-8") raises on it, errors="replace" turns every one into "?"
    "lone-surrogates": [os.fsdecode(b"part-" + bytes([a, b]) + b".parquet") for a in range(0x80, 0x100)
                        for b in range(0x80, 0xA8)],
    # any lone surrogate, not only those os.fsdecode() makes: json.loads() of a string cut in the middle of a
    # UTF-16 pair gives '\ud83d' (half an emoji); os.fsencode() (surrogateescape) raises on it
    "any-lone-surrogate": [f"msg-{chr(a)}{chr(b)}" for a in range(0xD800, 0xE000, 0x20)
                           for b in range(0xD800, 0xE000, 0x20)],
}


def placement(ring, keys=KEYS):
    return {key: ring.get_node(key) for key in keys}


def test_an_empty_ring_raises_lookup_error():
    with pytest.raises(LookupError):
        ConsistentHashRing().get_node("anything")


def test_nodes_lists_the_node_names():
    ring = ConsistentHashRing(["a", "b"])
    ring.add_node("c")
    assert ring.nodes == {"a", "b", "c"}, "nodes should be the set of names given and added"
    ring.remove_node("b")
    assert ring.nodes == {"a", "c"}, "a removed node should no longer be listed"


def test_nodes_is_a_copy_the_ring_can_change_under():
    ring = ConsistentHashRing(["a", "b"])
    taken = ring.nodes
    ring.add_node("c")
    assert taken == {"a", "b"}, f"a set of names taken before add_node('c') should stay {{'a', 'b'}}, it became {taken}"
    for node in ring.nodes:
        ring.remove_node(node)
    assert ring.nodes == set(), "removing every node while looping over `nodes` should leave an empty ring"


def test_nodes_may_be_given_as_any_iterable():
    names = [f"node-{i}" for i in range(5)]
    from_list = ConsistentHashRing(names)
    from_generator = ConsistentHashRing(name for name in names)
    assert from_generator.nodes == set(names), (
        f"a ring built from a generator of {names} should hold all of them, it holds {from_generator.nodes}"
    )
    keys = KEYS[:2000]
    differ = sum(a != b for a, b in zip(placement(from_list, keys).values(), placement(from_generator, keys).values()))
    assert differ == 0, f"{differ} of {len(keys)} keys land elsewhere when the same nodes come from a generator"


def test_adding_a_node_twice_raises_value_error_and_changes_nothing():
    # A refused add_node must not have placed any point first: a second set of points for "a"
    # would double its share of the keys.
    keys = KEYS[:4000]
    ring = ConsistentHashRing(["a", "b", "c"])
    before = placement(ring, keys)
    with pytest.raises(ValueError):
        ring.add_node("a")
    differ = sum(before[k] != owner for k, owner in placement(ring, keys).items())
    assert differ == 0 and ring.nodes == {"a", "b", "c"}, (
        f"add_node('a') of a node already on the ring raised, yet {differ} of {len(keys)} keys moved (nodes now "
        f"{sorted(ring.nodes)}): a refused add_node must leave the ring exactly as it was (check before placing points)"
    )
    ring.remove_node("a")
    without = placement(ConsistentHashRing(["b", "c"]), keys)
    differ = sum(without[k] != owner for k, owner in placement(ring, keys).items())
    assert differ == 0, (
        f"after the refused add_node('a') and then remove_node('a'), {differ} of {len(keys)} keys land elsewhere than "
        "on a ring built with only 'b' and 'c' (some on 'a'?): the refused add_node left points behind that "
        "removing 'a' did not take away"
    )


def test_a_name_listed_twice_in_nodes_raises_value_error():
    # Like add_node of a present node: a second set of points for "a" would double its share of the keys.
    try:
        ring = ConsistentHashRing(["a", "b", "a"])
    except NotImplementedError:
        raise
    except ValueError:
        return
    except Exception as exc:  # noqa: BLE001 - the message names what came instead
        pytest.fail(f"ConsistentHashRing(['a', 'b', 'a']) should raise ValueError (a node listed twice), "
                    f"it raised {exc!r}")
    pytest.fail("ConsistentHashRing(['a', 'b', 'a']) should raise ValueError (a node listed twice), "
                f"it built a ring of {sorted(ring.nodes)}")


def test_removing_an_absent_node_raises_key_error_and_changes_nothing():
    keys = KEYS[:4000]
    ring = ConsistentHashRing(["a", "b", "c"])
    before = placement(ring, keys)
    with pytest.raises(KeyError):
        ring.remove_node("d")
    differ = sum(before[k] != owner for k, owner in placement(ring, keys).items())
    assert differ == 0 and ring.nodes == {"a", "b", "c"}, (
        f"remove_node('d') of a node not on the ring raised, yet {differ} of {len(keys)} keys moved (nodes now "
        f"{sorted(ring.nodes)}): a refused remove_node must leave the ring exactly as it was"
    )


def test_a_single_node_owns_every_key():
    ring = ConsistentHashRing(["only"])
    assert set(placement(ring, KEYS[:500]).values()) == {"only"}, "with one node every key belongs to it"


def test_every_key_goes_to_a_node_on_the_ring_and_always_the_same_one():
    ring = ConsistentHashRing(["a", "b", "c"])
    first = placement(ring, KEYS[:2000])
    assert set(first.values()) <= {"a", "b", "c"}, "get_node must return one of the ring's nodes"
    assert placement(ring, KEYS[:2000]) == first, "asking twice for the same key must give the same node"


def test_load_is_balanced_across_ten_nodes():
    nodes = [f"node-{i}" for i in range(10)]
    ring = ConsistentHashRing(nodes, vnodes=100)
    keys = [f"key-{i}" for i in range(100_000)]
    load = Counter(ring.get_node(key) for key in keys)
    mean = len(keys) / len(nodes)
    ratio = max(load.values()) / mean
    assert set(load) == set(nodes), f"every node should own some keys, got {sorted(load)}"
    assert ratio <= 1.5, (
        f"with 100 virtual nodes each, the busiest of 10 nodes should hold at most 1.5x the mean "
        f"load, but it holds {ratio:.2f}x ({dict(load)}); are virtual nodes spread by a good hash?"
    )


def test_adding_a_node_moves_keys_only_onto_it():
    ring = ConsistentHashRing([f"node-{i}" for i in range(5)])
    before = placement(ring)
    ring.add_node("node-new")
    after = placement(ring)
    moved = [key for key in KEYS if before[key] != after[key]]
    wrong = [key for key in moved if after[key] != "node-new"]
    assert not wrong, f"{len(wrong)} keys moved between old nodes (e.g. {wrong[:3]}); they may only move to the new node"
    assert 0.08 * len(KEYS) <= len(moved) <= 0.3 * len(KEYS), (
        f"a 6th node should take roughly 1/6 of the keys, it took {len(moved)} of {len(KEYS)}"
    )


def test_removing_a_node_moves_only_its_keys():
    ring = ConsistentHashRing([f"node-{i}" for i in range(5)])
    before = placement(ring)
    ring.remove_node("node-2")
    after = placement(ring)
    moved = {key for key in KEYS if before[key] != after[key]}
    owned = {key for key in KEYS if before[key] == "node-2"}
    assert moved == owned, (
        f"removing node-2 should move exactly its {len(owned)} keys; {len(moved - owned)} other keys moved"
    )
    assert "node-2" not in set(after.values()), "no key may stay on a removed node"


def test_the_default_is_100_virtual_nodes():
    nodes = [f"node-{i}" for i in range(5)]
    keys = KEYS[:5000]
    default = placement(ConsistentHashRing(nodes), keys)
    explicit = placement(ConsistentHashRing(nodes, vnodes=100), keys)
    differ = sum(default[k] != explicit[k] for k in keys)
    assert differ == 0, (
        f"ConsistentHashRing(nodes) should place keys exactly like vnodes=100 (the default), "
        f"but {differ} of {len(keys)} keys land elsewhere"
    )


@pytest.mark.parametrize(
    "nodes, removed",
    [
        (["cache-1", "cache-2", "cache-11"], "cache-11"),
        (["cache-1", "cache-2", "cache-11"], "cache-1"),
        (["10.0.0.1", "10.0.0.2", "110.0.0.1"], "110.0.0.1"),
        (["10.0.0.1", "10.0.0.2", "110.0.0.1"], "10.0.0.1"),
    ],
    ids=["cache-11", "cache-1", "110.0.0.1", "10.0.0.1"],
)
def test_a_node_whose_name_extends_another_keeps_its_own_points(nodes, removed):
    # "cache-1" point 10 and "cache-11" point 0 must stay two points, whatever text you hash;
    # and removing "cache-1" must not take the points of "cache-11", whose name starts with it.
    # A name may extend another at the front too: "110.0.0.1" point 1 and "10.0.0.1" point 11.
    keys = KEYS[:4000]
    ring = ConsistentHashRing(nodes)
    ring.remove_node(removed)
    rest = [node for node in nodes if node != removed]
    after, without = placement(ring, keys), placement(ConsistentHashRing(rest), keys)
    differ = sum(after[k] != without[k] for k in keys)
    assert differ == 0, (
        f"after removing {removed!r}, {differ} of {len(keys)} keys land elsewhere than on a ring built with "
        f"only {rest}: did adding one node overwrite some of the other's points (labels like f'{{node}}{{i}}' "
        "collide: 'cache-1' + '10' == 'cache-11' + '0', and f'{{i}}{{node}}' too: '11' + '10.0.0.1' == '1' + "
        "'110.0.0.1'), or did removing a node also drop the points of a node whose name merely starts with it?"
    )


def test_removing_a_node_from_a_crowded_ring_leaves_the_other_points_in_place():
    # 9,000 points: with short positions (16 or 24 bits) some points of two nodes land on the
    # same position. Both must stay on the ring, so removing one node leaves the other's point.
    nodes, keys = ["node-a", "node-b", "node-c"], KEYS[:8000]
    ring = ConsistentHashRing(nodes, vnodes=3000)
    ring.remove_node("node-b")
    after, without = placement(ring, keys), placement(ConsistentHashRing(["node-a", "node-c"], vnodes=3000), keys)
    differ = sum(after[k] != without[k] for k in keys)
    assert differ == 0, (
        f"after removing 'node-b' from a ring of 3 nodes x 3000 virtual nodes, {differ} of {len(keys)} keys land "
        "elsewhere than on a ring built with only 'node-a' and 'node-c': when points of two nodes share a "
        "position, removing one node must not take the other's point with it (or use positions of 64 bits)"
    )


@pytest.mark.parametrize("vnodes", [2000, 20_000])
def test_two_nodes_whose_names_extend_each_other_split_the_keys_evenly(vnodes):
    # With labels like f"{node}{i}", half of 'cache-11''s points land exactly on points of
    # 'cache-1' ('cache-11' + '0' == 'cache-1' + '10'): those points own nothing, and
    # 'cache-11' gets about a third of the keys. 2,000 points each make the split even. Padding the number
    # (f"{node}{i:04d}") only moves the collisions to point 10,000: 'cache-1' + '10000' == 'cache-11' + '0000'.
    ring = ConsistentHashRing(["cache-1", "cache-11"], vnodes=vnodes)
    load = Counter(placement(ring).values())
    share = load["cache-11"] / len(KEYS)
    assert 0.45 <= share <= 0.55, (
        f"with {vnodes} virtual nodes each, 'cache-1' and 'cache-11' should each hold about half of the "
        f"keys, but 'cache-11' holds {share:.0%}: do some of its points sit exactly on points of "
        "'cache-1' (labels like f'{node}{i}' collide: 'cache-1' + '10' == 'cache-11' + '0', and zero-padded "
        "ones too from point 10,000 on: 'cache-1' + '10000' == 'cache-11' + '0000')? Separate the name from the "
        "number, or hash the name's length with it"
    )


@pytest.mark.parametrize(
    "nodes",
    [["缓存-α", "缓存-β"], ["Cache-A", "cache-a"], ["cache-a", "cache-a "], [" cache-a", "cache-a"],
     ["cache-a", "cache-a\n"], ["ｃａｃｈｅ-a", "cache-a"], ["cache-\udcff", "cache-?"],
     ["cache-\ud83d", "cache-?"], ["caf\u00e9", "cafe\u0301"]],
    ids=["non-ascii", "case", "trailing-space", "leading-space", "trailing-newline", "fullwidth", "lone-surrogate",
         "high-surrogate", "composed-or-combining-accent"],
)
def test_nodes_with_different_names_keep_their_own_points(nodes):
    # Names are any text, hashed exactly as given. Cleaning a name first gives both nodes below the same
    # points, and the node that wins every tie owns every key: `encode("ascii", errors="ignore")` (or
    # "replace") merges the Chinese and Greek names, lower() (as if it were a host name) merges "Cache-A" and
    # "cache-a", strip() (names read from a config file) merges "cache-a " and "cache-a", and
    # unicodedata.normalize("NFKC") turns fullwidth "ｃａｃｈｅ" into "cache" (and "NFC" turns "cafe" with a combining
    # accent into "café" written with one character). A lone surrogate ("\udcff", from
    # os.fsdecode() of a host file name) makes encode("utf-8") raise and becomes "?" with errors="replace".
    try:
        ring = ConsistentHashRing(nodes, vnodes=2000)
        load = Counter(placement(ring).values())
    except UnicodeError as exc:
        pytest.fail(f"a ring of {nodes!r} raised {exc!r}: names are any text, every lone surrogate too (not only "
                    "'\\udc80'..'\\udcff'); hash it with encode('utf-8', 'surrogatepass'), not os.fsencode()")
    shares = {node: round(load[node] / len(KEYS), 2) for node in nodes}
    assert all(0.45 <= share <= 0.55 for share in shares.values()), (
        f"with 2000 virtual nodes each, {nodes[0]!r} and {nodes[1]!r} should each hold about half of the keys, "
        f"but they hold {shares}: they are different names, so hash every character as it is, its UTF-8 bytes "
        "(encode('utf-8', 'surrogatepass') keeps a lone surrogate too; never drop or replace characters: no "
        "errors='replace'/'ignore', lower(), strip(), unicodedata.normalize() or other cleaning of the name)"
    )


@pytest.mark.parametrize("kind", KEYS_ALIKE)
def test_keys_that_differ_little_spread_over_the_nodes(kind):
    # Keys are any text, hashed exactly as given: each set below becomes one key (or a few), on one node, when the
    # key is cleaned or cut before hashing.
    nodes = [f"node-{i}" for i in range(10)]
    ring = ConsistentHashRing(nodes)
    keys = KEYS_ALIKE[kind]
    try:
        load = Counter(placement(ring, keys).values())
    except UnicodeError as exc:
        pytest.fail(f"get_node() of a key such as {keys[1]!r} ({kind}) raised {exc!r}: keys are any text, a lone "
                    "surrogate too; hash it with encode('utf-8', 'surrogatepass'), not plain encode('utf-8')")
    assert set(load) == set(nodes), (
        f"{len(keys):,} different keys ({kind}, such as {keys[1]!r}) should land on all 10 nodes, but only "
        f"{sorted(load)} own any ({dict(load)}): hash every character of the key as it is, its UTF-8 bytes (never "
        "drop or replace characters (encode('utf-8', 'surrogatepass') keeps lone surrogates), no lower(), strip() "
        "or unicodedata.normalize(), no length cap)"
    )


def test_two_rings_alive_at_once_each_place_keys_on_their_own_nodes():
    # One ring per model or region: a lookup memo or sorted index kept on the class (`_cache = {}` in the class
    # body) is shared by every ring, so the second ring answers with the first ring's nodes.
    keys = KEYS[:2000]
    alone = placement(ConsistentHashRing(["model-a", "model-b"]), keys)
    features = ConsistentHashRing(["feature-a", "feature-b", "feature-c"])
    models = ConsistentHashRing(["model-a", "model-b"])
    answers, feature_answers = {}, set()
    for key in keys:
        feature_answers.add(features.get_node(key))
        answers[key] = models.get_node(key)
    assert feature_answers <= {"feature-a", "feature-b", "feature-c"}, (
        f"a ring of feature nodes answered {sorted(feature_answers)}: it may only answer with its own nodes"
    )
    differ = sum(answers[k] != alone[k] for k in keys)
    assert differ == 0, (
        f"a ring of 'model-a' and 'model-b' asked right after a ring of feature nodes placed {differ} of {len(keys)} "
        f"keys elsewhere than the same ring asked alone (e.g. on {sorted(set(answers.values()) - set(alone.values()))}): "
        "every ring keeps its own state (nothing on the class or module shared between rings)"
    )


def test_a_ring_in_use_that_swaps_one_node_for_another_places_keys_afresh():
    # A ring answers lookups between changes. Removing one node and adding another leaves the same
    # number of points, so a sorted index rebuilt only when the count of points changes stays stale.
    keys = KEYS[:4000]
    ring = ConsistentHashRing(["node-a", "node-b", "node-c"])
    placement(ring, keys[:10])
    ring.remove_node("node-b")
    ring.add_node("node-d")
    expected = placement(ConsistentHashRing(["node-a", "node-c", "node-d"]), keys)
    got = {}
    for key in keys:
        try:
            got[key] = ring.get_node(key)
        except LookupError:
            got[key] = None
    differ = sum(got[k] != expected[k] for k in keys)
    assert differ == 0, (
        f"after a lookup, then removing 'node-b' and adding 'node-d', {differ} of {len(keys)} keys land elsewhere "
        "than on a ring built with 'node-a', 'node-c' and 'node-d' (or on no node): every change of the nodes "
        "must reach the lookups, also one that leaves the number of points the same"
    )


def test_points_of_different_nodes_practically_never_share_a_position():
    # 60,000 points: on a ring of 16-bit positions (65,536 of them) most points share a position with
    # a point of another node, and a tie always goes the same way (to the smaller name, or to the node
    # added first), so that node takes far more than its share. 64-bit positions never tie in practice.
    nodes = ["node-a", "node-b", "node-c"]
    ring = ConsistentHashRing(nodes, vnodes=20_000)
    load = Counter(placement(ring).values())
    mean = len(KEYS) / len(nodes)
    shares = {node: round(load[node] / mean, 2) for node in nodes}
    assert all(0.9 <= share <= 1.1 for share in shares.values()), (
        f"with 20,000 virtual nodes each, each of 3 nodes should hold a third of the keys (within 10 %), but "
        f"they hold {shares} times a third: do points of different nodes land on the same position? Use "
        "positions wide enough (64 bits) that they practically never do"
    )


@pytest.mark.parametrize("vnodes, number, why", [
    (True, 1, "True is 1 (bool is a subclass of int): a flag or a parsed setting may hand it over as it is"),
    (np.int64(3), 3, "a setting read from a config array is a NumPy integer, no int, but a whole number"),
    (np.uint16(3), 3, "a setting read from a config array is a NumPy integer, no int, but a whole number"),
], ids=["true", "numpy-int64", "numpy-uint16"])
def test_vnodes_of_another_whole_number_type_is_that_many_points(vnodes, number, why):
    # Refusing a number for its type is refusing the number.
    nodes = [f"node-{i}" for i in range(8)]
    keys = KEYS[:4000]
    try:
        ring = ConsistentHashRing(nodes, vnodes=vnodes)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - the message names what came instead
        pytest.fail(f"ConsistentHashRing(nodes, vnodes={vnodes!r}) should be the ring of vnodes={number}, it raised "
                    f"{exc!r}: {why}")
    same = placement(ConsistentHashRing(nodes, vnodes=number), keys)
    differ = sum(same[k] != owner for k, owner in placement(ring, keys).items())
    assert differ == 0, (f"ConsistentHashRing(nodes, vnodes={vnodes!r}) should place keys exactly like "
                         f"vnodes={number} ({why}), but {differ} of {len(keys)} keys went elsewhere")


def test_with_one_point_each_the_nodes_form_one_circle():
    # One point per node: removing a node hands its keys to the next node clockwise, its
    # neighbour. On a circle every node is the neighbour of exactly one other node, including
    # the first one, which receives the keys past the last point (wrapping around).
    nodes = [f"node-{i}" for i in range(8)]
    keys = KEYS[:8000]
    ring = ConsistentHashRing(nodes, vnodes=1)
    before = placement(ring, keys)
    takes_over_from = {}
    for gone in nodes:
        ring = ConsistentHashRing([n for n in nodes if n != gone], vnodes=1)
        for key, owner in placement(ring, keys).items():
            if before[key] == gone:
                takes_over_from.setdefault(owner, set()).add(gone)
    twice = {node: sorted(given) for node, given in takes_over_from.items() if len(given) > 1}
    assert not twice, (
        f"with one point per node, each node should take over the keys of only its one neighbour "
        f"counter-clockwise, but {twice} took over the keys of several nodes: do keys past the last "
        "point wrap around to the first point?"
    )


def test_a_node_added_later_gets_as_many_points_as_the_others():
    # A ring that grew by add_node must be the ring built with all its nodes at once: the node
    # added later gets the ring's `vnodes` points too, not some default count.
    nodes = [f"node-{i}" for i in range(8)]
    keys = KEYS[:4000]
    grown = ConsistentHashRing(nodes[:-1], vnodes=3)
    grown.add_node(nodes[-1])
    at_once = ConsistentHashRing(nodes, vnodes=3)
    differ = sum(a != b for a, b in zip(placement(grown, keys).values(), placement(at_once, keys).values()))
    assert differ == 0, (
        f"{differ} of {len(keys)} keys land elsewhere on a ring of vnodes=3 that got {nodes[-1]!r} through "
        f"add_node than on one built with all {len(nodes)} nodes: add_node should place the ring's `vnodes` "
        "points, the same ones the constructor places"
    )


@pytest.mark.parametrize("vnodes", [1, 3])
def test_a_removed_nodes_keys_go_to_at_most_vnodes_other_nodes(vnodes):
    # Each of the node's `vnodes` points hands its arc to the next point clockwise, so its
    # keys can land on at most `vnodes` other nodes: this shows `vnodes` is honoured.
    nodes = [f"node-{i}" for i in range(8)]
    keys = KEYS[:4000]
    for gone in nodes:
        ring = ConsistentHashRing(nodes, vnodes=vnodes)
        before = placement(ring, keys)
        ring.remove_node(gone)
        after = placement(ring, keys)
        receivers = {after[k] for k in keys if before[k] == gone}
        assert len(receivers) <= vnodes, (
            f"with vnodes={vnodes}, {gone!r} has {vnodes} point(s) on the ring, so its keys may move to at "
            f"most {vnodes} other node(s); they moved to {sorted(receivers)}: is `vnodes` ignored?"
        )


PLACEMENT_SCRIPT = """
import json, sys
from consistent_hash import ConsistentHashRing
ring = ConsistentHashRing([f"node-{i}" for i in range(7)])
print(json.dumps({k: ring.get_node(k) for k in json.loads(sys.stdin.read())}))
"""


def test_placement_is_identical_in_another_process(impl_dir):
    keys = KEYS[:2000]
    here = placement(ConsistentHashRing([f"node-{i}" for i in range(7)]), keys)
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(impl_dir)}
        result = subprocess.run(
            [sys.executable, "-c", PLACEMENT_SCRIPT],
            input=json.dumps(keys), capture_output=True, text=True, env=env, timeout=60, check=False,
        )
        assert result.returncode == 0, f"the placement script failed in a subprocess:\n{result.stderr[-2000:]}"
        there = json.loads(result.stdout)
        differ = sum(here[k] != there[k] for k in keys)
        assert differ == 0, (
            f"{differ} of {len(keys)} keys land on another node in a process with PYTHONHASHSEED={seed}: "
            "placement must not depend on the built-in hash(), which is salted per process"
        )


node_names = st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=6, unique=True)


@settings(max_examples=60)
@given(nodes=node_names, new=st.text(min_size=1, max_size=8), keys=st.lists(st.text(max_size=12), min_size=1, max_size=60))
def test_for_any_nodes_adding_then_removing_only_touches_that_node(nodes, new, keys):
    if new in nodes:
        nodes = [n for n in nodes if n != new]
    ring = ConsistentHashRing(nodes, vnodes=20)
    before = placement(ring, keys)
    ring.add_node(new)
    with_new = placement(ring, keys)
    for key in keys:
        assert with_new[key] in (before[key], new), (
            f"adding {new!r} moved key {key!r} from {before[key]!r} to {with_new[key]!r}"
        )
    ring.remove_node(new)
    assert placement(ring, keys) == before, f"removing {new!r} again should restore the original placement"
