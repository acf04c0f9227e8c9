"""Task 1: the sticky weighted traffic splitter."""

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traffic import TrafficSplitter

pytestmark = pytest.mark.task(taskno=1)

USERS = [f"user-{i}" for i in range(100_000)]


def shares(splitter, users=USERS):
    counts = Counter(splitter.route(u) for u in users)
    return {name: count / len(users) for name, count in counts.items()}


def agreement(first, second, pairs):
    """The share of (id for `first`, id for `second`) pairs the two splitters send to the same variant: about half
    when the two routings are independent, as they must be for different users or different salts."""
    pairs = list(pairs)
    return sum(first.route(x) == second.route(y) for x, y in pairs) / len(pairs)


def test_route_returns_one_of_the_variants_and_always_the_same_one():
    splitter = TrafficSplitter({"stable": 0.9, "canary": 0.1})
    first = [splitter.route(u) for u in USERS[:2000]]
    assert set(first) == {"stable", "canary"}, f"route must return a variant name, got {set(first)}"
    changed = sum(splitter.route(u) != f for u, f in zip(USERS, first))
    assert changed == 0, f"asking twice for the same user must give the same variant; {changed} of 2000 users moved"
    again = TrafficSplitter({"stable": 0.9, "canary": 0.1})
    changed = sum(again.route(u) != f for u, f in zip(USERS, first))
    assert changed == 0, (
        f"a second splitter with the same weights and salt must route every user the same way; {changed} differ")


@pytest.mark.parametrize("weights", [
    {"stable": 0.95, "canary": 0.05},
    {"control": 0.5, "treatment": 0.5},
    {"a": 0.2, "b": 0.3, "c": 0.5},
    {"a": 0.01, "b": 0.09, "c": 0.6, "d": 0.3},
])
def test_shares_over_100000_users_are_within_one_point_of_the_weights(weights):
    got = shares(TrafficSplitter(weights))
    for name, weight in weights.items():
        assert abs(got.get(name, 0.0) - weight) <= 0.01, (
            f"over 100,000 users {name!r} should get {weight:.0%} (within 1 point), got {got.get(name, 0.0):.2%}; "
            f"all shares: {got}")


def test_weights_are_normalised():
    got = shares(TrafficSplitter({"stable": 3, "canary": 1}))
    assert abs(got.get("canary", 0) - 0.25) <= 0.01 and abs(got.get("stable", 0) - 0.75) <= 0.01, (
        f"weights 3 and 1 mean 75 % and 25 %, got {got}")
    big = TrafficSplitter({"stable": 300, "canary": 100})
    small = TrafficSplitter({"stable": 0.75, "canary": 0.25})
    differ = sum(big.route(u) != small.route(u) for u in USERS[:20_000])
    assert differ <= 2, f"weights 300:100 and 0.75:0.25 are the same split, yet {differ} of 20,000 users differ"


def test_huge_finite_weights_are_normalised_without_overflow():
    # 1e308 + 1e308 overflows a float to inf: a plain sum would leave "a" a slice 0 wide.
    try:
        got = shares(TrafficSplitter({"a": 1e308, "b": 1e308}))
    except ValueError as exc:
        raise AssertionError(
            "weights {'a': 1e308, 'b': 1e308} are finite and >= 0 with a positive sum, so they are normalised to "
            f"50 % / 50 % (divide by the largest weight first, or sum exactly), not refused: got {exc!r}") from exc
    for name in "ab":
        assert abs(got.get(name, 0.0) - 0.5) <= 0.02, (
            f"weights 1e308 and 1e308 are 50 % each, but over 100,000 users {name!r} got {got.get(name, 0.0):.2%} "
            f"(all shares: {got}); does the sum of the weights overflow to inf?")


@pytest.mark.parametrize("user_id", ["user-\ud800", "user-\udfff"], ids=["lone-high-surrogate", "lone-low-surrogate"])
def test_a_user_id_with_a_lone_surrogate_is_routed(user_id):
    splitter = TrafficSplitter({"stable": 0.5, "canary": 0.5}, salt="exp-1")
    try:
        got = [splitter.route(user_id) for _ in range(5)]
    except UnicodeError as exc:
        raise AssertionError(
            f"a user id is any str, also {user_id!r} with a lone surrogate (JSON text can carry one): route it like "
            f"any other (encode with errors='surrogatepass'), got {exc!r}") from exc
    assert got[0] in {"stable", "canary"} and len(set(got)) == 1, (
        f"route({user_id!r}) must return a variant name, the same on every call, got {got}")


def test_uuid_like_user_ids_are_spread_too():
    users = [f"{i:08x}-7f3a-4c1e-9b2d-{i * 7919:012x}" for i in range(50_000)]
    got = shares(TrafficSplitter({"stable": 0.8, "canary": 0.2}), users)
    assert abs(got.get("canary", 0) - 0.2) <= 0.01, f"20 % of uuid-like ids should see the canary, got {got}"


@pytest.mark.parametrize("variant_of", [str.upper, str.title, lambda u: u + " ", lambda u: " " + u],
                         ids=["upper-case", "title-case", "trailing-space", "leading-space"])
def test_user_ids_are_taken_exactly_as_given(variant_of):
    users = [f"user-{i}" for i in range(4000)]
    splitter = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="exp")
    same = agreement(splitter, splitter, ((u, variant_of(u)) for u in users))
    assert 0.45 <= same <= 0.55, (
        f"user ids that differ only by case or by spaces ({users[0]!r} vs {variant_of(users[0])!r}) are different users, "
        f"yet they got the same variant {same:.1%} of the time, not about half: the splitter must hash the id exactly "
        "as given, without lower-casing or stripping it")


def full_width(text):
    """The full-width form of the ASCII in `text` ('user-1' -> 'ｕｓｅｒ－１'), which NFKC folds back."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# 10,000 pairs: a correct splitter agrees on about half of them, 10 standard deviations inside the bounds.
@pytest.mark.parametrize("pair", [lambda i: (f"jos\u00e9-{i}", f"jose\u0301-{i}"),
                                  lambda i: (f"user-{i}", full_width(f"user-{i}")),
                                  lambda i: (f"file-{i}", f"\ufb01le-{i}")],
                         ids=["composed-vs-decomposed-accent", "full-width", "fi-ligature"])
def test_unicode_forms_of_an_id_are_different_users(pair):
    pairs = [pair(i) for i in range(10_000)]
    splitter = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="exp")
    same = agreement(splitter, splitter, pairs)
    assert 0.45 <= same <= 0.55, (
        f"{pairs[0][0]!r} and {pairs[0][1]!r} are the same text only after Unicode normalisation (NFC/NFKC), so they are "
        f"different users, yet such pairs got the same variant {same:.1%} of the time, not about half: the splitter must "
        "hash the id exactly as given, without normalising it")


def test_a_zero_weight_variant_gets_no_user():
    splitter = TrafficSplitter({"stable": 1.0, "canary": 0.0, "a": 0})
    got = shares(splitter, USERS[:20_000])
    assert got == {"stable": 1.0}, f"variants of weight 0 must get no user at all, got {got}"


def test_a_single_variant_gets_everyone():
    assert set(shares(TrafficSplitter({"only": 2.5}), USERS[:5000])) == {"only"}, "one variant gets every user"


def test_key_order_of_the_mapping_does_not_matter():
    users = USERS[:20_000]
    one = TrafficSplitter({"a": 0.2, "b": 0.5, "c": 0.3}, salt="exp-7")
    other = TrafficSplitter({"c": 0.3, "a": 0.2, "b": 0.5}, salt="exp-7")
    differ = [u for u in users if one.route(u) != other.route(u)]
    assert not differ, (
        f"the same weights listed in another order moved {len(differ)} users (e.g. {differ[:3]}); "
        "the assignment must depend on the weights and the salt only")


def test_the_salt_changes_the_assignment():
    users = USERS[:20_000]
    plain = TrafficSplitter({"control": 0.5, "treatment": 0.5})
    salted = TrafficSplitter({"control": 0.5, "treatment": 0.5}, salt="checkout-button")
    same = agreement(plain, salted, zip(users, users))
    assert 0.47 <= same <= 0.53, (
        f"with another salt a user should land in the same half by chance only (about 50 %), but {same:.1%} did: "
        "is the salt ignored?")


def test_two_salts_give_independent_assignments():
    users = USERS[:40_000]
    first = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="experiment-1")
    second = TrafficSplitter({"x": 0.2, "y": 0.8}, salt="experiment-2")
    cells = Counter((first.route(u), second.route(u)) for u in users)
    for (left, lw) in (("a", 0.5), ("b", 0.5)):
        for (right, rw) in (("x", 0.2), ("y", 0.8)):
            got = cells[(left, right)] / len(users)
            assert abs(got - lw * rw) <= 0.01, (
                f"two experiments with different salts must be independent: {left!r} and {right!r} together "
                f"should be {lw * rw:.0%} of users, got {got:.2%} ({dict(cells)})")


def test_a_long_salt_works_like_any_other():
    users = USERS[:20_000]
    long_salt = "checkout-button-redesign-2025-q3-mobile-web-eu-and-uk-" + "x" * 60
    one = TrafficSplitter({"control": 0.5, "treatment": 0.5}, salt=long_salt)
    got = shares(one, users)
    assert abs(got.get("treatment", 0) - 0.5) <= 0.01, f"a {len(long_salt)}-character salt splits 50/50 too, got {got}"
    other = TrafficSplitter({"control": 0.5, "treatment": 0.5}, salt=long_salt + "-v2")
    same = agreement(one, other, zip(users, users))
    assert 0.47 <= same <= 0.53, (
        f"two long salts that differ only at their end put {same:.1%} of users in the same half, not about 50 %: "
        "every character of the salt must count")


# 4000 users: a correct splitter agrees on about half of them, more than 6 standard deviations inside the bounds.
@pytest.mark.parametrize("one, other", [("exp", "exp\x00"), ("exp", "exp\x00\x00"), ("exp\x00", "exp\x00\x00"),
                                        ("", "\x00")],
                         ids=["one-nul", "two-nuls", "one-vs-two-nuls", "empty-vs-nul"])
def test_salts_differing_only_by_trailing_nul_bytes_are_independent(one, other):
    users = [f"user-{i}" for i in range(4000)]
    first = TrafficSplitter({"a": 0.5, "b": 0.5}, salt=one)
    second = TrafficSplitter({"a": 0.5, "b": 0.5}, salt=other)
    same = agreement(first, second, zip(users, users))
    assert 0.45 <= same <= 0.55, (
        f"salts {one!r} and {other!r} are different salts, so a user should land in the same half by chance only "
        f"(about 50 %), but {same:.1%} of {len(users)} users did. HMAC pads a short key with NUL bytes, so keying "
        "HMAC with the raw salt makes these salts one experiment: key it with a digest of the salt, or hash a "
        "length-prefixed salt")


def test_salt_and_user_id_are_kept_apart():
    users = [f"{i}" for i in range(20_000)]
    one = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="exp1")
    two = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="exp")
    # Salt "exp1" with user "23" must not be salt "exp" with user "123": each salt is its own experiment.
    same = agreement(one, two, ((u, "1" + u) for u in users))
    assert 0.46 <= same <= 0.54, (
        f"salt 'exp1' with user u and salt 'exp' with user '1'+u agree on {same:.1%} of users, not about half: "
        "are salt and user id glued together without a separator?")
    # The same with the user id first: user "u2" with salt "1" must not be user "u" with salt "21".
    one, two = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="1"), TrafficSplitter({"a": 0.5, "b": 0.5}, salt="21")
    same = agreement(one, two, ((u + "2", u) for u in users))
    assert 0.46 <= same <= 0.54, (
        f"salt '1' with user u+'2' and salt '21' with user u agree on {same:.1%} of users, not about half: "
        "are user id and salt glued together without a separator?")


@pytest.mark.parametrize("sep", list(":|/-_.,; #@\x00\n\t"))
def test_a_separator_alone_does_not_keep_salt_and_user_id_apart(sep):
    users = [f"user{i}" for i in range(4000)]
    # Salt "exp:1" with user "u" and salt "exp" with user "1:u" glue to the same text "exp:1:u".
    one = TrafficSplitter({"a": 0.5, "b": 0.5}, salt=f"exp{sep}1")
    two = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="exp")
    same = agreement(one, two, ((u, f"1{sep}{u}") for u in users))
    assert 0.45 <= same <= 0.55, (
        f"salt 'exp{sep}1' with user u and salt 'exp' with user '1{sep}'+u agree on {same:.1%} of users, not about "
        f"half: joined with {sep!r} both read 'exp{sep}1{sep}u'. A separator alone lets a salt and a user id that "
        "contain it collide: prefix the salt with its length, or key the hash with the salt")
    # The same with the user id first: user "u:1" with salt "2" must not be user "u" with salt "1:2".
    one = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="2")
    two = TrafficSplitter({"a": 0.5, "b": 0.5}, salt=f"1{sep}2")
    same = agreement(one, two, ((f"{u}{sep}1", u) for u in users))
    assert 0.45 <= same <= 0.55, (
        f"salt '2' with user u+'{sep}1' and salt '1{sep}2' with user u agree on {same:.1%} of users, not about half: "
        f"joined with {sep!r} both read 'u{sep}1{sep}2'; a separator alone does not keep them apart")
    # A length prefix on the user id (the last field) does not help: salt "exp" with user "q:1:u" and salt "exp:5:q"
    # with user "u" both read "exp:5:q:1:u" once the user id's length is put in front of it.
    same = 0
    for u in users:
        glued = f"q{sep}{len(u)}{sep}{u}"
        one = TrafficSplitter({"a": 0.5, "b": 0.5}, salt="exp")
        two = TrafficSplitter({"a": 0.5, "b": 0.5}, salt=f"exp{sep}{len(glued)}{sep}q")
        same += one.route(glued) == two.route(u)
    same /= len(users)
    assert 0.45 <= same <= 0.55, (
        f"salt 'exp' with user 'q{sep}<len(u)>{sep}'+u and salt 'exp{sep}<its length>{sep}q' with user u agree on "
        f"{same:.1%} of users, not about half: with the user id's length in front of it both read "
        f"'exp{sep}<n>{sep}q{sep}<len(u)>{sep}u'. Prefix the salt (the first field) with its length, not the user id")


def test_with_weights_keeps_the_salt_and_leaves_the_original_alone():
    users = USERS[:10_000]
    original = TrafficSplitter({"stable": 0.5, "canary": 0.5}, salt="s1")
    before = [original.route(u) for u in users]
    moved = original.with_weights({"stable": 0.5, "canary": 0.5})
    changed = sum(moved.route(u) != b for u, b in zip(users, before))
    assert changed == 0, (
        f"with_weights with the same weights must give the same assignment, but {changed} of {len(users)} users "
        "moved: the salt must be kept")
    original.with_weights({"stable": 0.0, "canary": 1.0})
    changed = sum(original.route(u) != b for u, b in zip(users, before))
    assert changed == 0, f"with_weights must return a new splitter, not change this one ({changed} users moved)"


def test_the_splitter_keeps_its_own_copy_of_the_weights():
    users = USERS[:10_000]
    weights = {"stable": 95, "canary": 5}
    splitter = TrafficSplitter(weights, salt="copy")
    before = [splitter.route(u) for u in users]
    weights["canary"], weights["stable"] = 95, 5  # the caller reuses its dict for the next step
    moved = sum(splitter.route(u) != b for u, b in zip(users, before))
    assert moved == 0, (
        f"changing the dict a splitter was built from moved {moved} of {len(users)} users of that splitter: it must "
        "keep its own copy of the weights (a new split is a new splitter, from with_weights)")
    ramped = splitter.with_weights(weights)
    after = [ramped.route(u) for u in users]
    weights["canary"], weights["stable"] = 0, 100
    moved = sum(ramped.route(u) != a for u, a in zip(users, after))
    assert moved == 0, (
        f"changing the dict given to with_weights afterwards moved {moved} users of the splitter it returned: "
        "with_weights must keep its own copy too")


def test_with_weights_replaces_the_weights_rather_than_updating_them():
    users = USERS[:10_000]
    original = TrafficSplitter({"stable": 0.5, "canary": 0.5}, salt="s2")
    alone = original.with_weights({"stable": 1.0})
    got = shares(alone, users)
    assert got == {"stable": 1.0}, (
        f"with_weights({{'stable': 1.0}}) gives exactly these weights: 'canary' is not among them, so it gets no user; "
        f"got {got} (are the new weights merged into the old ones?)")
    renamed = original.with_weights({"control": 0.5, "treatment": 0.5})
    got = shares(renamed, users)
    assert set(got) == {"control", "treatment"}, (
        f"a splitter re-weighted to 'control' and 'treatment' routes only to those two, got {got}")


def test_a_canary_ramp_keeps_every_user_who_already_saw_the_canary():
    users = USERS[:30_000]
    splitter = TrafficSplitter({"stable": 95, "canary": 5}, salt="release-42")
    seen = {u for u in users if splitter.route(u) == "canary"}
    for percent in (25, 50, 100):
        splitter = splitter.with_weights({"stable": 100 - percent, "canary": percent})
        now = {u for u in users if splitter.route(u) == "canary"}
        lost = seen - now
        assert not lost, (
            f"ramping the canary to {percent} % moved {len(lost)} users back to stable (e.g. {sorted(lost)[:3]}): "
            "a user who saw the canary must keep seeing it")
        assert abs(len(now) / len(users) - percent / 100) <= 0.01, f"at {percent} % the canary has {len(now) / len(users):.1%}"
        seen = now


@settings(max_examples=25)
@given(
    names=st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=2, max_size=4, unique=True),
    data=st.data(),
)
def test_raising_one_weight_never_moves_a_user_out_of_that_variant(names, data):
    weights = {n: data.draw(st.floats(0.0, 10.0), label=f"weight of {n}") for n in names}
    if sum(weights.values()) <= 0:
        weights[names[0]] = 1.0
    grown = data.draw(st.sampled_from(names), label="variant that grows")
    factor = data.draw(st.floats(1.0, 20.0), label="growth factor")
    salt = data.draw(st.text("xyz", max_size=3), label="salt")
    new = dict(weights)
    new[grown] = weights[grown] * factor + data.draw(st.floats(0.0, 5.0), label="added weight")
    users = USERS[:1500]
    before = TrafficSplitter(weights, salt=salt)
    after = before.with_weights(new)
    lost = [u for u in users if before.route(u) == grown and after.route(u) != grown]
    assert not lost, (
        f"raising {grown!r} from {weights} to {new} (the others unchanged) moved {len(lost)} of its users elsewhere, "
        f"e.g. {lost[:3]}")


def test_routing_is_the_same_in_another_process_with_another_hash_seed(impl_dir):
    users = USERS[:3000]
    weights = {"stable": 0.7, "canary": 0.2, "shadow": 0.1}
    here = [TrafficSplitter(weights, salt="s").route(u) for u in users]
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(impl_dir)!r})
        from traffic import TrafficSplitter
        s = TrafficSplitter({weights!r}, salt="s")
        print(json.dumps([s.route(f"user-{{i}}") for i in range(3000)]))
    """)
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env,
                              check=False)
        assert done.returncode == 0, f"the other process failed:\n{done.stderr[-2000:]}"
        there = json.loads(done.stdout.strip().splitlines()[-1])
        differ = sum(a != b for a, b in zip(here, there))
        assert differ == 0, (
            f"with PYTHONHASHSEED={seed} another process routed {differ} of 3000 users differently: "
            "the built-in hash() changes per process; use a real hash such as hashlib")


@pytest.mark.parametrize("weights", [
    {"stable": 1.0, "canary": -0.1},
    {"stable": 0.0, "canary": 0.0},
    {},
    {"stable": float("nan"), "canary": 1.0},
    {"stable": -1.0, "canary": 2.0},
    {"stable": float("inf"), "canary": 1.0},
    {"canary": float("inf")},
], ids=["negative", "zero-sum", "empty", "nan", "negative-with-positive-sum", "infinite", "only-infinite"])
def test_bad_weights_raise_value_error(weights):
    with pytest.raises(ValueError):
        TrafficSplitter(weights)


def test_with_weights_validates_too():
    splitter = TrafficSplitter({"stable": 1.0})
    with pytest.raises(ValueError):
        splitter.with_weights({"stable": 0.0, "canary": 0.0})
