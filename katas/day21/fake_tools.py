"""The tests' fake tools for the real steps (provided; read it, do not edit it).

`FakeDocker` is a command runner with `run_command`'s signature (`runner(argv, env=...,
timeout=...)`) that behaves like the real `docker` and `docker-compose` over a small world:
images (tag -> labels, the image it was built FROM, its ENV, the files it copied) and the
containers of compose projects. It parses each command as the real tool does: global
options before the subcommand (`--file`/`-f`, `--project-name`/`-p`, `--env-file`, and the
`COMPOSE_FILE` / `COMPOSE_PROJECT_NAME` variables), then the subcommand's own options
(`up -d`, `rm -s -f`, `build -t`/`--tag`, `image rm -f`...), written `--opt value` or
`--opt=value`; a Dockerfile's ARG, ENV and LABEL lines are read as docker reads them (quotes,
`\\` escapes, `$NAME` and `${NAME}` replaced by the ARG or ENV value; in a FROM line by an ARG
declared before the first FROM, its default or its `--build-arg`), and its USER line
sets the user the image runs as (inherited from the FROM image otherwise). Like the real tools it
fails (raises `CommandFailed`, as `run_command` does on a non-zero exit) on a compose file that
is not there, on an image it does not have, and on `rm` of a running service without `--stop`;
an attached `up` (no `-d`) would never return, so it fails too. An `up` that creates a container
moves the fake clock by `up_s` (0 unless a test sets it). Every command is recorded in
`commands` with the environment it saw.

`ModelPort` is the model service's published port: a real HTTP server on 127.0.0.1 that
answers `/health`, `/ready`, `/predict` and `/metrics` as the container of the watched
project's `model` service would, on a fake clock. When compose replaces that container,
the old one keeps answering for `old_answers_s` seconds (it is being stopped), then nothing
is ready until the new one answers `/health` (`start_s` after `up`) and then `/ready`
(`ready_s` after `up`). An image built as `broken` answers every `/predict` with 500 (or with the
status `broken` names, e.g. `broken=503`); `fails_after` and `fails_until` narrow that to each
container's /predict answers from number `fails_after` (counting from 0) up to `fails_until`. Each
request moves the fake clock by `request_cost_s`, as a real request takes time. Its
`/metrics` shows the answering container's `model_requests_total`: every answer it gave, by
endpoint and status, as day 03's server counts them (`/health`, `/ready` and `/metrics` too, not
only `/predict`), from zero when that container started, as a real deploy's new container does
(while no container answers, nothing counts); `rows` keeps the rows
of every valid `/predict`;
`hold_metrics(seconds)` keeps showing the counts of that moment for a while, as a scrape
lags behind the requests.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class CommandFailed(RuntimeError):
    """What the fake raises where the real command would exit non-zero."""


@dataclass
class Image:
    tag: str
    base: str = ""
    labels: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # destination in the image -> bytes copied there
    broken: bool | int = False  # True: /predict answers 500; a number: that status
    fails_after: int = 0  # a broken image's containers answer their first so many /predict well
    fails_until: int | None = None  # ...and, from this many on, well again (None: never)
    user: str = ""  # the USER the image runs as ("" is docker's default, root)
    modes: dict = field(default_factory=dict)  # destination -> (permission bits, owner) as COPY left the file

    @property
    def model_version(self) -> str | None:
        return self.env.get("MODEL_VERSION")


@dataclass
class Container:
    project: str
    service: str
    image: str
    created: float
    running: bool = True
    env: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)  # its model_requests_total: (endpoint, status) -> answers

    @property
    def names(self) -> set[str]:
        return {f"{self.project}_{self.service}_1", f"{self.project}-{self.service}-1"}

    @property
    def predicts(self) -> int:
        """The /predict requests it has answered, whatever their status."""
        return sum(n for (path, _), n in self.counts.items() if path == "/predict")


# option tables: name -> takes a value?
COMPOSE_GLOBAL = {"-f": True, "--file": True, "-p": True, "--project-name": True, "--project-directory": True,
                  "--env-file": True, "--profile": True, "--ansi": True, "--log-level": True, "-H": True,
                  "--host": True, "-c": True, "--context": True, "--tlscacert": True, "--tlscert": True,
                  "--tlskey": True, "--no-ansi": False, "--verbose": False, "--compatibility": False,
                  "--skip-hostname-check": False, "--tls": False, "--tlsverify": False}
COMPOSE_SUB = {
    "up": {"-d": False, "--detach": False, "--no-deps": False, "--force-recreate": False, "--no-recreate": False,
           "--always-recreate-deps": False, "--no-build": False, "--no-start": False, "--build": False,
           "--abort-on-container-exit": False, "--attach-dependencies": False, "-V": False,
           "--renew-anon-volumes": False, "--remove-orphans": False, "--quiet-pull": False, "--no-color": False,
           "--no-log-prefix": False, "--wait": False, "-t": True, "--timeout": True, "--exit-code-from": True,
           "--scale": True},
    "rm": {"-f": False, "--force": False, "-s": False, "--stop": False, "-v": False},
    "stop": {"-t": True, "--timeout": True},
    "kill": {"-s": True, "--signal": True},
    "down": {"--rmi": True, "-v": False, "--volumes": False, "--remove-orphans": False, "-t": True,
             "--timeout": True},
    "ps": {"-q": False, "--quiet": False, "--services": False, "-a": False, "--all": False, "--filter": True},
}
DOCKER_SUB = {
    "build": {"-t": True, "--tag": True, "--label": True, "-f": True, "--file": True, "--build-arg": True,
              "--target": True, "--network": True, "--platform": True, "--cache-from": True, "--iidfile": True,
              "--progress": True, "-q": False, "--quiet": False, "--pull": False, "--no-cache": False,
              "--rm": False, "--force-rm": False},
    "rmi": {"-f": False, "--force": False, "--no-prune": False},
    "inspect": {"-f": True, "--format": True, "--type": True},
    "rm": {"-f": False, "--force": False, "-v": False, "--volumes": False},
    "stop": {"-t": True, "--time": True},
    "kill": {"-s": True, "--signal": True},
}


def parse_options(args: list[str], table: dict, what: str) -> tuple[dict, list[str]]:
    """(options seen -> list of values, positionals); stops at the first positional when
    `table` is a global table (compose's subcommand follows)."""
    seen: dict[str, list] = {}
    positionals: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name not in table:
                # combined short flags, e.g. -sf or -fv
                if not name.startswith("--") and len(name) > 2 and all(f"-{c}" in table and not table[f"-{c}"]
                                                                          for c in name[1:]):
                    for c in name[1:]:
                        seen.setdefault(f"-{c}", []).append(True)
                    i += 1
                    continue
                raise CommandFailed(f"{what}: unknown option {name}")
            if table[name]:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise CommandFailed(f"{what}: option {name} needs a value")
                    value = args[i]
                seen.setdefault(name, []).append(value)
            else:
                if eq:
                    raise CommandFailed(f"{what}: option {name} takes no value")
                seen.setdefault(name, []).append(True)
        else:
            positionals.append(arg)
        i += 1
    return seen, positionals


def first(seen: dict, *names: str):
    for name in names:
        if name in seen:
            return seen[name][-1]
    return None


def every(seen: dict, *names: str) -> list:
    return [value for name in names for value in seen.get(name, [])]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.strip().partition(" ")
        lines.append((keyword.upper(), rest.strip()))
        current = ""
    return lines


# After a `$`: digits (a positional parameter), one of the shell's special parameters (`$$`, `$?`...), both empty in
# a Dockerfile, or a name, a run of letters, digits and `_`.
_NAME = re.compile(r"\d+|[@*#?$!-]|\w+")


def _reference(text: str, at: int, known: dict) -> tuple[str, int]:
    """The value of the `$name` or `${name...}` at `text[at]` as docker reads it, and where the text goes on."""
    if text.startswith("${", at):
        close = text.find("}", at)
        if close < 0:
            raise CommandFailed(f"docker build: a ${{ without its }} in {text!r}")
        name, operator, word = re.fullmatch(r"(\w*)(:[-+]|)(.*)", text[at + 2:close], re.S).groups()
        if word and not operator:
            raise CommandFailed(f"docker build: missing ':' in substitution {text[at:close + 1]!r}")
        value = known.get(name) or ""
        if operator == ":-":
            value = value or word
        elif operator == ":+":
            value = word if value else ""
        return value, close + 1
    name = _NAME.match(text, at + 1)
    if name is None:
        return "$", at + 1   # a `$` before no name is itself
    return known.get(name.group(), ""), name.end()


def docker_words(text: str, known: dict) -> list[str]:
    """The words of an ENV, ARG or LABEL line as docker reads them (checked against a real `docker build`):
    `$X` and `${X}` replaced by the ARG/ENV value, empty when unset, also inside double quotes; nothing inside
    single quotes replaced or unescaped; `\\` escaping any character outside quotes and `"`, `$`, `\\` inside
    double quotes (`"\\$HOME"` is the text `$HOME`; `"\\u00e9"` stays those six characters)."""
    words, word, started, at = [], [], False, 0
    while at < len(text):
        char = text[at]
        if char.isspace():
            if started:
                words.append("".join(word))
                word, started = [], False
            at += 1
            continue
        started = True
        if char == "\\":
            word.append(text[at + 1:at + 2])
            at += 2
        elif char == "'":
            close = text.find("'", at + 1)
            if close < 0:
                raise CommandFailed(f"docker build: an unclosed ' in {text!r}")
            word.append(text[at + 1:close])
            at = close + 1
        elif char == '"':
            at += 1
            while at < len(text) and text[at] != '"':
                if text[at] == "$":
                    value, at = _reference(text, at, known)
                    word.append(value)
                elif text[at] == "\\" and text[at + 1:at + 2] in ('"', "$", "\\"):
                    word.append(text[at + 1])
                    at += 2
                else:
                    word.append(text[at])
                    at += 1
            if at >= len(text):
                raise CommandFailed(f'docker build: an unclosed " in {text!r}')
            at += 1
        elif char == "$":
            value, at = _reference(text, at, known)
            word.append(value)
        else:
            word.append(char)
            at += 1
    if started:
        words.append("".join(word))
    return words


def key_values(rest: str, known: dict) -> dict:
    """`ENV A=1 B="two words"` or the old `ENV A value` form; LABEL's `k=v ...`; read as docker reads them."""
    parts = docker_words(rest, known)
    if parts and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    return dict(part.split("=", 1) for part in parts if "=" in part)


class FakeDocker:
    """`docker` and `docker-compose` over a small world; call it as a `runner`."""

    def __init__(self, clock, *, compose_file: Path, project: str, mlflow_image: str = "katas/day21-mlflow") -> None:
        self.clock = clock
        self.compose_file = Path(compose_file).resolve()
        self.project = project
        self.lock = threading.RLock()
        self.images: dict[str, Image] = {}
        self.containers: list[Container] = []
        self.removed: list[Container] = []  # containers compose or docker removed, oldest first
        self.commands: list[dict] = []
        self.up_s = 0.0  # fake seconds an `up` that (re)creates a container takes (a pull, the old one stopping)
        self.add_image(mlflow_image)
        self.containers.append(Container(project, "mlflow", mlflow_image, clock()))

    # the world
    def add_image(self, tag: str, *, model_version: str | None = None, broken: bool | int = False,
                  fails_after: int = 0, fails_until: int | None = None, user: str = "") -> Image:
        image = Image(tag, env={"MODEL_VERSION": model_version} if model_version else {}, broken=broken,
                      fails_after=fails_after, fails_until=fails_until, user=user)
        self.images[tag] = image
        return image

    def container(self, service: str, project: str | None = None) -> Container | None:
        project = self.project if project is None else project
        found = [c for c in self.containers if (c.project, c.service) == (project, service)]
        return found[-1] if found else None

    def start(self, service: str, image: str, *, at: float | None = None) -> Container:
        """A container of `service` in the watched project, as a deploy before the test made it."""
        new = Container(self.project, service, image, self.clock() if at is None else at)
        self.containers.append(new)
        return new

    def compose_calls(self, subcommand: str) -> list[dict]:
        return [c for c in self.commands if c.get("compose") and c["subcommand"] == subcommand]

    # the runner
    def __call__(self, argv, *, env=None, timeout=None, **kwargs) -> subprocess.CompletedProcess:
        argv = [str(a) for a in argv]
        env = dict(os.environ if env is None else env)
        cwd = Path(kwargs.get("cwd") or os.getcwd())
        record = {"argv": argv, "env": env, "timeout": timeout, "at": self.clock()}
        self.commands.append(record)
        with self.lock:
            if argv[:1] == ["docker-compose"]:
                out = self._compose(argv[1:], env, cwd, record)
            elif argv[:2] == ["docker", "compose"]:
                out = self._compose(argv[2:], env, cwd, record)
            elif argv[:1] == ["docker"]:
                out = self._docker(argv[1:], cwd, record)
            else:
                raise CommandFailed(f"{argv[:1]}: not a command these tests fake (docker, docker-compose)")
        return subprocess.CompletedProcess(argv, 0, out, "")

    # docker-compose
    def _compose(self, args: list[str], env: dict, cwd: Path, record: dict) -> str:
        # find the subcommand: the first positional after the global options
        i, sub = 0, None
        while i < len(args):
            name = args[i].partition("=")[0]
            if name in COMPOSE_GLOBAL:
                i += 1 if "=" in args[i] or not COMPOSE_GLOBAL[name] else 2
                continue
            if args[i].startswith("-"):
                raise CommandFailed(f"docker-compose: unknown global option {args[i]}")
            sub = args[i]
            break
        if sub is None:
            raise CommandFailed("docker-compose: no subcommand")
        seen, _ = parse_options(args[:i], COMPOSE_GLOBAL, "docker-compose")
        if sub not in COMPOSE_SUB:
            raise CommandFailed(f"docker-compose {sub}: a subcommand these tests do not fake")
        options, services = parse_options(args[i + 1:], COMPOSE_SUB[sub], f"docker-compose {sub}")
        variables = dict(env)
        env_file = first(seen, "--env-file")
        if env_file:
            for line in Path(env_file).read_text(encoding="utf-8").splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    variables.setdefault(key.strip(), value.strip())
        files = every(seen, "-f", "--file") or ([env["COMPOSE_FILE"]] if env.get("COMPOSE_FILE") else
                                                [str(cwd / "docker-compose.yml")])
        resolved = [Path(f) if Path(f).is_absolute() else cwd / f for f in files]
        for path in resolved:
            if not path.exists():
                raise CommandFailed(f"docker-compose: can't find a suitable configuration file ({path})")
        if [p.resolve() for p in resolved] != [self.compose_file]:
            raise CommandFailed(f"docker-compose: {files} is not the stack's compose file ({self.compose_file})")
        project = (first(seen, "-p", "--project-name") or env.get("COMPOSE_PROJECT_NAME")
                   or resolved[0].resolve().parent.name).lower()
        record.update(compose=True, subcommand=sub, project=project, services=services, options=options,
                      variables=variables)
        known = {"mlflow", "model"}
        unknown = set(services) - known
        if unknown:
            raise CommandFailed(f"docker-compose {sub}: no such service: {sorted(unknown)}")
        targets = services or sorted(known)
        if sub == "up":
            if not first(options, "-d", "--detach"):
                raise CommandFailed("docker-compose up without -d stays attached to the logs and never returns")
            for service in targets:
                self._up(project, service, variables, force=bool(first(options, "--force-recreate")))
            return ""
        if sub in ("stop", "kill"):
            for c in self._live(project, targets):
                c.running = False
            return ""
        if sub == "rm":
            if not first(options, "-f", "--force"):
                raise CommandFailed("docker-compose rm asks 'Are you sure? [yN]' without --force")
            stop = bool(first(options, "-s", "--stop"))
            for c in self._live(project, targets):
                if c.running and not stop:
                    continue  # compose rm removes stopped containers only
                self._remove(c)
            return ""
        if sub == "down":
            for c in self._live(project, sorted(known)):
                self._remove(c)
            return ""
        if sub == "ps":
            live = [c for c in self._live(project, targets) if c.running or first(options, "-a", "--all")]
            if first(options, "--services"):
                return "".join(f"{c.service}\n" for c in live)
            return "".join(f"{sorted(c.names)[0]}\n" for c in live)
        raise CommandFailed(f"docker-compose {sub}: not faked")

    def _live(self, project: str, services) -> list[Container]:
        return [c for c in self.containers if c.project == project and c.service in services]

    def _remove(self, container: Container) -> None:
        container.running = False
        self.containers.remove(container)
        self.removed.append(container)

    def _up(self, project: str, service: str, variables: dict, *, force: bool) -> None:
        if service == "mlflow":
            image = variables.get("MLFLOW_IMAGE") or "katas/day21-mlflow"
            wanted_env = {"MLFLOW_PORT": variables.get("MLFLOW_PORT") or "5000"}
        else:
            image = variables.get("MODEL_IMAGE") or "katas/capstone-model:none"
            wanted_env = {"MODEL_PORT": variables.get("MODEL_PORT") or "8000"}
        current = [c for c in self.containers if (c.project, c.service) == (project, service)]
        if (current and current[-1].running and current[-1].image == image and current[-1].env == wanted_env
                and not force) or (current and service == "mlflow" and not force
                                   and current[-1].image == image):
            return  # "is up-to-date"
        if image not in self.images:
            raise CommandFailed(f"docker-compose up: pull access denied for {image}, repository does not exist")
        self.clock.advance(self.up_s)
        for c in current:
            self._remove(c)
        self.containers.append(Container(project, service, image, self.clock(), env=wanted_env))

    # docker
    def _docker(self, args: list[str], cwd: Path, record: dict) -> str:
        if not args:
            raise CommandFailed("docker: no subcommand")
        if args[0] in ("image", "container") and len(args) > 1:
            group, sub, rest = args[0], args[1], args[2:]
            sub = {"rm": "rmi", "remove": "rmi", "build": "build", "inspect": "inspect"}.get(sub, sub) \
                if group == "image" else {"remove": "rm"}.get(sub, sub)
        else:
            group, sub, rest = "", args[0], args[1:]
        if sub not in DOCKER_SUB:
            raise CommandFailed(f"docker {' '.join(args[:2])}: a command these tests do not fake")
        options, positionals = parse_options(rest, DOCKER_SUB[sub], f"docker {sub}")
        record.update(docker=True, subcommand=sub, options=options, positionals=positionals)
        if sub == "build":
            return self._build(options, positionals, cwd)
        if sub == "rmi":
            for tag in positionals:
                if tag not in self.images:
                    raise CommandFailed(f"Error: No such image: {tag}")
                if not first(options, "-f", "--force") and any(c.image == tag and c.running for c in self.containers):
                    raise CommandFailed(f"Error: conflict: unable to remove {tag}: a running container uses it")
                del self.images[tag]
            return "".join(f"Untagged: {tag}\n" for tag in positionals)
        if sub == "inspect":
            found = []
            for name in positionals:
                if name in self.images and group != "container":
                    image = self.images[name]
                    found.append({"RepoTags": [name], "Config": {"Labels": image.labels,
                                                                 "Env": [f"{k}={v}" for k, v in image.env.items()]}})
                else:
                    raise CommandFailed(f"Error: No such object: {name}")
            return json.dumps(found)
        # rm, stop, kill of a container by name
        for name in positionals:
            matches = [c for c in self.containers if name in c.names]
            if not matches:
                raise CommandFailed(f"Error: No such container: {name}")
            for c in matches:
                if sub == "rm":
                    if c.running and not first(options, "-f", "--force"):
                        raise CommandFailed(f"Error: cannot remove running container {name}: stop it or use -f")
                    self._remove(c)
                else:
                    c.running = False
        return ""

    def _build(self, options: dict, positionals: list[str], cwd: Path) -> str:
        if len(positionals) != 1:
            raise CommandFailed(f"docker build requires exactly 1 argument (the context), got {positionals}")
        context = Path(positionals[0]) if Path(positionals[0]).is_absolute() else cwd / positionals[0]
        dockerfile = first(options, "-f", "--file")
        path = (Path(dockerfile) if dockerfile and Path(dockerfile).is_absolute()
                else (cwd / dockerfile if dockerfile else context / "Dockerfile"))
        if not path.exists():
            raise CommandFailed(f"docker build: no Dockerfile at {path}")
        image = Image(tag="")
        build_args = dict(arg.partition("=")[::2] for arg in every(options, "--build-arg"))
        args: dict = {}   # ARG values in scope; an ENV of the same name wins, as in docker
        meta_args: dict | None = None   # the ARGs declared before the first FROM: only FROM lines read them
        for keyword, rest in dockerfile_instructions(path.read_text(encoding="utf-8")):
            if keyword == "FROM":
                if meta_args is None:
                    meta_args = dict(args)
                words = [w for w in docker_words(rest, meta_args) if not w.startswith("--")]  # --platform=...
                base = words[0] if words else ""
                if base not in self.images:
                    raise CommandFailed(f"docker build: pull access denied for {base}")
                parent = self.images[base]
                image.base, image.env, image.labels = base, dict(parent.env), dict(parent.labels)
                image.files, image.broken, image.user = dict(parent.files), parent.broken, parent.user
                image.modes = dict(parent.modes)
                image.fails_after, image.fails_until = parent.fails_after, parent.fails_until
                args.clear()   # an ARG declared before FROM is out of scope after it
            elif keyword == "ARG":
                for word in docker_words(rest, {**args, **image.env}):
                    name, given, default = word.partition("=")
                    if name in build_args or given:
                        args[name] = build_args.get(name, default)
            elif keyword == "ENV":
                image.env.update(key_values(rest, {**args, **image.env}))
            elif keyword == "LABEL":
                image.labels.update(key_values(rest, {**args, **image.env}))
            elif keyword == "USER":
                words = docker_words(rest, {**args, **image.env})
                image.user = words[0] if words else ""
            elif keyword in ("COPY", "ADD"):
                words = shlex.split(rest)
                flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
                *sources, dest = [w for w in words if not w.startswith("--")]
                for source in sources:
                    data = (context / source).read_bytes()
                    target = dest if not dest.endswith("/") else dest + Path(source).name
                    image.files[target] = data
                    image.modes[target] = (copied_mode(flags.get("chmod"), context / source),
                                           flags.get("chown", "0:0").split(":")[0])
        for label in every(options, "--label"):
            key, _, value = label.partition("=")
            image.labels[key] = value
        tags = every(options, "-t", "--tag")
        for tag in tags:
            self.images[tag] = Image(tag, image.base, dict(image.labels), dict(image.env), dict(image.files),
                                     image.broken, image.fails_after, image.fails_until, image.user, dict(image.modes))
        return "".join(f"Successfully tagged {tag}\n" for tag in tags)

    # what the model port shows
    def answering(self, now: float, *, old_answers_s: float, start_s: float,
                  ready_s: float) -> tuple[Container, Image, bool] | None:
        """(container, its image, ready) of what answers on the watched project's model port at `now`."""
        with self.lock:
            current = self.container("model")
            if current is not None and current.running and current.image in self.images:
                age = now - current.created
                if age >= start_s:
                    return current, self.images[current.image], age >= ready_s
            # the new one is not up: the one it replaced may still be answering
            replaced = [c for c in self.removed if (c.project, c.service) == (self.project, "model")]
            if replaced and current is not None and now - current.created < old_answers_s:
                old = self.images.get(replaced[-1].image)
                if old is not None:
                    return replaced[-1], old, True
            return None

    def serving_state(self, now: float, **timing):
        """(model_version or None, ready, broken) the watched project's model port shows at `now`."""
        found = self.answering(now, **timing)
        if found is None:
            return None, False, False
        _, image, ready = found
        return image.model_version, ready, image.broken


def copied_mode(chmod: str | None, source: Path) -> int:
    """The permission bits COPY gives a file: `--chmod`'s octal, else the build context file's own."""
    if chmod is None:
        return source.stat().st_mode & 0o7777
    try:
        return int(chmod, 8)
    except ValueError:
        raise CommandFailed(f"docker build: invalid --chmod {chmod!r}: an octal mode such as 644") from None


def readable_by(image: Image, path: str) -> bool:
    """Can the image's USER read `path`? Other users' read bit, or the owner's when COPY --chown gave it away."""
    mode, owner = image.modes.get(path, (0o644, "0"))
    user = (image.user or "0").split(":")[0]
    return bool(mode & 0o004 or (mode & 0o400 and (owner == user or owner not in ("0", "root"))))


def valid_payload(raw: bytes) -> bool:
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    rows = body.get("features") if isinstance(body, dict) else None
    return (isinstance(rows, list) and len(rows) > 0 and all(
        isinstance(row, list) and len(row) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                        for v in row) for row in rows))


class ModelPort:
    """`with ModelPort(docker, clock) as port:` serves the watched project's model service on
    127.0.0.1:`port.port` until the block ends; `answers` records (path, status, version)."""

    def __init__(self, docker: FakeDocker, clock, *, old_answers_s: float = 2.0, start_s: float = 3.0,
                 ready_s: float = 4.0, request_cost_s: float = 0.01) -> None:
        self.docker, self.clock = docker, clock
        self.timing = {"old_answers_s": old_answers_s, "start_s": start_s, "ready_s": ready_s}
        self.request_cost_s = request_cost_s
        self.answers: list[tuple[str, int, str | None]] = []
        self.rows: list[list[float]] = []
        self._held: tuple[float, dict[tuple[str, str], int]] | None = None
        self._hold: tuple[float, int] | None = None  # a hold waiting for its moment
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def hold_metrics(self, seconds: float, *, after_predicts: int = 0) -> None:
        """For the next `seconds` of wall time, /metrics keeps showing the counts of this moment,
        or of the moment the answering container has answered `after_predicts` /predict requests:
        a scrape lags behind the requests, as Prometheus' last sample does."""
        with self._lock:
            self._held = None
            self._hold = (seconds, after_predicts)
            self._freeze_if_due(self._answering()[0])

    def _answering(self) -> tuple[Container | None, Image | None, bool]:
        """(container, its image, ready) of what answers now; (None, None, False) when nothing does."""
        found = self.docker.answering(self.clock(), **self.timing)
        return found if found is not None else (None, None, False)

    def _freeze_if_due(self, container: Container | None) -> None:
        if self._hold is None:
            return
        seconds, after_predicts = self._hold
        if (0 if container is None else container.predicts) >= after_predicts:
            counts = {} if container is None else dict(container.counts)
            self._held, self._hold = (time.monotonic() + seconds, counts), None

    def _exposed_counts(self, container: Container) -> dict[tuple[str, str], int]:
        if self._held is not None and time.monotonic() < self._held[0]:
            return self._held[1]
        return container.counts

    def state(self):
        return self.docker.serving_state(self.clock(), **self.timing)

    def _answer(self, container, image, ready: bool, version, method: str, path: str, raw: bytes):
        """(status, JSON body or None for /metrics) the answering container gives."""
        if version is None:
            return 503, {"error": "no model service is up"}
        if path == "/health" and method == "GET":
            return 200, {"status": "ok", "model_version": version}
        if path == "/ready" and method == "GET":
            return (200, {"ready": True}) if ready else (503, {"ready": False})
        if path == "/predict" and method == "POST" and not valid_payload(raw):
            return 422, {"error": "the day-03 payload is {\"features\": [[f0, f1, f2, segment], ...]}"}
        if path == "/predict" and method == "POST":
            self.rows.extend(json.loads(raw)["features"])
            answered = container.predicts
            failing_now = image.fails_after <= answered and (image.fails_until is None or answered < image.fails_until)
            broken = image.broken if failing_now else False
            failing = broken if isinstance(broken, int) and not isinstance(broken, bool) else 500
            return (failing, {"error": "cannot predict"}) if broken or not ready else (
                200, {"predictions": [0.5], "model_version": version})
        if path == "/metrics" and method == "GET":
            return 200, None
        return 404, {"error": f"no route {method} {path}"}

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.clock.advance(self.request_cost_s)
        container, image, ready = self._answering()
        version = image.model_version if image is not None else None
        path = handler.path.split("?")[0]
        with self._lock:
            status, body = self._answer(container, image, ready, version, method, path, raw)
            self.answers.append((path, status, version))
            if container is not None:  # every endpoint, as day 03's server counts them
                key = (path, str(status))
                container.counts[key] = container.counts.get(key, 0) + 1
                self._freeze_if_due(container)
            exposed = dict(self._exposed_counts(container)) if container is not None else {}
        if body is None:
            data = "".join(f'model_requests_total{{endpoint="{p}",status="{s}"}} {n}\n'
                           for (p, s), n in sorted(exposed.items())).encode()
            content_type = "text/plain; version=0.0.4"
        else:
            data, content_type = json.dumps(body).encode(), "application/json"
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    def __enter__(self) -> "ModelPort":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                return

            def do_GET(self):
                owner._handle(self, "GET")

            def do_POST(self):
                owner._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="day21-model-port")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
