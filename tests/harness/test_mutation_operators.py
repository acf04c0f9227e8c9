"""The hand-listed mutation operators for shell, Dockerfile, YAML and ignore files."""

from pathlib import Path

import pytest
import yaml

from mlops_katas.curriculum import all_days
from mlops_katas.mutation_operators import kind_of, mutants

ROOT = Path(__file__).resolve().parents[2]


def changed(name, source):
    """{operator: [the mutated files]} for a source text."""
    found = {}
    for mutant in mutants(name, source):
        found.setdefault(mutant.operator, []).append(mutant.text)
    return found


@pytest.mark.parametrize(("name", "kind"), [("monitor.sh", "shell"), ("Dockerfile", "dockerfile"),
                                            ("k8s/hpa.yaml", "yaml"), ("slo_rules.yml", "yaml"),
                                            (".dockerignore", "ignore"), ("hpa.py", None)])
def test_files_are_sorted_into_operator_families(name, kind):
    assert kind_of(name) == kind


def test_set_flags_are_dropped_one_at_a_time():
    found = changed("x.sh", "#!/usr/bin/env bash\nset -euo pipefail\necho hi\n")
    assert found["shell/DropErrexit"] == ["#!/usr/bin/env bash\nset -uo pipefail\necho hi\n"]
    assert found["shell/DropNounset"] == ["#!/usr/bin/env bash\nset -eo pipefail\necho hi\n"]
    assert found["shell/DropPipefail"] == ["#!/usr/bin/env bash\nset -eu\necho hi\n"]


def test_help_text_and_comments_are_never_mutated():
    source = "usage() {\n  cat <<'USAGE'\n  --retries N  (default 10) && more\nUSAGE\n}\n# sleep 5 || exit 1\n"
    for mutant in mutants("x.sh", source):
        assert "--retries N  (default 10) && more" in mutant.text and "# sleep 5 || exit 1" in mutant.text


def test_shell_comparisons_flip_at_the_boundary():
    found = changed("x.sh", "if ((failures >= MAX)); then\n  exit 1\nfi\n[[ $code == 200 ]] || exit 1\n")
    flips = found["shell/FlipComparison"]
    assert "if ((failures > MAX)); then\n  exit 1\nfi\n[[ $code == 200 ]] || exit 1\n" in flips
    assert "if ((failures >= MAX)); then\n  exit 1\nfi\n[[ $code != 200 ]] || exit 1\n" in flips


def test_a_long_option_is_dropped_with_its_value():
    found = changed("x.sh", 'curl --silent --max-time "$T" "$URL"\n')
    assert 'curl --max-time "$T" "$URL"\n' in [t.replace("  ", " ") for t in found["shell/DropOption"]]
    assert 'curl --silent "$URL"\n' in [t.replace("  ", " ") for t in found["shell/DropOption"]]


def test_a_continued_command_is_dropped_whole():
    found = changed("x.sh", "code=$(curl --silent \\\n  http://x) || true\necho $code\n")
    assert "echo $code\n" in found["shell/DropCommand"]


def test_control_lines_are_not_dropped():
    source = "while true; do\n  sleep 1\ndone\n"
    assert changed("x.sh", source)["shell/DropCommand"] == ["while true; do\ndone\n"]


def test_exec_form_turns_into_shell_form():
    found = changed("Dockerfile", 'FROM python\nCMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]\n')
    assert "FROM python\nCMD gunicorn --bind 0.0.0.0:8000 app:app\n" in found["dockerfile/ShellForm"]
    assert 'FROM python\nCMD ["gunicorn", "app:app"]\n' in found["dockerfile/DropOption"]


def test_the_first_from_is_kept():
    found = changed("Dockerfile", "FROM python\nUSER 10001\n")
    assert found["dockerfile/DropInstruction"] == ["FROM python\n"]


def test_a_yaml_entry_is_dropped_with_its_block():
    source = "spec:\n  ports:\n  - name: http\n    port: 80\n  type: ClusterIP\n"
    drops = changed("s.yaml", source)["yaml/DropEntry"]
    assert "spec:\n  type: ClusterIP\n" in drops  # `ports:` and its list at the key's own indentation
    assert "spec:\n  ports:\n  type: ClusterIP\n" in drops  # the list item and its keys
    assert "spec:\n  ports:\n  - name: http\n  type: ClusterIP\n" in drops


def test_block_scalars_are_text_not_entries():
    source = "rules:\n  - expr: |\n      rate(x[5m]) > 0.5\n"
    found = changed("r.yml", source)
    assert all("rate(x" in text or text.count("\n") < 2 for text in found["yaml/DropEntry"])
    assert "rules:\n  - expr: |\n      rate(x[10m]) > 0.5\n" in found["yaml/NumberChange"]
    assert "rules:\n  - expr: |\n      rate(x[5m]) >= 0.5\n" in found["yaml/FlipComparison"]


def test_quantities_with_units_double_and_plain_numbers_step():
    found = changed("d.yaml", 'replicas: 3\ncpu: "500m"\nratio: 0.25\n')["yaml/NumberChange"]
    assert 'replicas: 4\ncpu: "500m"\nratio: 0.25\n' in found
    assert 'replicas: 3\ncpu: "1000m"\nratio: 0.25\n' in found
    assert 'replicas: 3\ncpu: "500m"\nratio: 0.26\n' in found


def test_text_written_for_people_keeps_its_numbers():
    assert "yaml/NumberChange" not in changed("r.yml", 'summary: "burns 14.4x too fast (1h and 5m)"\n')


def every_text_learner_file():
    return [(day, name) for day in all_days(ROOT) for name in day.files if kind_of(name)]


@pytest.mark.parametrize(("day", "name"), every_text_learner_file(), ids=lambda v: getattr(v, "name", v))
def test_every_reference_text_file_gets_distinct_mutants(day, name):
    source = (ROOT / "solutions" / day.name / name).read_text(encoding="utf-8")
    found = mutants(name, source)
    assert found, f"{day.name}/{name}: no mutant"
    assert len({m.text for m in found}) == len(found) and all(m.text != source for m in found)
    if kind_of(name) == "yaml":  # a mutant YAML cannot parse is a syntax error, not a slip worth a test
        parses = sum(1 for m in found if yaml_parses(m.text))
        assert parses >= 0.8 * len(found), f"{day.name}/{name}: most YAML mutants should still parse"


def yaml_parses(text):
    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return False
    return True
