"""Hand-listed mutation operators for the learner files cosmic-ray cannot parse: shell
scripts, Dockerfiles, YAML and ignore files.

Each operator is one slip a learner makes in such a file: `set -e` or `pipefail` left out, a
comparison off by one, an option or an instruction forgotten, an expansion left unquoted, a
default or a limit changed, a key missing. A mutant changes one line (one command, one YAML
entry), so a survivor names the line of the reference answer that no test pins down.
Help texts (heredocs) and comments are never mutated: no test should read them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class TextMutant:
    operator: str
    line_no: int  # 1-based, in the reference file
    line: str  # the reference line, stripped: what an equivalence entry names
    text: str  # the whole mutated file


def kind_of(name: str) -> str | None:
    """Which operator family a learner file gets; None for Python (cosmic-ray's) and unknowns."""
    path = PurePosixPath(name)
    if path.suffix == ".sh":
        return "shell"
    if path.name.startswith("Dockerfile"):
        return "dockerfile"
    if path.suffix in (".yml", ".yaml"):
        return "yaml"
    if path.name.endswith("ignore"):
        return "ignore"
    return None


def mutants(name: str, source: str) -> list[TextMutant]:
    family = {"shell": _shell, "dockerfile": _dockerfile, "yaml": _yaml, "ignore": _ignore}[kind_of(name) or ""]
    lines = source.splitlines(keepends=True)
    seen: set[str] = set()
    found = []
    for operator, first, last, replacement in family(lines):
        text = "".join(lines[:first] + replacement + lines[last + 1:])
        if text != source and text not in seen:
            seen.add(text)
            found.append(TextMutant(operator, first + 1, lines[first].strip(), text))
    return found


# One edit: (operator, first line index, last line index, the lines that replace them).
Edit = tuple[str, int, int, list[str]]


def _substitutions(operator: str, index: int, line: str, pattern: re.Pattern, replace, protected=(),
                   within=None) -> Iterator[Edit]:
    """One edit per match of `pattern` outside the protected spans (and only inside the `within`
    spans, when given): `replace(match)` is the new text."""
    for first, last in within if within is not None else [(0, len(line))]:
        for match in pattern.finditer(line, first, last):
            if any(start <= match.start() < end for start, end in protected):
                continue
            new = replace(match)
            if new is not None:
                yield operator, index, index, [line[:match.start()] + new + line[match.end():]]


def _spans(line: str, pattern: re.Pattern) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(line)]


def _bumped(match: re.Match) -> str:
    """A number one step away: a quantity with a unit (`5m`, `128Mi`) doubled, the last digit
    of a decimal moved by one, an integer plus one."""
    number = match.group("number")
    if match.end() < len(match.string) and match.string[match.end()].isalpha():
        doubled = float(number) * 2
        return f"{doubled:g}" if "." in number else str(int(doubled))
    if "." in number:
        head, digit = number[:-1], int(number[-1])
        return head + str(digit + 1 if digit < 9 else digit - 1)
    return str(int(number) + 1)


def _swap(table: dict[str, str]):
    return lambda match: table.get(match.group(0))


# --- shell -----------------------------------------------------------------------------

QUOTED = re.compile(r"'[^']*'|\"(?:\\.|[^\"\\])*\"")
TESTS = re.compile(r"\[\[.*?\]\]|\[ .*? \]")
ARITHMETIC = re.compile(r"\(\(.*?\)\)")
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
# Lines that open or close a compound command: dropping one only breaks the syntax.
CONTROL = re.compile(r"^\s*((if|elif|while|until|for|case|select)\b|(then|else|fi|do|done|esac|\{|\}|;;)\s*(#.*)?$"
                     r"|\w[\w-]*\s*\(\)\s*\{?\s*$)")
COMMENT = re.compile(r"(?:^|(?<=\s))#.*$")
REGEX_OPERAND = re.compile(r"=~\s*\S+")
SET_LINE = re.compile(r"^\s*set\s+-[a-z]*[eu]")
TEST_OPERATORS = {"-lt": "-le", "-le": "-lt", "-gt": "-ge", "-ge": "-gt", "-eq": "-ne", "-ne": "-eq"}
ARITHMETIC_OPERATORS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
SHELL_TEST_OPERATOR = re.compile(r"(?<!\S)-(lt|le|gt|ge|eq|ne)(?!\S)")
ARITHMETIC_OPERATOR = re.compile(r"(?<![<>=!])(<=|>=|==|!=|<|>)(?![<>=])")
STRING_COMPARISON = re.compile(r"(?<=\s)(==|!=)(?=\s)")
AND_OR = re.compile(r"&&|\|\|")
LONE_EXPANSION = re.compile(r"\"(\$\{[^}\"]*\}|\$[\w@*#?]+|\$\([^()\"]*\))\"")
LONG_OPTION = re.compile(r"(?<=\s)--[a-z][\w-]*(=\S+)?(?P<value>\s+(?!-)(?:\"[^\"]*\"|'[^']*'|[^\s;|&)]+))?(?=\s|$)")
SHORT_OPTION = re.compile(r"(?<=\s)-[A-Za-z]+(?=\s|$)")
EXIT = re.compile(r"\b(exit|return)\s+(\d+)\b")
NUMBER = re.compile(r"(?<![\w.$#&>-])(?P<number>\d+(?:\.\d+)?)(?![\w.>#-]|&)")
CASE_PATTERN = re.compile(r"^\s*[^\s()]+(?:\s*\|\s*[^\s()]+)*\)")


def _heredoc_lines(lines: list[str]) -> set[int]:
    inside: set[int] = set()
    end = None
    for index, line in enumerate(lines):
        if end is not None:
            inside.add(index)
            if line.strip() == end:
                end = None
        elif match := HEREDOC.search(line):
            end = match.group(1)
    return inside


def _commands(lines: list[str], skip: set[int]) -> Iterator[tuple[int, int]]:
    """(first, last) line indexes of each command, a backslash-continued one as a whole."""
    index = 0
    while index < len(lines):
        last = index
        while lines[last].rstrip().endswith("\\") and last + 1 < len(lines):
            last += 1
        if index not in skip:
            yield index, last
        index = last + 1


def _shell(lines: list[str]) -> Iterator[Edit]:
    heredoc = _heredoc_lines(lines)
    for first, last in _commands(lines, heredoc):
        stripped = lines[first].strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not (CONTROL.match(lines[first]) or SET_LINE.match(lines[first]) or HEREDOC.search(lines[first])):
            yield "shell/DropCommand", first, last, []
        for index in range(first, last + 1):
            yield from _shell_line(index, lines[index])


def _shell_line(index: int, line: str) -> Iterator[Edit]:
    if SET_LINE.match(line):
        for flag, operator in (("e", "shell/DropErrexit"), ("u", "shell/DropNounset")):
            new = re.sub(rf"(set\s+-[a-z]*?){flag}", r"\1", line, count=1).replace("set - ", "set ")
            yield operator, index, index, [new]
        if "pipefail" in line:
            new = re.sub(r"\s*-o\s+pipefail", "", line)
            yield "shell/DropPipefail", index, index, [re.sub(r"(-[a-z]*)o\s+pipefail", r"\1", new)]
        return
    strings = _spans(line, QUOTED)
    quoted = strings + [span for span in _spans(line, COMMENT) if not any(a <= span[0] < b for a, b in strings)]
    arithmetic = _spans(line, ARITHMETIC)
    tests = _spans(line, TESTS)
    flip = _swap(ARITHMETIC_OPERATORS)
    yield from _substitutions("shell/FlipComparison", index, line, SHELL_TEST_OPERATOR, _swap(TEST_OPERATORS), quoted)
    yield from _substitutions("shell/FlipComparison", index, line, ARITHMETIC_OPERATOR, flip,
                              within=[(start + 2, end - 2) for start, end in arithmetic])
    yield from _substitutions("shell/FlipComparison", index, line, STRING_COMPARISON, flip, within=tests)
    yield from _substitutions("shell/FlipAndOr", index, line, AND_OR, _swap({"&&": "||", "||": "&&"}), quoted)
    yield from _substitutions("shell/Unquote", index, line, LONE_EXPANSION, lambda m: m.group(1), tests)
    words = quoted + tests + arithmetic + _spans(line, CASE_PATTERN)
    yield from _substitutions("shell/DropOption", index, line, LONG_OPTION, lambda m: "", words)
    yield from _substitutions("shell/DropOption", index, line, SHORT_OPTION, lambda m: "", words)
    yield from _substitutions("shell/ExitStatus", index, line, EXIT,
                              lambda m: f"{m.group(1)} {'1' if m.group(2) == '0' else '0'}", quoted)
    exits = _spans(line, EXIT)
    yield from _substitutions("shell/NumberChange", index, line, NUMBER, _bumped,
                              quoted + exits + _spans(line, REGEX_OPERAND))


# --- Dockerfile ------------------------------------------------------------------------

INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)\b")
EXEC_FORM = re.compile(r"^(\s*(?:CMD|ENTRYPOINT)\s+)(\[.*\])\s*$")
DOCKER_OPTION = re.compile(r"(?<=\s)--[a-z][\w-]*(=\S+)?(?=\s|$)")
JSON_OPTION = re.compile(r"\"--[a-z][\w-]*(=[^\"]*)?\"(?P<value>\s*,\s*\"(?!-)[^\"]*\")?\s*,\s*")
JSON_WORD = re.compile(r"\"((?:\\.|[^\"\\])*)\"")
JSON_ARRAY = re.compile(r"\[.*\]")
DOCKER_NUMBER = re.compile(r"(?<![\w.:/=-])(?P<number>\d+)(?![\w.:])")


def _dockerfile(lines: list[str]) -> Iterator[Edit]:
    seen_from = False
    for first, last in _commands(lines, set()):
        stripped = lines[first].strip()
        if not stripped or stripped.startswith("#"):
            continue
        instruction = INSTRUCTION.match(lines[first])
        if instruction and instruction.group(1).upper() == "FROM" and not seen_from:
            seen_from = True
        else:
            yield "dockerfile/DropInstruction", first, last, []
        for index in range(first, last + 1):
            line = lines[index]
            arrays = _spans(line, JSON_ARRAY)
            yield from _substitutions("dockerfile/DropOption", index, line, DOCKER_OPTION, lambda m: "", arrays)
            yield from _substitutions("dockerfile/DropOption", index, line, JSON_OPTION, lambda m: "")
            if exec_form := EXEC_FORM.match(line):
                words = " ".join(w.replace('\\"', '"') for w in JSON_WORD.findall(exec_form.group(2)))
                yield "dockerfile/ShellForm", index, index, [exec_form.group(1) + words + "\n"]
            yield from _substitutions("dockerfile/NumberChange", index, line, DOCKER_NUMBER, _bumped)


# --- YAML ------------------------------------------------------------------------------

ENTRY = re.compile(r"^(\s*)(- |[\w.\-/\"']+\s*:(\s|$))")
BLOCK_SCALAR = re.compile(r":\s*[|>][-+]?\s*(#.*)?$")
YAML_NUMBER = re.compile(r"(?<![\w.@$-])(?P<number>\d+(?:\.\d+)?)(?=[a-zA-Z%]{0,2}(?![\w.]))")
BOOLEAN = re.compile(r"(?<=:\s)(true|false)\b")
# Values written for people, not read by the tool: their numbers are not settings.
PROSE_KEY = re.compile(r"^\s*(- )?(summary|description|name|message|help|title)\s*:")
VALUE_COMPARISON = re.compile(r"(?<=\s)(<=|>=|==|!=|<|>)(?=\s)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _yaml(lines: list[str]) -> Iterator[Edit]:
    scalar_indent = None  # inside a block scalar: every deeper line is text, not YAML
    for index, line in enumerate(lines):
        stripped = line.strip()
        if scalar_indent is not None:
            if not stripped or _indent(line) > scalar_indent:
                yield from _yaml_value(index, line, 0)
                continue
            scalar_indent = None
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        if entry := ENTRY.match(line):
            yield "yaml/DropEntry", index, _block_end(lines, index, entry), []
        if BLOCK_SCALAR.search(line.split(" #")[0]):
            scalar_indent = _indent(line)
        value_at = line.find(": ") + 2 if ": " in line else (line.find("- ") + 2 if stripped.startswith("- ") else None)
        if value_at is not None and not PROSE_KEY.match(line):
            yield from _yaml_value(index, line, value_at)


def _block_end(lines: list[str], index: int, entry: re.Match) -> int:
    """The last line of an entry: the lines indented deeper, and a list at the key's own
    indentation when the key has no value of its own."""
    indent = len(entry.group(1))
    opens_block = not entry.group(2).startswith("-") and not lines[index].split(":", 1)[1].split("#")[0].strip()
    last = index
    for later in range(index + 1, len(lines)):
        line = lines[later]
        if not line.strip():
            continue
        deeper = _indent(line) > indent
        same_level_list = opens_block and _indent(line) == indent and line.lstrip().startswith("- ")
        if not (deeper or same_level_list):
            break
        last = later
    return last


def _yaml_value(index: int, line: str, value_at: int) -> Iterator[Edit]:
    """Edits in the value part of a line: from `value_at` to a comment, if any."""
    comment = line.find(" #", value_at)
    hidden = [(0, value_at), (len(line) if comment < 0 else comment, len(line))]
    for operator, pattern, replace in (
        ("yaml/NumberChange", YAML_NUMBER, _bumped),
        ("yaml/FlipBoolean", BOOLEAN, _swap({"true": "false", "false": "true"})),
        ("yaml/FlipComparison", VALUE_COMPARISON, _swap(ARITHMETIC_OPERATORS)),
    ):
        yield from _substitutions(operator, index, line, pattern, replace, hidden)


# --- ignore files ----------------------------------------------------------------------

def _ignore(lines: list[str]) -> Iterator[Edit]:
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            yield "ignore/DropPattern", index, index, []
