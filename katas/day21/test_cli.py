"""Task 3: the command line, `parse_args(argv)` and `main(argv, make_steps=..., clock=...)`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from capstone import main, parse_args
from earlier_days import CANDIDATES
from fake_world import COSTS
from mlops_katas.fakes import FakeClock

pytestmark = pytest.mark.task(taskno=3)

REQUIRED = ["--tracking-uri", "http://127.0.0.1:5000", "--server-image", "katas/day03-server"]
DEFAULTS = {"model_name": "capstone", "candidate": "interactions", "image_repo": "katas/capstone-model",
            "project": "capstone", "model_port": 8000, "prometheus_url": "", "margin": 0.01,
            "slice_tolerance": 0.05, "requests": 100, "rps": 20.0, "load_seconds": 30.0, "min_availability": 0.99,
            "max_p95_ms": 500.0, "max_error_ratio": 0.01, "wait_seconds": 60.0, "label": [], "report_json": None}


def test_the_defaults_are_the_readmes():
    args = parse_args(REQUIRED)
    assert args.tracking_uri == "http://127.0.0.1:5000", (
        f"--tracking-uri should be read as given, got {args.tracking_uri!r}")
    assert args.server_image == "katas/day03-server", f"--server-image should be read as given, got {args.server_image!r}"
    for name, value in DEFAULTS.items():
        assert getattr(args, name) == value, f"--{name.replace('_', '-')} defaults to {value!r}, got {getattr(args, name)!r}"
    assert Path(args.compose_file).name == "docker-compose.yml", "--compose-file defaults to docker-compose.yml"
    assert Path(args.store).name == "capstone-metrics.db", "--store defaults to capstone-metrics.db"


def test_every_flag_is_read():
    args = parse_args(REQUIRED + [
        "--model-name", "Fraud-Model", "--candidate", "linear", "--image-repo", "reg.example:5000/m", "--project", "p1",
        "--model-port", "18080", "--prometheus-url", "http://127.0.0.1:9090", "--margin", "0", "--slice-tolerance",
        "0.1", "--requests", "7", "--rps", "2.5", "--load-seconds", "4", "--min-availability", "1",
        "--max-p95-ms", "250", "--max-error-ratio", "0", "--wait-seconds", "9", "--store", "/tmp/x.db",
        "--label", "a=1", "--label", "b=", "--report-json", "/tmp/r.json", "--compose-file", "/tmp/c.yml"])
    expected = {"model_name": "Fraud-Model", "candidate": "linear", "image_repo": "reg.example:5000/m", "project": "p1",
                "model_port": 18080, "prometheus_url": "http://127.0.0.1:9090", "margin": 0.0,
                "slice_tolerance": 0.1, "requests": 7, "rps": 2.5, "load_seconds": 4.0, "min_availability": 1.0,
                "max_p95_ms": 250.0, "max_error_ratio": 0.0, "wait_seconds": 9.0, "label": ["a=1", "b="]}
    for name, value in expected.items():
        assert getattr(args, name) == value, (
            f"{name} should be {value!r}, as given (no case folding: an MLflow model name is case-sensitive), "
            f"got {getattr(args, name)!r}")
    assert str(args.store) == "/tmp/x.db", f"--store /tmp/x.db should give the path /tmp/x.db, got {args.store!r}"
    assert str(args.report_json) == "/tmp/r.json", (
        f"--report-json /tmp/r.json should give the path /tmp/r.json, got {args.report_json!r}")
    assert str(args.compose_file) == "/tmp/c.yml", (
        f"--compose-file /tmp/c.yml should give the path /tmp/c.yml, got {args.compose_file!r}")


@pytest.mark.parametrize("flag, value", [
    ("--requests", "0"), ("--requests", "2.5"), ("--requests", "ten"), ("--rps", "0"), ("--rps", "nan"),
    ("--rps", "inf"), ("--load-seconds", "-1"), ("--wait-seconds", "0"), ("--max-p95-ms", "0"),
    ("--min-availability", "1.5"), ("--min-availability", "-0.1"), ("--max-error-ratio", "2"),
    ("--margin", "-0.01"), ("--margin", "nan"), ("--slice-tolerance", "-1"), ("--model-port", "0"),
    ("--model-port", "65536"), ("--candidate", "forest"), ("--label", "novalue"), ("--label", "=x"),
    ("--min-availability", "nan"), ("--max-error-ratio", "nan"), ("--slice-tolerance", "nan"),
    ("--load-seconds", "inf"), ("--load-seconds", "0"), ("--wait-seconds", "nan"), ("--max-p95-ms", "inf"),
    ("--margin", "inf"), ("--slice-tolerance", "inf"),  # finite: `not v >= 0` refuses nan but lets inf through
    ("--max-p95-ms", "nan"), ("--load-seconds", "nan"),  # `v <= 0 or isinf(v)` lets nan through
    ("--max-error-ratio", "-0.01"),  # between 0 and 1 has a lower bound too
    ("--model-port", "8000.5"), ("--model-port", "1e3"),  # an int, not a number truncated to one
    ("--requests", "1e3"), ("--requests", "10.0"),  # an int too: not a float that happens to be whole
    ("--wait-seconds", "inf"),  # finite: an infinite wait is no bound
    ("--candidate", "LINEAR"), ("--candidate", " linear"),  # a key as given: no case folding, no stripping
])
def test_bad_flags_exit_2_naming_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(REQUIRED + [flag, value])
    assert exit_info.value.code == 2, f"{flag} {value} is a usage error: exit code 2, got {exit_info.value.code}"
    assert flag in capsys.readouterr().err, f"the error message names {flag}"


@pytest.mark.parametrize("missing", ["--tracking-uri", "--server-image"])
def test_required_flags(missing, capsys):
    argv = list(REQUIRED)
    del argv[argv.index(missing):argv.index(missing) + 2]
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2 and missing in capsys.readouterr().err, f"{missing} is required"


def test_main_runs_the_steps_prints_the_report_and_returns_the_exit_code(fake_steps, tmp_path, capsys):
    clock = FakeClock()
    made = []

    def make_steps(args):
        made.append(args)
        return fake_steps(clock, champion="3", healthy=False)

    out = tmp_path / "report.json"
    code = main(REQUIRED + ["--report-json", str(out)], make_steps=make_steps, clock=clock)
    assert code == 3, f"a rolled-back run exits 3, main returned {code}"
    assert made and str(made[0].report_json) == str(out), (
        f"make_steps gets the parsed arguments (--report-json {out}), got {made}")
    printed = capsys.readouterr().out
    assert "outcome: rolled_back" in printed and "rollback" in printed, f"the report is printed:\n{printed}"
    data = json.loads(out.read_text())
    assert data["outcome"] == "rolled_back" and data["exit_code"] == 3 and data["serving"] == "v3", data
    names = [s["name"] for s in data["stages"]]
    assert names and names[-1] == "rollback", f"the JSON report's last stage should be the rollback, got {names}"
    assert data["stages"][0]["seconds"] == pytest.approx(COSTS["train"]), (
        f"main passes its clock to run: train took {COSTS['train']} s on that clock, the JSON report says "
        f"{data['stages'][0]['seconds']}")


@pytest.mark.parametrize("options, code", [({}, 0), ({"gate_passes": False}, 2), ({"fail": "package"}, 1)])
def test_main_exit_codes(fake_steps, options, code, capsys):
    clock = FakeClock()
    returned = main(REQUIRED, make_steps=lambda args: fake_steps(clock, **options), clock=clock)
    assert returned == code, (
        f"with a fake world {options or '(all healthy)'} main should return exit code {code}, it returned {returned!r}")


def test_help_runs_as_a_script(impl_dir):
    import os

    parse_args(REQUIRED)  # in process first: an unfinished parse_args says so here

    day = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(day), str(day.parents[1])])}
    done = subprocess.run([sys.executable, str(impl_dir / "capstone.py"), "--help"], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, f"python capstone.py --help exits 0: {done.stderr[-500:]}"
    for flag in ("--tracking-uri", "--server-image", "--requests", "--report-json"):
        assert flag in done.stdout, f"--help lists {flag}"


@pytest.mark.parametrize("flag, value, expected", [
    ("--model-port", "1", 1), ("--model-port", "65535", 65535), ("--requests", "1", 1),
    ("--slice-tolerance", "0", 0.0), ("--min-availability", "0", 0.0), ("--max-error-ratio", "1", 1.0),
])
def test_flag_values_at_the_edge_of_their_range_are_accepted(flag, value, expected):
    args = parse_args(REQUIRED + [flag, value])
    name = flag[2:].replace("-", "_")
    assert getattr(args, name) == expected, f"{flag} {value} is within its range, got {getattr(args, name)!r}"


@pytest.mark.parametrize("flag, value, expected", [
    ("--rps", "0.5", 0.5), ("--load-seconds", "2.5", 2.5), ("--wait-seconds", "0.5", 0.5),
    ("--max-p95-ms", "0.25", 0.25), ("--margin", "0.001", 0.001), ("--slice-tolerance", "0.125", 0.125),
])
def test_number_flags_take_fractions(flag, value, expected):
    args = parse_args(REQUIRED + [flag, value])
    name = flag[2:].replace("-", "_")
    assert getattr(args, name) == pytest.approx(expected), (
        f"{flag} is a positive (or non-negative) finite number, not a whole one: {flag} {value} should give "
        f"{expected}, got {getattr(args, name)!r}")


@pytest.mark.parametrize("candidate", sorted(CANDIDATES))
def test_every_candidate_is_accepted(candidate):
    args = parse_args(REQUIRED + ["--candidate", candidate])
    assert args.candidate == candidate, (
        f"--candidate takes every key of earlier_days.CANDIDATES ({sorted(CANDIDATES)}), so {candidate!r} is "
        f"accepted; got {args.candidate!r}")


def test_values_are_kept_exactly_as_given():
    args = parse_args(REQUIRED + ["--model-name", " Fraud Model ", "--label", "Team= Fraud Ops ",
                                  "--label", "note=Two  Words", "--image-repo", "Reg.Example:5000/Fraud-Model",
                                  "--project", "Capstone-Test"])
    for name, given in (("image_repo", "Reg.Example:5000/Fraud-Model"), ("project", "Capstone-Test")):
        assert getattr(args, name) == given, (
            f"--{name.replace('_', '-')} {given!r} is kept exactly as given, capitals included (no case folding: "
            f"docker or compose may refuse or normalise it, and then says so), got {getattr(args, name)!r}")
    assert args.model_name == " Fraud Model ", (
        f"--model-name ' Fraud Model ' is kept as given, spaces and capitals included (no stripping, no case "
        f"folding), got {args.model_name!r}")
    assert args.label == ["Team= Fraud Ops ", "note=Two  Words"], (
        f"each --label is kept exactly as given, the spaces around its value and its capitals included (no "
        f"stripping, no case folding): expected ['Team= Fraud Ops ', 'note=Two  Words'], got {args.label!r}")
    try:
        spaced_key = parse_args(REQUIRED + ["--label", " =x"]).label
    except SystemExit as exc:
        pytest.fail(f"--label ' =x' has a non-empty key (the README: spaces count, '\" =x\" is kept as given), so "
                    f"it is accepted and kept as [' =x']; parse_args exited with code {exc.code}", pytrace=False)
    assert spaced_key == [" =x"], (
        f"--label needs a non-empty key, and spaces count (the README: '\" =x\" is kept as given'), so "
        f"--label ' =x' is accepted and kept as [' =x']; got {spaced_key!r}")


def test_a_label_value_may_hold_an_equals_sign():
    args = parse_args(REQUIRED + ["--label", "query=a=b", "--label", "note=two words"])
    assert args.label == ["query=a=b", "note=two words"], (
        f"--label KEY=VALUE splits at the first '=': a value may hold '=' and spaces; got {args.label!r}")


def test_the_compose_file_defaults_to_the_one_beside_capstone_py(tmp_path, monkeypatch):
    import capstone

    monkeypatch.chdir(tmp_path)
    args = parse_args(REQUIRED)
    beside = Path(capstone.__file__).resolve().parent / "docker-compose.yml"
    assert Path(args.compose_file).resolve() == beside, (
        f"run from another folder, --compose-file should still default to {beside} (beside capstone.py), "
        f"got {args.compose_file!r}")


def test_the_default_store_is_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = parse_args(REQUIRED)
    expected = tmp_path / "capstone-metrics.db"
    assert Path(args.store).resolve() == expected.resolve(), (
        f"run from {tmp_path} without --store, the store is capstone-metrics.db in the working directory ({expected}): "
        f"only the default compose file lives beside capstone.py; got {args.store!r}")


def test_a_relative_path_is_relative_to_the_working_directory(fake_steps, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = parse_args(REQUIRED + ["--compose-file", "stack/c.yml", "--store", "data/m.db"])
    for flag, value, given in (("--compose-file", args.compose_file, "stack/c.yml"),
                               ("--store", args.store, "data/m.db")):
        assert Path(value).resolve() == (tmp_path / given).resolve(), (
            f"{flag} {given}, run from {tmp_path}, is relative to the working directory, as any command's path: "
            f"expected {tmp_path / given}, got {value!r}")
    clock = FakeClock()
    (tmp_path / "out").mkdir()
    main(REQUIRED + ["--report-json", "out/report.json"], make_steps=lambda args: fake_steps(clock), clock=clock)
    assert (tmp_path / "out" / "report.json").is_file(), (
        f"--report-json out/report.json, run from {tmp_path}, writes {tmp_path / 'out' / 'report.json'} (relative "
        f"to the working directory); nothing is there")
