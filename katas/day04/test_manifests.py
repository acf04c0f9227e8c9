"""Tasks 1 and 2, checked offline: the Kubernetes schema and the rules a schema cannot see.

`manifest_report(...)` loads your YAML files and runs mlops_katas/infra/manifests.py
over them: the official schema of Kubernetes 1.32 in strict mode (a misspelt key is an
error), then cross-object rules. Every problem names the file, the object and the field.
"""

import posixpath
import re
import shlex

import pytest

from mlops_katas.infra.image_refs import OS_VARIANT, VARIANT, tag_of, unpinned
from mlops_katas.infra.model_server_pod import (
    MIN_MEMORY_LIMIT, low_cpu_limit, overridden_entry_point, own_model_path,
)
from mlops_katas.infra.manifests import (
    explain, one_node_blockers, quantity, selector_matches, selects_every_pod, startup_allowance,
)

DEPLOYMENT = "k8s/deployment.yaml"
SERVICE = "k8s/service.yaml"
CONTRACT_PORT = 8000  # the day-03 server listens here
MAX_CPU_REQUEST = 1  # cores: the tests' kind cluster is one node on your machine
MIN_MEMORY = 16 * 2**20  # bytes: less cannot even start Python, let alone load a model
# What all replicas may request together: a two-core machine's kind node, whose own pods reserve ~0.95 core.
NODE_CPU, NODE_MEMORY = 1, 2 * 2**30
MIN_START_S = 30  # seconds the first restarting probe must allow: the defaults give 0 + 3 x 10
RELEASE_LABELS = ("app.kubernetes.io/version", "version", "helm.sh/chart")  # change with every release
# model-version, git-commit, modelversion, model-ver, git-hash, githash, git-sha1, git-ref: a key naming a version,
# revision or commit (ver, sha, hash, rev and ref only as words of their own, or run on to "git", or with the hash's width: sha1,
# sha256); build, build-id, buildNumber, pipeline-run, build-date, timestamp: a key naming a build's stamp (as a word
# of its own: `run` alone is what `kubectl run` labels its pods with, and stays)
RELEASE_KEY = re.compile(r"version|revision|commit|(?:^|[-_.]|git)(?:sha|hash|rev|ref)(?:1|256)?(?:$|[-_.])"
                         r"|(?:^|[-_.])ver(?:$|[-_.])"
                         r"|(?:^|[-_.])(?:build|pipeline|date|timestamp|run-?id)(?:$|[-_.]|-?(?:id|number|num|no)$)",
                         re.IGNORECASE)
# Service fields the API server accepts only on a LoadBalancer Service.
LOAD_BALANCER_FIELDS = ("loadBalancerSourceRanges", "loadBalancerClass", "allocateLoadBalancerNodePorts",
                        "healthCheckNodePort")
# What the tests' kind node offers: Linux on your machine's architecture, no custom labels, no GPU; as the cluster's
# only node it is kind's control-plane node, and carries that role's label.
KIND_NODES = [{"kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
               "beta.kubernetes.io/arch": arch, "node-role.kubernetes.io/control-plane": ""}
              for arch in ("amd64", "arm64")]
NODE_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
SYSTEM_ACCOUNTS = (None, "default")
DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")  # container names, label-like names
DNS_1035_LABEL = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")  # Service names
DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
NODE_PORTS = range(30000, 32768)  # the API server's default --service-node-port-range
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
# The capabilities the Pod Security Standards' baseline lets a container add (the runtime's defaults).
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")  # a label value (or "") and key name
# A bare counter, date or timestamp a CI run stamps on a label (42, r42, 20240601T1200, 2024-06-01T12:00).
COUNTER_VALUE = re.compile(r"[vVrR]?[0-9]+|[0-9]{8}(?:[T_-]?[0-9]{4,6}Z?)?"
                           r"|[0-9]{4}[-_.][0-9]{2}[-_.][0-9]{2}(?:[T_.-][0-9][0-9_.-]*Z?)?")
VERSION_VALUE = re.compile(r"(?:[vV][0-9]+|[vV]?[0-9]+(?:\.[0-9]+)+)(?:[-+_.][A-Za-z0-9.]+)*")  # 1.0.0, v3, 1.4.2-rc1
# A name with a dotted version run on after a - or _, as Helm's `chart` label has it (model-server-1.4.2,
# iris-v0.3.1-rc1, iris_1.2.0, iris_v1.2.0), with v and a number after a - or _ (iris-v3, model_v12), or with a date or
# timestamp (iris-2024-06-01, model-server-20240601, iris_20240601T1200).
ENDS_IN_VERSION = re.compile(r".*[A-Za-z0-9][-_][vV]?[0-9]+(?:\.[0-9]+)+(?:[-+_.][A-Za-z0-9.]+)*"
                             r"|.*[A-Za-z0-9][-_][vV][0-9]+"
                             r"|.*[A-Za-z0-9][-_.](?:19|20)[0-9]{2}([-_.]?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12][0-9]|3[01])"
                             r"(?:[T_.-]?[0-9][0-9_.-]*Z?)?")
# A tag that is only a major version (1, v2) moves with every release of that major version.
MAJOR_ONLY_TAG = re.compile(r"[vV]?[0-9]+")
# The SELinux types the Pod Security Standards' baseline lets a pod set (the container runtime's own).
BASELINE_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# Where Python's tempfile (and so gunicorn) looks for a writable directory, after $TMPDIR, $TEMP and $TMP.
TEMP_DIRS = ("/tmp", "/var/tmp", "/usr/tmp")
# Volumes the kubelet always mounts read-only.
READ_ONLY_VOLUMES = ("configMap", "secret", "downwardAPI", "projected")
# The sysctls the kubelet allows and the Pod Security Standards' baseline permits (Kubernetes 1.32).
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
DEFAULT_SCHEDULERS = (None, "default-scheduler")
DEFAULT_PROGRESS_DEADLINE_S = 600  # what the API server fills in for a left-out progressDeadlineSeconds
# Volume sources a pod can mount with nothing from outside the cluster (hostPath and persistentVolumeClaim have rules
# of their own), and the StorageClasses an ephemeral volume's claim may use there (kind's default is "standard").
IN_CLUSTER_VOLUMES = {"emptyDir", "configMap", "secret", "downwardAPI", "projected", "ephemeral", "hostPath",
                      "persistentVolumeClaim"}
KIND_STORAGE_CLASSES = (None, "standard")
# Where the day-03 image keeps what it runs: a volume mounted at or above these hides them.
IMAGE_DIRS = ("/app", "/opt/venv", "/usr/local")
IMAGE_FILES = ("/app/model_server.py", "/app/model.skops")
IMAGE_LIBRARIES = ("/opt/venv", "/usr/local")  # a volume anywhere inside these hides part of them
# Images whose default command is a long-running server (a log shipper, proxy, exporter or database): an init
# container that runs one without a command of its own never finishes. Matched on the repository's last path part.
# (nginx-unprivileged and aws-for-fluent-bit are the same servers, built to run as non-root or on AWS.)
SERVER_IMAGE = re.compile(r"(?:aws-for-)?fluent-bit|fluentd|vector|promtail|envoy|nginx(?:-unprivileged)?|haproxy"
                          r"|opentelemetry-collector(?:-contrib)?|cloud-?sql-proxy|proxyv2|.+-exporter"
                          r"|redis|postgres|memcached|alloy|grafana-agent")
SERVER_IMAGE_PATHS = ("linkerd/proxy",)  # a last part too common to match alone (proxy)
# Executables that start a long-running server (a log shipper, proxy, collector, web or metrics server): an init
# container whose command starts one never finishes either. Options that make them check or print and exit instead.
SERVER_COMMAND = re.compile(r"fluent-bit|envoy|nginx|redis-server|otelcol(?:-contrib)?|gunicorn|uvicorn|prometheus")
ONE_SHOT_FLAGS = {"-t", "-T", "--test", "--version", "-v", "-V", "--help", "-h", "--dry-run", "--check-config",
                  "validate", "check", "--config-check"}
SHELLS = ("sh", "bash", "ash", "dash", "zsh")
# What runs the command after it unchanged (exec fluent-bit, dumb-init -- fluent-bit, env A=1 fluent-bit, nohup ...),
# and a `NAME=value` assignment in front of a command (FLB_LOG_LEVEL=info fluent-bit), which only sets its environment.
WRAPPERS = ("exec", "env", "nohup", "dumb-init", "tini", "tini-static")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*", re.S)
# Shell that never returns (unless it breaks or exits): an init container running it blocks the server for ever.
# (`while sleep 60` too: sleep always succeeds, so the loop's condition never fails.)
RUNS_FOREVER = re.compile(r"\bwhile\s+(?:(?:true|:|(?:/usr)?/bin/true"
                          r"|\[\s+\"?[A-Za-z0-9]+\"?\s+\]|\[\[\s+\"?[A-Za-z0-9]+\"?\s+\]\]"
                          r"|\[\[?\s+\"?([0-9]+)\"?\s+(?:-eq|==?)\s+\"?\1\"?\s+\]\]?"
                          r"|\(\s*true\s*\)|\(\(\s*1\s*\)\))(?=[\s;]|$)"
                          r"|sleep\s+[0-9.]+[smhd]?(?=\s*;?\s*do\b)|(?:True|1)\s*:)"
                          r"|\buntil\s+false\b"
                          r"|\bfor\s*\(\(\s*;\s*;\s*\)\)|\bsleep\s+inf(?:inity)?\b"
                          # Python's waits for a signal or serves for ever: signal.pause(), httpd.serve_forever()
                          r"|\bsignal\.pause\s*\(\s*\)|\.serve_forever\s*\("
                          # tail -f, also after other options: tail -n +1 -F FILE, tail -n0 -f /dev/null
                          r"|\btail\s+(?:-[A-Za-z0-9=+-]*\s+(?:\+?[0-9]+\s+)?)*?"
                          r"(?:-[A-Za-z0-9]*[fF][A-Za-z0-9]*(?=\s|$)|--follow\b)")
LEAVES_A_LOOP = re.compile(r"\b(?:break|exit)\b")
# A sleep (busybox and GNU: seconds, or a number with s, m, h or d) that holds the server back an hour or more.
_SLEEP_ARG = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)[smhd]?"
SLEEP = re.compile(rf"\bsleep\s+({_SLEEP_ARG}(?:\s+{_SLEEP_ARG})*)(?![\w.])")
# Python's sleep (time.sleep(3600), asyncio.sleep(60 * 60)): seconds, as a number or a product of numbers.
_PY_NUMBER = r"[0-9][0-9_]*(?:\.[0-9_]*)?"
PYTHON_SLEEP = re.compile(rf"\bsleep\s*\(\s*({_PY_NUMBER}(?:\s*\*\s*{_PY_NUMBER})*)\s*\)")
LONG_SLEEP_S = 3600
SLEEP_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Downward API fields that give an init container its own pod's address (the pod's name is its host name).
POD_ADDRESS_FIELDS = ("status.podIP", "status.podIPs", "metadata.name")
# The pod's own server, as an init container would reach it (curl localhost:8000/ready, nc -z 127.0.0.1 8000).
OWN_SERVER = re.compile(r"(?<![\w.-])(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[?::1\]?)(?::|\s+)8000\b")

# A loop that waits for a peer over the network (until nslookup redis; do sleep 2; done): the pod's own server and
# this Service are the only peers the two files create, and neither answers before the init containers finish.
# Database, cache and broker clients count too, in any case (redis-cli -h redis PING, pg_isready -h db,
# until psql -h db -c '\q'), as does bash's
# /dev/tcp/HOST/PORT. (The other names stay lower case: a Python loop's `print("Waiting for Host")` is no probe.)
PEER_TOOLS = (r"(?:(?:/usr)?(?:/local)?/s?bin/|\./)?"  # also by its path: /usr/bin/curl, /bin/nc, ./pg_isready
              r"(?:nslookup|nc|ncat|netcat|wget|curl|getent|ping|dig|host|telnet"
              r"|psql|mysql|mongo|cqlsh|kcat|kafkacat|kafka-[a-z-]+(?:\.sh)?|grpc_health_probe|grpcurl"
              r"|(?i:redis-cli|pg_isready|mysqladmin|mongosh|socat))(?=[\s;)`]|$)|/dev/(?:tcp|udp)/")
WAITS_FOR_A_PEER = re.compile(rf"\b(?:until|while)\b[^;]*?(?:(?:^|[\s!(&|`]){PEER_TOOLS})")


# The same probes as a command anywhere in a loop's condition or body (for i in $(seq 1 30); do nc -z redis 6379 &&
# exit 0; sleep 2; done; exit 1): a bounded retry waits for the peer as well, and fails when it never comes.
PEER_PROBE = re.compile(rf"(?:^|[;&|(`!\n]|\b(?:do|then|if|elif|else|until|while|timeout\s+\S+)\s)\s*{PEER_TOOLS}")
# A shell loop's keyword (for, while, until), and a Python loop's header (while True:, while 1:, for _ in range(30):);
# `while :` (shell's while true) is no Python header.
SHELL_LOOP = re.compile(r"\b(?:for|while|until)\b")
# A header may hold colons of its own (while requests.get("http://redis:6379").status_code != 200:).
PYTHON_LOOP = re.compile(r"\bwhile\s+(?:True|1)\s*:|\b(?:for|while)\s+[^\n]*[^\s:]\s*:(?=[ \t]*(?:\n|$))")
# A network client in Python (socket.create_connection(("redis", 6379)), urlopen, requests.get, a DNS lookup): inside
# a `while True:` loop it is a wait for a peer, as `until nc -z redis 6379` is in shell.
# A socket's connect((host, port)) counts (socket.socket().connect(...)), as do a database's or cache's client
# (psycopg2.connect(...), redis.Redis(...).ping()).
# Any database driver's connect counts (pymysql.connect(host="db"), mysql.connector.connect(...)), as do SQLAlchemy's
# create_engine(url).connect() or engine.connect(), a MongoClient(...) and asyncio.open_connection(...).
PYTHON_NET_CLIENT = re.compile(r"\b(?:create_connection|connect_ex|urlopen|getaddrinfo|gethostbyname(?:_ex)?"
                               r"|HTTPS?Connection|(?:requests|httpx)\.(?:get|head|post|request))\s*\("
                               r"|\.connect\s*\(\s*\(|\bsocket\.socket\s*\([^)]*\)\s*\.connect\s*\("
                               r"|\b(?:psycopg2?|pymysql|MySQLdb|mysql\.connector|asyncpg|aiomysql|pymssql|pyodbc"
                               r"|cx_Oracle|oracledb)\.connect\s*\(|\.connect\s*\(\s*\)"
                               r"|\b(?:create_(?:async_)?engine|MongoClient|open_connection)\s*\(|\.ping\s*\(")
# A shell `do` or `done` in command position (not an `echo done`).
SHELL_DO_DONE = re.compile(r"(?:^|(?<=[;&|(\n]))\s*\b(do|done)\b")
# A trap's handler (trap 'exit 0' TERM) runs on a signal: an `exit` there does not end the loop.
TRAP = re.compile(r"\btrap\s+(?:'[^']*'|\"[^\"]*\"|\S+)")


def _assert_pinned(image, where):
    problem = unpinned(image, where)
    assert problem is None, problem
    tag = tag_of(image) if "@" not in str(image) else None
    # A major version with only variant words after it (1-slim, v2-amd64, 3-alpine, v1-cpu) moves as 1 does.
    words = re.split(r"[-_]", str(tag).lower().replace("x86_64", "amd64")) if tag is not None else []
    while len(words) > 1 and _is_variant(words[-1]):
        words.pop()
    major = tag is not None and len(words) == 1 and MAJOR_ONLY_TAG.fullmatch(words[0])
    assert not major, \
        (f"{where}'s tag {tag!r} is only a major version{'' if words[0] == str(tag).lower() else ' with a variant'}: "
         f"it moves to every new {words[0]}.x release, so two pods may run different builds and a "
         "rollback cannot return to the old one; pin a full version (1.0.0 or 1.0.0-slim), a build written as "
         "build-417, or a digest")


def _is_variant(word):
    """Whether a tag's word names a variant (slim, cpu, amd64, py3.11, alpine3.19), not a build."""
    return bool(word.isalpha() or VARIANT.fullmatch(word) or OS_VARIANT.fullmatch(word))


def _image_repository(image):
    """The repository path of an image reference, without registry host, tag or digest (fluent/fluent-bit)."""
    path = str(image or "").split("@", 1)[0]
    head, _, last = path.rpartition("/")
    path = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    parts = path.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts)


def _runs_a_server_image(container):
    """Whether a container runs its image's own entry point, a long-running server: with no command nor args, or
    with args that are only options for that server (-c /fluent-bit/etc/fluent-bit.conf), which an entry point such
    as fluent-bit's or redis's passes to the server."""
    args = container.get("args")
    options = isinstance(args, list) and bool(args) and str(args[0]).startswith("-") \
        and not ONE_SHOT_FLAGS.intersection(str(a) for a in args)
    if container.get("command") or (args and not options):
        return False
    repository = _image_repository(container.get("image"))
    return bool(SERVER_IMAGE.fullmatch(repository.rsplit("/", 1)[-1])) or repository.endswith(SERVER_IMAGE_PATHS)


def _script_commands(script):
    """The simple commands of a shell script, each as its words (quotes removed): split at `;`, `&&`, `||`, `|`,
    `&` and line ends outside quotes, shell keywords (then, do, !) and `exec` dropped from their front. A command
    sent to the background (`nginx &`) is left out: it dies with the script."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace, lexer.whitespace_split, lexer.commenters = " \t\r", True, ""
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = script.split()
    commands, words = [], []
    for token in tokens + [";"]:
        if token and set(token) <= set(";|&\n()"):
            if words and token != "&":
                commands.append(words)
            words = []
        elif token and not set(token) <= set("<>"):
            words.append(token)
    keywords = {"then", "do", "else", "elif", "if", "while", "until", "!", "{", "exec"}
    for words in commands:
        while words and words[0] in keywords:
            words = words[1:]
        if words:
            yield words


def _server_command(container):
    """The long-running server a container's own command or args start (fluent-bit, nginx, python -m http.server),
    also behind `exec`, or as any command of a `sh -c` script (`sh -c "mkdir -p /x && exec fluent-bit ..."`), or
    None (a one-shot run such as `nginx -t` or `--version` ends)."""
    words = _unwrapped([str(w) for key in ("command", "args") if isinstance(container.get(key), list)
                        for w in container[key]])
    if words and posixpath.basename(words[0]) in SHELLS:
        flag = next((n for n, w in enumerate(words[1:3], 1) if re.fullmatch(r"-[a-z]*c[a-z]*", w)), None)
        if flag is not None and flag + 1 < len(words):  # sh -c "...": every command of the script
            return next(filter(None, (_server_command({"command": command})
                                      for command in _script_commands(words[flag + 1]))), None)
    if not words or ONE_SHOT_FLAGS.intersection(words):
        return None
    executable = posixpath.basename(words[0])
    if SERVER_COMMAND.fullmatch(executable):
        return executable
    if not re.fullmatch(r"python(?:[0-9.]*)", executable):
        return None
    rest = words[1:]
    while rest and rest[0].startswith("-") and rest[0] != "-m":  # python -u -m uvicorn ...
        rest = rest[1:]
    module = rest[1] if len(rest) >= 2 and rest[0] == "-m" else None
    return f"python -m {module}" if module and (module == "http.server" or SERVER_COMMAND.fullmatch(module)) else None


def _unwrapped(words):
    """A command's words without what runs it unchanged in front of it: `exec`, `NAME=value` assignments, and the
    wrappers env, nohup, dumb-init and tini with their options (dumb-init -- fluent-bit, tini -s -- nginx)."""
    while words:
        if ASSIGNMENT.fullmatch(words[0]):
            words = words[1:]
        elif posixpath.basename(words[0]) in WRAPPERS:
            words = words[1:]
            if "--" in words and all(w.startswith("-") for w in words[:words.index("--")]):
                words = words[words.index("--") + 1:]
            while words and words[0].startswith("-") and words[0] != "-":
                words = words[1:]
        else:
            break
    return words


def _sleeps(script):
    """Each sleep in a script, as its text and its seconds: the shell's (sleep 1d, sleep 1h 30m) and Python's
    (time.sleep(3600), time.sleep(60 * 60))."""
    for sleep in SLEEP.finditer(script):
        yield sleep.group(0), sum(float(arg.rstrip("smhd") or 0) * SLEEP_UNITS.get(arg[-1], 1)
                                  for arg in sleep.group(1).split())
    for sleep in PYTHON_SLEEP.finditer(script):
        product = 1.0
        for factor in re.split(r"\s*\*\s*", sleep.group(1)):
            product *= float(factor.replace("_", "") or 0)
        yield sleep.group(0), product


def _loop_body(script, loop, python=None):
    """The body of the loop that `loop` (a match in `script`) begins: a shell loop's text between its `do` and
    its own `done`, a Python loop's indented block (or the rest of its line). `python` says which it is (by
    default a match ending in `True:` or `1:` is Python)."""
    rest = script[loop.end():]
    if python is None:
        python = re.search(r"(?:True|1)\s*:$", loop.group(0)) is not None
    if not python:  # shell (while :; do ... done, until false; do ...)
        depth, start = 0, None
        for token in SHELL_DO_DONE.finditer(rest):
            if token.group(1) == "do":
                depth += 1
                start = token.end() if start is None else start
            elif start is not None:
                depth -= 1
                if depth == 0:
                    return rest[start:token.start()]
        return rest[start:] if start is not None else ""
    line_start = script.rfind("\n", 0, loop.start()) + 1
    indent = len(script[line_start:]) - len(script[line_start:].lstrip(" \t"))
    first, _, following = rest.partition("\n")
    body = [first]
    for line in following.split("\n"):
        if line.strip() and len(line) - len(line.lstrip(" \t")) <= indent:
            break
        body.append(line)
    return "\n".join(body)


def _own_part(body, python):
    """A loop body without the bodies of the loops nested in it, whose plain `break` leaves only themselves (an
    `exit`, or a shell `break 2`, there still leaves the outer loop, so those stay)."""
    if python:
        own, nested_indent = [], None
        for line in body.split("\n"):
            indent = len(line) - len(line.lstrip(" \t"))
            if nested_indent is not None and (not line.strip() or indent > nested_indent):
                own.append(re.sub(r"\bbreak\b", "", line))
                continue
            nested_indent = indent if PYTHON_LOOP.search(line) else None
            own.append(line)
        return "\n".join(own)
    own, depth, last = [], 0, 0
    for token in SHELL_DO_DONE.finditer(body):
        part = body[last:token.start()]
        own.append(re.sub(r"\bbreak\b(?!\s+[2-9])", "", part) if depth else part)
        depth = max(0, depth + (1 if token.group(1) == "do" else -1))
        last = token.start()
    own.append(body[last:])
    return "".join(own)


def _never_ends(script):
    """The match of what in an init container's script never ends (while true, sleep infinity), or None."""
    for forever in RUNS_FOREVER.finditer(script):  # every one: a wait loop that ends may come before a tail -F
        python = re.search(r"(?:True|1)\s*:$", forever.group(0)) is not None
        # Only a break or exit in the loop's own body ends it: not one after its done, nor a trap's handler, nor a
        # break of a loop nested in it.
        leaves = forever.group(0).startswith(("while", "until", "for")) \
            and LEAVES_A_LOOP.search(_own_part(TRAP.sub("", _loop_body(script, forever)), python))
        if not leaves:  # a wait loop that breaks out once what it waits for is there ends
            return forever
    return None


def _waits_for_a_peer(script):
    """The match of a network probe an init container's script loops on, or None: in any loop, bounded retries
    included (a shell for, while or until loop's condition or body, a `python -c` network client there too, or a
    network client in a Python while or for loop's header or body)."""
    waits = WAITS_FOR_A_PEER.search(script)
    python_loops = list(PYTHON_LOOP.finditer(script))
    for loop in python_loops:  # its header too: while sock.connect_ex(("redis", 6379)) != 0:
        waits = waits or PYTHON_NET_CLIENT.search(loop.group(0)) \
            or PYTHON_NET_CLIENT.search(_loop_body(script, loop, python=True))
    python_starts = {loop.start() for loop in python_loops}
    for loop in SHELL_LOOP.finditer(script):
        do = next((t for t in SHELL_DO_DONE.finditer(script, loop.end()) if t.group(1) == "do"), None)
        if waits or loop.start() in python_starts or do is None:
            continue  # not a shell loop (Python's for or while, or a word in a message)
        condition = script[loop.end():do.start()]  # stops at the loop's `do`, not at a `;` inside python -c "..."
        body = _loop_body(script, loop, python=False)
        waits = (PEER_PROBE.search(condition) or PEER_PROBE.search(body)
                 or PYTHON_NET_CLIENT.search(condition) or PYTHON_NET_CLIENT.search(body))
    return waits


def _valid_port_name(name):
    """IANA_SVC_NAME, as the API server checks a container port's name: 1-15 of [a-z0-9-], a letter, no '--'."""
    return (isinstance(name, str) and re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,13}[a-z0-9])?", name) is not None
            and "--" not in name and re.search("[a-z]", name) is not None)


def _key_words(key):
    """A label key's name with camelCase words split by '-' (modelVersion -> model-Version), prefix dropped."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", str(key).rpartition("/")[2])


def _release_keys(keys):
    """The label keys that change with every release: a known release label, or a key naming a version, revision
    or commit."""
    return [k for k in keys if k in RELEASE_LABELS or RELEASE_KEY.search(_key_words(k))]


def _versioned_values(pairs, report):
    """The (key, value) label pairs, as "key=value", whose value is a version, ends in a dotted one
    (model-server-1.4.2), is a bare counter, date or timestamp (release: "42", 20240601T1200) or is the tag of one
    of the pod's images."""
    tags = {str(t).lower().lstrip("v") for t in (tag_of(c.get("image")) for _, c in _pod_containers(report)) if t}
    return [f"{k}={v}" for k, v in pairs
            if isinstance(v, str) and (VERSION_VALUE.fullmatch(v) or ENDS_IN_VERSION.fullmatch(v)
                                       or COUNTER_VALUE.fullmatch(v) or v.lower().lstrip("v") in tags)]


def _deployment_doc(report):
    return _only(report, "Deployment", "apps/v1", DEPLOYMENT).doc


def _pod_spec(report):
    spec = ((_deployment_doc(report).get("spec") or {}).get("template") or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _only(report, kind, api_version, file):
    objects = report.objects(kind)
    assert len(objects) == 1, f"{file} should hold exactly one {kind}, found {len(objects)}"
    assert objects[0].doc["apiVersion"] == api_version, f"the {kind} should use apiVersion {api_version}"
    return objects[0]


def _container(report):
    deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
    containers = deployment.doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    assert len(containers) == 1, "the pod should run exactly one container: the model server"
    return containers[0]


def _pod_containers(report):
    """Every container of the pod template, init containers first, as (where, container) pairs."""
    pod = _pod_spec(report)
    return [(f"{kind}[{i}]", c) for kind in ("initContainers", "containers")
            for i, c in enumerate(c for c in pod.get(kind) or [] if isinstance(c, dict))]


def _port_number(container, port, protocol=None):
    """The containerPort a probe or targetPort reaches: a number as is (if declared), a name looked up.

    A Service resolves a named targetPort only among ports of its own protocol; the kubelet's
    probes ignore the protocol (protocol=None).
    """
    ports = [p for p in container.get("ports") or [] if isinstance(p, dict)]
    if isinstance(port, bool):
        return None
    if isinstance(port, int):
        return port if any(p.get("containerPort") == port for p in ports) else None
    for p in ports:
        if p.get("name") == port and protocol in (None, p.get("protocol", "TCP")):
            return p.get("containerPort")
    return None


def _which(number, protocol=None):
    if number is None:
        return f"no declared {protocol} container port" if protocol else "no declared container port"
    return f"container port {number}"


def _assert_probe_on_the_contract_port(container, probe):
    port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
    reached = _port_number(container, port)
    assert reached == CONTRACT_PORT, \
        (f"{probe}.httpGet.port is {port!r}, which reaches {_which(reached)}: the day-03 server answers "
         f"on {CONTRACT_PORT} only, so the probe should use {CONTRACT_PORT} or that port's name")


def _assert_plain_http_to_the_pod(container, probe):
    http = (container.get(probe) or {}).get("httpGet") or {}
    scheme = http.get("scheme", "HTTP")
    assert scheme == "HTTP", (f"{probe}.httpGet.scheme is {scheme!r}: the day-03 server speaks plain HTTP, "
                              "so every probe would fail")
    assert "host" not in http, (f"{probe}.httpGet.host is {http['host']!r}: the kubelet would probe that "
                                "address (the node itself for 127.0.0.1), not the pod; leave host out")


def _invalid_labels(where, labels):
    """The labels (a map of key to value) the API server rejects, as "where.key=value" strings."""
    bad = []
    for key, value in (labels.items() if isinstance(labels, dict) else []):
        prefix, _, name = str(key).rpartition("/")
        key_ok = LABEL_NAME.fullmatch(name) and (not prefix or DNS_SUBDOMAIN.fullmatch(prefix))
        value_ok = isinstance(value, str) and (value == "" or LABEL_NAME.fullmatch(value))
        if not (key_ok and value_ok):
            bad.append(f"{where}.{key}={value!r}")
    return bad


def _effective_request(container, name):
    """What the scheduler reserves of `name` for a container: its request, else its limit (Kubernetes copies it)."""
    resources = container.get("resources") if isinstance(container.get("resources"), dict) else {}
    requests, limits = (resources.get(k) if isinstance(resources.get(k), dict) else {} for k in ("requests", "limits"))
    return requests.get(name, limits.get(name))


def _fits_a_kind_node(term):
    """A nodeSelectorTerm (matchExpressions only) that every kind node we may run on satisfies."""
    if not isinstance(term, dict) or term.get("matchFields"):
        return False
    return all(selector_matches({"matchExpressions": term.get("matchExpressions")}, node) for node in KIND_NODES)


class TestDeployment:
    pytestmark = pytest.mark.task(taskno=1)

    def test_holds_one_apps_v1_deployment(self, manifest_report):
        _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)

    def test_passes_the_kubernetes_schema(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        problems = report.problems_of("yaml", "schema")
        assert not problems, "the Deployment should match the Kubernetes 1.32 schema:\n" + explain(problems)

    def test_selector_matches_the_pod_template_labels(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        problems = report.problems_of("selector")
        assert not problems, "spec.selector should select the pods the template makes:\n" + explain(problems)

    def test_selector_leaves_out_the_release_version(self, manifest_report):
        selector = (_deployment_doc(manifest_report(DEPLOYMENT)).get("spec") or {}).get("selector") or {}
        keys = list((selector.get("matchLabels") or {}) if isinstance(selector.get("matchLabels"), dict) else [])
        keys += [e.get("key") for e in selector.get("matchExpressions") or [] if isinstance(e, dict)]
        moving = _release_keys(keys)
        assert not moving, \
            (f"spec.selector uses {moving}, a label that changes with every release (its key names a version, "
             "revision, commit or a build\'s stamp): the API server never lets a Deployment's selector change, so the next release "
             "could not be applied; select on the app's name and keep the version on the pod template only")
        pairs = list((selector.get("matchLabels") or {}).items() if isinstance(selector.get("matchLabels"), dict)
                     else [])
        pairs += [(e.get("key"), v) for e in selector.get("matchExpressions") or [] if isinstance(e, dict)
                  for v in (e.get("values") if isinstance(e.get("values"), list) else [])]
        versioned = _versioned_values(pairs, manifest_report(DEPLOYMENT))
        assert not versioned, \
            (f"spec.selector selects on {versioned}, a version (or a name ending in one, as Helm's chart label "
             "model-server-1.4.2, a bare counter, date or timestamp such as release: \"42\", or the image's tag) "
             "that changes with every "
             "release: the API server never lets a Deployment's selector change, so the next release could not "
             "be applied; select on the app's name and keep the version on the pod template only")

    def test_runs_at_least_two_replicas(self, manifest_report):
        deployment = _only(manifest_report(DEPLOYMENT), "Deployment", "apps/v1", DEPLOYMENT)
        replicas = deployment.doc.get("spec", {}).get("replicas", 1)
        assert isinstance(replicas, int) and replicas >= 2, \
            f"spec.replicas is {replicas}: with one pod, every restart or node drain is an outage"

    def test_container_listens_on_the_contract_port(self, manifest_report):
        declared = [p for p in _container(manifest_report(DEPLOYMENT)).get("ports") or [] if isinstance(p, dict)]
        ports = [p.get("containerPort") for p in declared]
        assert CONTRACT_PORT in ports, f"the container should declare containerPort {CONTRACT_PORT} (day 03), not {ports}"
        protocols = [p.get("protocol", "TCP") for p in declared if p.get("containerPort") == CONTRACT_PORT]
        assert "TCP" in protocols, \
            (f"containerPort {CONTRACT_PORT} is declared as {protocols}: HTTP runs over TCP, and a Service "
             "finds a named port only under its own protocol (TCP); leave protocol out or write TCP")

    def test_claims_no_port_of_the_node(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        for where, container in _pod_containers(report):
            declared = [p for p in container.get("ports") or [] if isinstance(p, dict)]
            claimed = [p["hostPort"] for p in declared if p.get("hostPort")]
            assert not claimed, \
                (f"{where} claims hostPort {claimed}: only one pod per node can hold a node port, so on the "
                 "tests' one-node cluster the second replica never starts (a sidecar's port counts as much as "
                 "the server's, and the Pod Security Standards' baseline forbids host ports); leave hostPort out")
        host_network = _pod_spec(manifest_report(DEPLOYMENT)).get("hostNetwork")
        assert host_network is not True, \
            ("the pod sets hostNetwork: true, so every container port is a port of the node: on the tests' "
             "one-node cluster the second replica cannot bind 8000 and never starts; leave hostNetwork out")

    def test_replicas_can_share_one_node(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        labels = ((_deployment_doc(report).get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
        blockers = one_node_blockers(_pod_spec(report), labels if isinstance(labels, dict) else {})
        assert not blockers, blockers[0]

    def test_pods_fit_the_tests_node(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        node_name = _pod_spec(report).get("nodeName")
        assert not node_name, \
            (f"the pod template sets nodeName {node_name!r}: that bypasses the scheduler and binds every pod to "
             "a node of that name, which the tests' kind cluster has not got; leave nodeName out")
        scheduler = _pod_spec(report).get("schedulerName")
        assert scheduler in DEFAULT_SCHEDULERS, \
            (f"the pod template asks for the scheduler {scheduler!r}: none runs on the tests' kind cluster, so "
             "every pod stays Pending; leave schedulerName out (default-scheduler)")
        labels = (((_deployment_doc(report).get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "labels")
        labels = labels if isinstance(labels, dict) else {}
        affinity = (_pod_spec(report).get("affinity") or {}).get("podAffinity") or {}
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        for i, term in enumerate(t for t in required if isinstance(t, dict)):
            selector = term.get("labelSelector")
            own = selects_every_pod(selector) or selector_matches(selector, labels)
            key = term.get("topologyKey")
            assert own and (key == "kubernetes.io/hostname" or all(key in node for node in KIND_NODES)), \
                (f"podAffinity.requiredDuringSchedulingIgnoredDuringExecution[{i}] requires pods matching "
                 f"{selector} in the same {key!r} domain: these files run no such pod (or the "
                 "kind node lacks that label), so not one replica is ever scheduled; use "
                 "preferredDuringSchedulingIgnoredDuringExecution")
        selector = _pod_spec(report).get("nodeSelector")
        selector = selector if isinstance(selector, dict) else {}
        foreign = {k: v for k, v in selector.items() if any(node.get(k) != v for node in KIND_NODES)}
        assert not foreign, \
            (f"nodeSelector {foreign} keeps the pods off the tests' kind node (Linux on your machine's "
             "architecture, amd64 or arm64, kind's control-plane node with no custom labels): they stay Pending; "
             "leave it out or keep "
             "kubernetes.io/os: linux only")
        node_affinity = (_pod_spec(report).get("affinity") or {}).get("nodeAffinity") or {}
        required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        if isinstance(required, dict):
            terms = required.get("nodeSelectorTerms") or []
            assert any(_fits_a_kind_node(t) for t in terms), \
                (f"nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution {terms} matches no kind node "
                 "(Linux, amd64 or arm64, kind's control-plane node, labelled node-role.kubernetes.io/control-plane, "
                 "with no custom labels): the pods stay Pending; use a preferred node "
                 "affinity instead")
        _container(report)
        for where, container in _pod_containers(report):
            resources = container.get("resources") or {}
            extra = sorted({str(name) for values in (resources.get("requests"), resources.get("limits"))
                            if isinstance(values, dict) for name in values} - NODE_RESOURCES)
            assert not extra, \
                (f"{where} asks for {extra}: the tests' kind node has only cpu, memory and ephemeral-storage "
                 "(no GPU), so no pod would ever be scheduled")

    def test_names_are_ones_the_api_server_accepts(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        name = _deployment_doc(report).get("metadata", {}).get("name")
        assert isinstance(name, str) and DNS_SUBDOMAIN.fullmatch(name), \
            (f"the Deployment's metadata.name {name!r} should be lowercase letters, digits, '-' and '.' "
             "(model-server, not model_server): the API server rejects it")
        container = _container(report)
        for where, c in _pod_containers(report):
            assert isinstance(c.get("name"), str) and DNS_LABEL.fullmatch(c["name"]), \
                (f"{where}'s name {c.get('name')!r} should be at most 63 lowercase letters, digits and '-' "
                 "(model-server, not model_server): the API server rejects it")
        container_names = [c.get("name") for _, c in _pod_containers(report)]
        shared = sorted({str(n) for n in container_names if container_names.count(n) > 1})
        assert not shared, \
            (f"two containers of the pod (init containers included) are both named {shared}: every container "
             "needs a name of its own, and the API server rejects the Deployment; rename the copy")
        for where, c in _pod_containers(report):
            names = [p["name"] for p in c.get("ports") or [] if isinstance(p, dict) and "name" in p]
            shown = "the container" if c is container else where
            for name in names:
                assert _valid_port_name(name), \
                    (f"{shown}'s port name {name!r} should be 1-15 lowercase letters, digits and '-', with at "
                     "least one letter (http, not model-server-http; a sidecar's port too): the API server rejects "
                     "the Deployment")
            repeated = sorted({str(n) for n in names if names.count(n) > 1})
            assert not repeated, \
                (f"{shown}'s ports share the name(s) {repeated}: each port needs a name of its own (a probe "
                 "or targetPort by name must reach one port), and the API server rejects the duplicate")
        for i, volume in enumerate(v for v in _pod_spec(report).get("volumes") or [] if isinstance(v, dict)):
            assert isinstance(volume.get("name"), str) and DNS_LABEL.fullmatch(volume["name"]), \
                (f"volumes[{i}]'s name {volume.get('name')!r} should be at most 63 lowercase letters, digits and '-' "
                 "(tmp-dir, not tmp_dir): the API server rejects the Deployment")
        namespace = _deployment_doc(report).get("metadata", {}).get("namespace")
        assert namespace is None or (isinstance(namespace, str) and DNS_LABEL.fullmatch(namespace)), \
            (f"the Deployment's metadata.namespace {namespace!r} should be at most 63 lowercase letters, digits "
             "and '-' (ml-serving, not ml_serving): no such namespace can exist")

    def test_labels_are_ones_the_api_server_accepts(self, manifest_report):
        doc = _deployment_doc(manifest_report(DEPLOYMENT))
        spec = doc.get("spec") or {}
        selector = spec.get("selector") or {}
        expressions = [e for e in selector.get("matchExpressions") or [] if isinstance(e, dict)]
        bad = (_invalid_labels("metadata.labels", (doc.get("metadata") or {}).get("labels"))
               + _invalid_labels("spec.template.metadata.labels",
                                 ((spec.get("template") or {}).get("metadata") or {}).get("labels"))
               + _invalid_labels("spec.selector.matchLabels", selector.get("matchLabels"))
               + _invalid_labels("spec.selector.matchExpressions",
                                 {e.get("key"): v for e in expressions for v in e.get("values") or [""]}))
        assert not bad, \
            (f"these labels are ones the API server rejects: {bad}; a value is at most 63 letters, digits, '-', "
             "'_' and '.', starting and ending with a letter or digit (no '@', '/', ':' or spaces)")

    def test_readiness_probe_gets_ready_on_the_container_port(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        problems = [p for p in report.problems_of("probe") if ".readinessProbe" in p.field]
        assert not problems, ("the readiness probe should GET /ready on the container port, so a pod gets "
                              "traffic only once its model is loaded:\n" + explain(problems))
        _assert_probe_on_the_contract_port(_container(report), "readinessProbe")
        _assert_plain_http_to_the_pod(_container(report), "readinessProbe")

    def test_liveness_probe_gets_health_on_the_container_port(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        problems = [p for p in report.problems_of("probe") if ".livenessProbe" in p.field]
        assert not problems, ("the liveness probe should GET /health on the container port, so a hung "
                              "process is restarted (but a loading model is not):\n" + explain(problems))
        _assert_probe_on_the_contract_port(_container(report), "livenessProbe")
        _assert_plain_http_to_the_pod(_container(report), "livenessProbe")

    def test_probes_are_ones_the_api_server_accepts(self, manifest_report):
        container = _container(manifest_report(DEPLOYMENT))
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            spec = container.get(probe)
            if not isinstance(spec, dict):
                continue
            handlers = [h for h in PROBE_HANDLERS if h in spec]
            assert len(handlers) <= 1, \
                f"{probe} has {len(handlers)} handlers {handlers}: a probe may have only one, the API server rejects it"
            if probe != "readinessProbe":
                success = spec.get("successThreshold", 1)
                assert success == 1 and not isinstance(success, bool), \
                    (f"{probe}.successThreshold is {success!r}: for a liveness or startup probe it must be 1 "
                     "(one success already proves the process is up); the API server rejects any other")

    def test_startup_probe_if_any_reaches_the_server(self, manifest_report):
        container = _container(manifest_report(DEPLOYMENT))
        spec = container.get("startupProbe")
        if not isinstance(spec, dict):
            return  # a startup probe is optional
        assert "tcpSocket" in spec or "httpGet" in spec, \
            (f"startupProbe has no httpGet or tcpSocket (its fields: {sorted(spec)}): the README allows an httpGet "
             "of /health (or /ready) or a tcpSocket; an exec of a command such as curl may not even exist in the "
             "image, and until the probe succeeds the kubelet keeps killing the container")
        if "tcpSocket" in spec:
            tcp = spec.get("tcpSocket") or {}
            reached = _port_number(container, tcp.get("port"))
            assert reached == CONTRACT_PORT, \
                (f"startupProbe.tcpSocket.port is {tcp.get('port')!r}, which reaches {_which(reached)}: until it "
                 f"succeeds the container is restarted, so it should check {CONTRACT_PORT} or that port's name")
            assert "host" not in tcp, \
                (f"startupProbe.tcpSocket.host is {tcp['host']!r}: the kubelet would dial that address (with "
                 "127.0.0.1 its own node), not your pod, and kill every container before it starts")
            return
        path = (spec.get("httpGet") or {}).get("path")
        assert path in ("/health", "/ready"), \
            (f"startupProbe.httpGet.path is {path!r}: the day-03 server answers /health (and /ready), anything "
             "else is a 404, so the kubelet kills every container before it has started")
        _assert_probe_on_the_contract_port(container, "startupProbe")
        _assert_plain_http_to_the_pod(container, "startupProbe")

    def test_gives_the_server_time_to_start(self, manifest_report):
        container = _container(manifest_report(DEPLOYMENT))
        startup = container.get("startupProbe")
        probe = "startupProbe" if isinstance(startup, dict) else "livenessProbe"
        allowed = startup_allowance(container.get(probe))
        assert allowed is not None and allowed >= MIN_START_S, \
            (f"{probe} restarts the container {allowed} s after it starts if the server is not answering yet "
             f"(initialDelaySeconds + failureThreshold x periodSeconds): the day-03 server needs several seconds "
             f"to load, more on a busy machine, so allow at least {MIN_START_S} s or it is killed before it is up")
        if isinstance(startup, dict) and "tcpSocket" in startup:
            allowed = startup_allowance(container.get("livenessProbe"))
            assert allowed is not None and allowed >= MIN_START_S, \
                (f"the startupProbe is a tcpSocket check, which passes as soon as gunicorn opens port {CONTRACT_PORT}, "
                 "before its worker has loaded the libraries and the model; the livenessProbe then restarts the "
                 f"container {allowed} s later if /health is not answering yet, so it too should allow at least "
                 f"{MIN_START_S} s (initialDelaySeconds + failureThreshold x periodSeconds), or use an httpGet "
                 "startupProbe of /health")

    def test_runs_the_image_as_built(self, manifest_report):
        problem = overridden_entry_point(_container(manifest_report(DEPLOYMENT)), "the container")
        assert problem is None, problem

    def test_mounts_nothing_over_the_images_files(self, manifest_report):
        container = _container(manifest_report(DEPLOYMENT))
        hidden = []
        for m in container.get("volumeMounts") or []:
            mount_path = str(m.get("mountPath", "")) if isinstance(m, dict) else ""
            if not mount_path.startswith("/"):
                continue  # the schema test reports a malformed mount
            # /app/. and /app/../app are /app: "" for the root itself, which lies above everything
            path = posixpath.normpath(mount_path).lstrip("/")
            path = "/" + path if path else ""
            over = [d for d in IMAGE_DIRS if d == path or d.startswith(path + "/")]
            inside = [d for d in IMAGE_LIBRARIES if path.startswith(d + "/")]
            over += [f for f in IMAGE_FILES if f == path]
            if over or inside:
                hidden.append(mount_path)
        assert not hidden, \
            (f"the container mounts volumes at {hidden}, over the day-03 image's own files (the server and its "
             "model in /app, its libraries in /opt/venv, Python in /usr/local): the volume hides them, gunicorn "
             "cannot start the server and no pod is ever ready; mount scratch space at /tmp or a path of its own "
             "such as /cache")

    def test_readiness_depends_on_the_probes_alone(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        gates = _pod_spec(report).get("readinessGates")
        assert not gates, \
            (f"the pod template sets readinessGates {gates}: a pod is then ready only once something sets those "
             "conditions, and nothing in the tests' cluster does, so no pod is ever ready and the Service never "
             "gets an endpoint; leave readinessGates out and let the readiness probe decide")

    def test_runs_no_post_start_hook(self, manifest_report):
        container = _container(manifest_report(DEPLOYMENT))
        lifecycle = container.get("lifecycle") if isinstance(container.get("lifecycle"), dict) else {}
        hook = lifecycle.get("postStart")
        assert not hook, \
            (f"the container has a postStart hook {hook}: it runs while the server is still starting (often "
             "with a command such as curl the image has not got), and when it fails the kubelet kills the "
             "container, on every start; leave postStart out (the readiness probe tells when the server is up)")

    def test_keeps_the_model_the_image_carries(self, manifest_report):
        problem = own_model_path(_container(manifest_report(DEPLOYMENT)), "the container")
        assert problem is None, problem

    def test_needs_no_object_the_files_do_not_create(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        pod = _pod_spec(report)
        _container(report)
        account = pod.get("serviceAccountName", pod.get("serviceAccount"))
        assert account in SYSTEM_ACCOUNTS, \
            (f"the pod runs as service account {account!r}, which these files do not create: the ReplicaSet "
             "cannot create a single pod; leave serviceAccountName out (the namespace's default account)")
        assert "priorityClassName" not in pod, \
            (f"the pod asks for priorityClassName {pod['priorityClassName']!r}, which these files do not "
             "create: the API server refuses every pod; leave it out")
        assert pod.get("runtimeClassName") is None, \
            (f"the pod asks for runtimeClassName {pod['runtimeClassName']!r}, a RuntimeClass these files do not "
             "create (and the tests' kind node has no such runtime): the API server refuses every pod; leave "
             "it out")
        needed = []
        containers = [c for _, c in _pod_containers(report)]
        for e in [e for c in containers for e in c.get("envFrom") or []]:
            for kind in ("configMapRef", "secretRef"):
                ref = (e.get(kind) if isinstance(e, dict) else None) or {}
                if ref and not ref.get("optional"):
                    needed.append(f"envFrom {kind} {ref.get('name')!r}")
        for e in [e for c in containers for e in c.get("env") or []]:
            source = ((e.get("valueFrom") if isinstance(e, dict) else None) or {})
            for kind in ("configMapKeyRef", "secretKeyRef"):
                ref = source.get(kind) or {}
                if ref and not ref.get("optional"):
                    needed.append(f"env {e.get('name')} from {kind} {ref.get('name')!r}")
        volumes = [v for v in pod.get("volumes") or [] if isinstance(v, dict)]
        for v in volumes:
            for kind in ("configMap", "secret"):
                ref = v.get(kind)
                if isinstance(ref, dict) and not ref.get("optional"):
                    needed.append(f"volume {v.get('name')} from {kind} {ref.get('name', ref.get('secretName'))!r}")
            sources = (v.get("projected") or {}).get("sources") if isinstance(v.get("projected"), dict) else None
            for source in sources if isinstance(sources, list) else []:
                for kind in ("configMap", "secret"):
                    ref = source.get(kind) if isinstance(source, dict) else None
                    if isinstance(ref, dict) and not ref.get("optional"):
                        needed.append(f"volume {v.get('name')} projecting {kind} {ref.get('name')!r}")
            if "persistentVolumeClaim" in v:
                needed.append(f"volume {v.get('name')} from a persistentVolumeClaim")
        assert not needed, \
            (f"the pod needs objects these files do not create: {needed}; the tests apply only the Deployment "
             "and the Service, so the container never starts (mark a ConfigMap or Secret optional: true, or "
             "leave it out)")
        outside = []
        for v in volumes:
            outside += [f"{v.get('name')} ({source})" for source in v
                        if source != "name" and source not in IN_CLUSTER_VOLUMES]
            claim = v.get("ephemeral") if isinstance(v.get("ephemeral"), dict) else {}
            claim = claim.get("volumeClaimTemplate") if isinstance(claim.get("volumeClaimTemplate"), dict) else {}
            claim = claim.get("spec") if isinstance(claim.get("spec"), dict) else {}
            if claim.get("storageClassName") not in KIND_STORAGE_CLASSES:
                outside.append(f"{v.get('name')} (ephemeral, storageClassName {claim['storageClassName']!r})")
        assert not outside, \
            (f"the pod's volumes {outside} need storage from outside the cluster or a StorageClass the tests' kind "
             "node has not got (an NFS or iSCSI server, a CSI driver, a cloud disk): the kubelet cannot mount them, "
             "so no pod ever starts; use an emptyDir for scratch space (or an ephemeral volume with "
             "storageClassName left out)")
        declared = {v.get("name") for v in volumes}
        mounts = [m.get("name") for c in containers for m in c.get("volumeMounts") or [] if isinstance(m, dict)]
        undeclared = [m for m in mounts if m not in declared]
        assert not undeclared, \
            (f"volumeMounts name {undeclared}, which are not volumes of the pod: the API server rejects the "
             "Deployment; declare each under spec.template.spec.volumes")

    def test_runs_as_the_images_unprivileged_user(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        contexts = [("the pod's", _pod_spec(report).get("securityContext"))]
        contexts += [(f"{where}'s", c.get("securityContext")) for where, c in _pod_containers(report)]
        for where, context in contexts:
            context = context if isinstance(context, dict) else {}
            user = context.get("runAsUser")
            assert not (user == 0 and not isinstance(user, bool)), \
                (f"{where} securityContext sets runAsUser: 0: the day-03 image runs as an unprivileged user, "
                 "and root in a container is one kernel bug away from root on the node; leave runAsUser out")
            assert context.get("privileged") is not True, \
                (f"{where} securityContext sets privileged: true, which hands the container the node's "
                 "devices and kernel; the model server needs none of that, leave it out")
        for where, container in _pod_containers(report):
            context = container.get("securityContext")
            capabilities = context.get("capabilities") if isinstance(context, dict) else None
            added = capabilities.get("add") if isinstance(capabilities, dict) else None
            extra = sorted({str(c) for c in added if str(c).upper().removeprefix("CAP_") not in BASELINE_CAPABILITIES}
                           if isinstance(added, list) else [])
            assert not extra, \
                (f"{where} adds the capabilities {extra}: they hand it the node's kernel much as privileged: "
                 "true does (the Pod Security Standards' baseline forbids them), and a server on port 8000 needs "
                 "none; leave capabilities.add out")
        shared = [key for key in ("hostPID", "hostIPC") if _pod_spec(report).get(key) is True]
        assert not shared, \
            (f"the pod sets {shared}: it would see (and could signal) the node's processes or shared memory, "
             "which the Pod Security Standards' baseline forbids and the model server never needs; leave it out")

    def test_stays_within_the_baseline_pod_security_standard(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        pod = _pod_spec(report)
        host_paths = [v.get("name") for v in pod.get("volumes") or [] if isinstance(v, dict) and "hostPath" in v]
        assert not host_paths, \
            (f"the pod mounts the node's own files through hostPath volumes {host_paths}: the Pod Security "
             "Standards' baseline forbids it (a container could read or change the node); use an emptyDir")
        pod_context = pod.get("securityContext") if isinstance(pod.get("securityContext"), dict) else {}
        sysctls = [s.get("name") for s in pod_context.get("sysctls") or [] if isinstance(s, dict)]
        unsafe = [n for n in sysctls if str(n).replace("/", ".") not in SAFE_SYSCTLS]
        assert not unsafe, \
            (f"the pod sets the unsafe sysctls {unsafe}: the kubelet refuses such a pod (SysctlForbidden) and the "
             "Pod Security Standards' baseline forbids them; leave sysctls out")
        contexts = [("the pod's", pod_context)]
        contexts += [(f"{where}'s", c.get("securityContext")) for where, c in _pod_containers(report)]
        for where, context in contexts:
            context = context if isinstance(context, dict) else {}
            selinux = context.get("seLinuxOptions") if isinstance(context.get("seLinuxOptions"), dict) else {}
            assert selinux.get("type", "") in BASELINE_SELINUX_TYPES, \
                (f"{where} securityContext sets seLinuxOptions type {selinux.get('type')!r}: the Pod Security "
                 "Standards' baseline allows only the runtime's own types (container_t and its kin), and a type "
                 "such as spc_t runs the container unconfined; leave seLinuxOptions out")
            custom = sorted(k for k in ("user", "role") if selinux.get(k))
            assert not custom, \
                (f"{where} securityContext sets seLinuxOptions {custom}: the Pod Security Standards' baseline "
                 "forbids a custom SELinux user or role; leave them out")
            for profile in ("seccompProfile", "appArmorProfile"):
                kind = (context.get(profile) or {}).get("type") if isinstance(context.get(profile), dict) else None
                assert kind != "Unconfined", \
                    (f"{where} securityContext sets {profile} type Unconfined: the container may then make any "
                     "system call the node's kernel offers, which the Pod Security Standards' baseline forbids; "
                     "leave it out (RuntimeDefault)")
                assert kind != "Localhost", \
                    (f"{where} securityContext sets {profile} type Localhost "
                     f"({context[profile].get('localhostProfile')!r}): that is a profile file on the node, which "
                     "the tests' kind node has not got, so the container never starts; use RuntimeDefault or leave "
                     "the profile out")
            assert context.get("procMount", "Default") == "Default", \
                (f"{where} securityContext sets procMount {context.get('procMount')!r}: an unmasked /proc shows the "
                 "container the node's kernel settings, which the Pod Security Standards' baseline forbids; leave "
                 "procMount out")
        annotations = (((_deployment_doc(report).get("spec") or {}).get("template") or {}).get("metadata")
                       or {}).get("annotations") or {}
        unconfined = sorted(k for k, v in (annotations.items() if isinstance(annotations, dict) else [])
                            if str(k).startswith("container.apparmor.security.beta.kubernetes.io/")
                            and (v == "unconfined" or str(v).startswith("localhost/")))
        assert not unconfined, \
            (f"the pod template's annotations {unconfined} switch AppArmor off, which the Pod Security "
             "Standards' baseline forbids, or ask for a localhost/ profile the tests' kind node has not got, so "
             "the container never starts; leave them out")

    def test_read_only_root_keeps_a_writable_tmp(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        container = _container(report)
        context = container.get("securityContext") if isinstance(container.get("securityContext"), dict) else {}
        if context.get("readOnlyRootFilesystem") is not True:
            return  # the image's own /tmp is writable
        env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
        candidates = {str(env[k]).rstrip("/") for k in ("TMPDIR", "TEMP", "TMP") if env.get(k)} | set(TEMP_DIRS)
        volumes = {v.get("name"): v for v in _pod_spec(report).get("volumes") or [] if isinstance(v, dict)}
        writable = [m.get("mountPath") for m in container.get("volumeMounts") or [] if isinstance(m, dict)
                    and not m.get("readOnly") and str(m.get("mountPath", "")).rstrip("/") in candidates
                    and not any(kind in volumes.get(m.get("name"), {}) for kind in READ_ONLY_VOLUMES)]
        assert writable, \
            ("the container sets readOnlyRootFilesystem: true but mounts no writable volume at /tmp: the day-03 "
             "image's gunicorn needs a temporary directory, finds none and exits, so no pod is ever ready; mount "
             "an emptyDir at /tmp")

    def test_restart_policy_is_always(self, manifest_report):
        pod = _pod_spec(manifest_report(DEPLOYMENT))
        policy = pod.get("restartPolicy", "Always")
        assert policy == "Always", \
            (f"the pod template's restartPolicy is {policy!r}: a Deployment's pods must always be restarted, "
             "the API server rejects any other value; leave restartPolicy out")
        for i, init in enumerate(c for c in pod.get("initContainers") or [] if isinstance(c, dict)):
            policy = init.get("restartPolicy", "Always")
            assert policy == "Always", \
                (f"initContainers[{i}].restartPolicy is {policy!r}: an init container takes only Always (which "
                 "makes it a sidecar), and the API server rejects any other value; leave it out for a step that "
                 "runs once")
        for i, container in enumerate(c for c in pod.get("containers") or [] if isinstance(c, dict)):
            assert "restartPolicy" not in container, \
                (f"containers[{i}] sets restartPolicy {container['restartPolicy']!r}: the API server rejects a "
                 "restartPolicy on a container of containers (it may not be set for non-init containers); the "
                 "pod's restartPolicy belongs to the pod template's spec, and Always is its default")

    def test_pods_have_no_deadline(self, manifest_report):
        deadline = _pod_spec(manifest_report(DEPLOYMENT)).get("activeDeadlineSeconds")
        assert deadline is None, \
            (f"the pod template sets activeDeadlineSeconds {deadline!r}: a Deployment's pods serve until they are "
             "replaced, and the API server rejects the Deployment (activeDeadlineSeconds in ReplicaSet is not "
             "Supported); leave it out")

    def test_recreate_strategy_sets_no_rolling_update(self, manifest_report):
        strategy = (_deployment_doc(manifest_report(DEPLOYMENT)).get("spec") or {}).get("strategy") or {}
        assert not (strategy.get("type") == "Recreate" and "rollingUpdate" in strategy), \
            ("strategy.type is Recreate but strategy.rollingUpdate is set: the API server rejects rollingUpdate "
             "unless the type is RollingUpdate; drop rollingUpdate or keep type RollingUpdate")

    def test_rolling_update_can_make_progress(self, manifest_report):
        strategy = (_deployment_doc(manifest_report(DEPLOYMENT)).get("spec") or {}).get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        surge, unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")

        def zero(value):  # 0, "0%" and "00%" alike: the API server reads each as no pods
            return (value == 0 and not isinstance(value, bool)) or (isinstance(value, str)
                                                                    and re.fullmatch(r"0+%", value) is not None)
        assert not (zero(surge) and zero(unavailable)), \
            ("strategy.rollingUpdate has maxSurge 0 and maxUnavailable 0: a rollout could neither add a new pod "
             "nor remove an old one, and the API server rejects it; keep maxSurge at 1 with maxUnavailable 0")

    def test_rolling_update_counts_pods_or_percentages(self, manifest_report):
        strategy = (_deployment_doc(manifest_report(DEPLOYMENT)).get("spec") or {}).get("strategy") or {}
        rolling = strategy.get("rollingUpdate") or {}
        for key in ("maxSurge", "maxUnavailable"):
            if key not in rolling:
                continue
            value = rolling[key]
            count = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            percent = isinstance(value, str) and re.fullmatch(r"[0-9]+%", value) is not None
            assert count or percent, \
                (f"strategy.rollingUpdate.{key} is {value!r}: it should be a whole number of pods (1) or a "
                 "percentage (25%); a quoted number is neither, and the API server rejects it")
            if key == "maxUnavailable" and percent:
                assert int(value[:-1]) <= 100, \
                    (f"strategy.rollingUpdate.maxUnavailable is {value!r}: no more than every pod (100%) can be "
                     "unavailable, and the API server rejects a larger percentage")

    def test_progress_deadline_is_above_min_ready(self, manifest_report):
        spec = _deployment_doc(manifest_report(DEPLOYMENT)).get("spec") or {}
        deadline = spec.get("progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_S)
        min_ready = spec.get("minReadySeconds", 0)
        if not isinstance(deadline, int) or not isinstance(min_ready, int):
            return  # a type the schema test reports
        shown = deadline if "progressDeadlineSeconds" in spec else f"left out, so {deadline} (the default)"
        assert deadline > min_ready, \
            (f"spec.progressDeadlineSeconds is {shown}, not above minReadySeconds {min_ready}: a rollout "
             "could never count as progressing, and the API server rejects it; set a deadline above minReadySeconds, "
             "or lower minReadySeconds")

    def test_is_not_created_paused(self, manifest_report):
        paused = (_deployment_doc(manifest_report(DEPLOYMENT)).get("spec") or {}).get("paused")
        assert paused is not True, \
            ("spec.paused is true: a Deployment created paused never creates its ReplicaSet, so not one pod "
             "starts until someone runs `kubectl rollout resume`; leave paused out")

    def test_keeps_a_rollout_history_to_roll_back_to(self, manifest_report):
        history = (_deployment_doc(manifest_report(DEPLOYMENT)).get("spec") or {}).get("revisionHistoryLimit", 10)
        assert not (isinstance(history, int) and history < 1), \
            (f"spec.revisionHistoryLimit is {history}: the old ReplicaSets are deleted after each rollout, so "
             "`kubectl rollout undo` has no earlier build to return to; keep at least 1 (the default is 10)")

    def test_requests_are_set_and_no_higher_than_limits(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        container = _container(report)
        problems = report.problems_of("resources")
        assert not problems, "resources should request CPU and memory within the limits:\n" + explain(problems)
        limits = (container.get("resources") or {}).get("limits") or {}
        assert "memory" in limits, ("resources.limits.memory should be set: a leaking server is then "
                                    "OOM-killed and restarted instead of starving its neighbours")

    def test_resources_are_in_real_units(self, manifest_report):
        resources = _container(manifest_report(DEPLOYMENT)).get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        cpu = quantity(requests.get("cpu"))
        assert cpu is not None and 0 < cpu <= MAX_CPU_REQUEST, \
            (f"requests.cpu is {requests.get('cpu')!r}: above 0 (a zero request reserves nothing) and at most "
             "one core per container (CPU counts cores, so 100m is a tenth of one and a bare 100 is a hundred cores, "
             "which no node has)")
        if "cpu" in limits:
            cpu_limit = quantity(limits.get("cpu"))
            assert cpu_limit is not None and cpu_limit <= MAX_CPU_REQUEST, \
                (f"limits.cpu is {limits.get('cpu')!r}: at most one core per container (CPU counts cores, so a bare "
                 "500 is five hundred cores, not 500m)")
        for where, values in (("requests", requests), ("limits", limits)):
            memory = quantity(values.get("memory"))
            assert memory is not None and memory >= MIN_MEMORY, \
                (f"{where}.memory is {values.get('memory')!r}: memory counts bytes, so give it a unit "
                 "(256Mi); under 16Mi the server cannot even start")
            for name, value in values.items():
                assert quantity(value) is not None, \
                    (f"{where}.{name} is {value!r}, which is not a Kubernetes quantity (such as 500m, 1, "
                     "256Mi): the API server rejects the Deployment")
        for where, values in (("requests", requests), ("limits", limits)):
            if "ephemeral-storage" in values:
                storage = quantity(values["ephemeral-storage"])
                assert storage is not None and storage >= MIN_MEMORY, \
                    (f"{where}.ephemeral-storage is {values['ephemeral-storage']!r}: storage counts bytes, as "
                     "memory does, so give it a unit (1Gi); under 16Mi the pod is evicted at its first log lines")
        assert quantity(limits.get("memory")) >= MIN_MEMORY_LIMIT, \
            (f"limits.memory is {limits.get('memory')!r}: the day-03 server with its model uses over 100Mi, so "
             "under a 128Mi limit it is OOM-killed while loading and never becomes ready")

    def test_all_replicas_fit_one_small_node(self, manifest_report):
        doc = _deployment_doc(manifest_report(DEPLOYMENT))
        replicas = (doc.get("spec") or {}).get("replicas", 1)
        report = manifest_report(DEPLOYMENT)
        requests = (_container(report).get("resources") or {}).get("requests") or {}
        if not isinstance(replicas, int) or isinstance(replicas, bool) or not isinstance(requests, dict):
            return  # other tests report a malformed replicas or resources
        inits = [c for c in _pod_spec(report).get("initContainers") or [] if isinstance(c, dict)]
        budgets = (("cpu", NODE_CPU, "one core", "a two-core machine's Kubernetes pods already reserve almost one"),
                   ("memory", NODE_MEMORY, "2Gi", "a small machine has little more to spare"))
        for name, budget, shown, why in budgets:
            main = quantity(requests.get(name))
            if main is None:
                continue  # other tests report a missing or malformed request
            # The scheduler reserves for a pod the larger of what its containers need together (sidecars,
            # i.e. init containers with restartPolicy Always, included) and what any one init container
            # needs while the sidecars started before it run.
            sidecars, peak = 0, 0
            for init in inits:
                wanted = quantity(_effective_request(init, name)) or 0
                if init.get("restartPolicy") == "Always":
                    sidecars += wanted
                else:
                    peak = max(peak, sidecars + wanted)
            each = max(main + sidecars, peak)
            shown_each = repr(requests[name]) if each == main else f"{float(each):g} ({name} with init containers)"
            assert replicas * each <= budget, \
                (f"{replicas} replicas requesting {shown_each} {name} each ask for more than {shown} "
                 f"together: the tests run every replica on one kind node, where {why}, so some replicas "
                 f"would stay Pending for ever; keep replicas x requests.{name} within {shown} (an init "
                 "container's request counts when it is the larger)")

    def test_init_containers_resources_are_in_real_units(self, manifest_report):
        for i, init in enumerate(c for c in _pod_spec(manifest_report(DEPLOYMENT)).get("initContainers") or []
                                 if isinstance(c, dict)):
            resources = init.get("resources") if isinstance(init.get("resources"), dict) else {}
            requests, limits = (resources.get(k) if isinstance(resources.get(k), dict) else {}
                                for k in ("requests", "limits"))
            for where, values in (("requests", requests), ("limits", limits)):
                for name, value in values.items():
                    amount = quantity(value)
                    assert amount is not None, \
                        (f"initContainers[{i}].resources.{where}.{name} is {value!r}, which is not a Kubernetes "
                         "quantity (such as 500m, 1, 64Mi): the API server rejects the Deployment")
                    if name in ("memory", "ephemeral-storage"):
                        assert amount >= MIN_MEMORY, \
                            (f"initContainers[{i}].resources.{where}.{name} is {value!r}: it counts bytes, so give "
                             "it a unit (64Mi); under 16Mi the init container is killed before it has done "
                             "anything, and the server never starts")
                    if name == "cpu":
                        assert amount <= MAX_CPU_REQUEST, \
                            (f"initContainers[{i}].resources.{where}.cpu is {value!r}: at most one core (CPU counts "
                             "cores, so a bare 100 is a hundred cores, not 100m)")
            for name in sorted(set(requests) & set(limits)):
                request, limit = quantity(requests[name]), quantity(limits[name])
                assert request is None or limit is None or request <= limit, \
                    (f"initContainers[{i}] requests {requests[name]!r} {name} but its limit is {limits[name]!r}: a "
                     "request may never exceed its limit, the API server rejects the Deployment")

    def test_cpu_limit_lets_the_server_start(self, manifest_report):
        problem = low_cpu_limit(_container(manifest_report(DEPLOYMENT)), "the container")
        assert problem is None, problem

    def test_image_is_pinned_not_latest(self, manifest_report):
        report = manifest_report(DEPLOYMENT)
        _container(report)
        problems = report.problems_of("image")
        assert not problems, "the image should have a fixed tag or digest:\n" + explain(problems)
        _assert_pinned(_container(report).get("image"), "the image")

    def test_init_containers_images_are_pinned_too(self, manifest_report):
        for i, init in enumerate(c for c in _pod_spec(manifest_report(DEPLOYMENT)).get("initContainers") or []
                                 if isinstance(c, dict)):
            _assert_pinned(init.get("image"), f"initContainers[{i}].image")

    def test_init_containers_images_can_be_pulled(self, manifest_report):
        for i, init in enumerate(c for c in _pod_spec(manifest_report(DEPLOYMENT)).get("initContainers") or []
                                 if isinstance(c, dict)):
            policy = init.get("imagePullPolicy", "IfNotPresent")
            assert policy != "Never", \
                (f"initContainers[{i}].imagePullPolicy is 'Never': the tests load only the server's image into the "
                 "cluster, so this one must be pulled from its registry, and Never fails with ErrImageNeverPull "
                 "before the server starts; use IfNotPresent")

    def test_an_init_container_that_serves_is_a_sidecar(self, manifest_report):
        for i, init in enumerate(c for c in _pod_spec(manifest_report(DEPLOYMENT)).get("initContainers") or []
                                 if isinstance(c, dict)):
            serves = [key for key in ("ports", "readinessProbe", "livenessProbe", "startupProbe") if init.get(key)]
            assert init.get("restartPolicy") == "Always" or not serves, \
                (f"initContainers[{i}] declares {', '.join(serves)} but no restartPolicy: Always: a container that "
                 "serves never finishes, and the server's container starts only once every init container has "
                 "finished, so no pod ever becomes ready (the API server even refuses a probe there); make it a "
                 "sidecar, an init container with restartPolicy: Always")
            assert init.get("restartPolicy") == "Always" or not _runs_a_server_image(init), \
                (f"initContainers[{i}] runs {init.get('image')!r} with no command of its own, so the image's own "
                 "entry point, a server that never finishes (args that are only its options do not change that): "
                 "the server's container starts only once every init container "
                 "has finished, so no pod ever becomes ready; a server in initContainers: make it a native sidecar "
                 "with restartPolicy: Always, or move it to containers")
            server = _server_command(init)
            assert init.get("restartPolicy") == "Always" or server is None, \
                (f"initContainers[{i}] starts {server!r} with its command or args, a server that never finishes: the "
                 "server's container starts only once every init container has finished, so no pod ever becomes "
                 "ready; make it a native sidecar with restartPolicy: Always")

    def test_init_containers_run_to_completion(self, manifest_report):
        for i, init in enumerate(c for c in _pod_spec(manifest_report(DEPLOYMENT)).get("initContainers") or []
                                 if isinstance(c, dict)):
            if init.get("restartPolicy") == "Always":
                continue  # a sidecar: it runs beside the server for the pod's life
            script = " ".join(str(part) for key in ("command", "args") if isinstance(init.get(key), list)
                              for part in init[key])
            forever = _never_ends(script)
            assert forever is None, \
                (f"initContainers[{i}] runs {forever.group(0)!r}, which never ends (a loop ends only by a break or exit "
                 "in its own body, not by the break of a loop nested in it): the server's container starts only "
                 "once every init container has finished, so no pod ever becomes ready; run a helper that lives "
                 "beside the server as a sidecar (an init container with restartPolicy: Always)")
            for sleep, seconds in _sleeps(script):
                assert seconds < LONG_SLEEP_S, \
                    (f"initContainers[{i}] runs {sleep!r}, which waits {seconds / 3600:.3g} hours (an hour "
                     "or more, as the 'sleep forever' idiom does): the server's container starts only once every init "
                     "container has finished, so no pod is ready for that long; run a helper that lives beside the "
                     "server as a sidecar (an init container with restartPolicy: Always)")
            # The pod's own address, by the downward API (status.podIP, or the pod's name, which is its host name),
            # $HOSTNAME or `hostname -i`: `until nc -z $(POD_IP) 8000`.
            own = ["HOSTNAME"] + [str(e.get("name")) for e in init.get("env") or [] if isinstance(e, dict)
                                  and isinstance(e.get("valueFrom"), dict)
                                  and isinstance(e["valueFrom"].get("fieldRef"), dict)
                                  and e["valueFrom"]["fieldRef"].get("fieldPath") in POD_ADDRESS_FIELDS]
            hostname = r"hostname(?:\s+-[iI])?"
            own_address = re.compile(r"(?:\$\(?\{?(?:" + "|".join(map(re.escape, own)) + r")\}?\)?"
                                     rf"|\$\(\s*{hostname}\s*\)|`\s*{hostname}\s*`)(?::|\s+)8000\b")
            waits = OWN_SERVER.search(script) or own_address.search(script)
            assert waits is None, \
                (f"initContainers[{i}] reaches the pod's own server ({waits.group(0)!r}), which starts only once every "
                 "init container has finished: it waits for ever (or fails), and no pod ever becomes ready; warm the "
                 "server up from a sidecar (restartPolicy: Always) or let the readiness probe tell when it is up")

    def test_init_containers_wait_for_no_peer_the_files_do_not_create(self, manifest_report):
        for i, init in enumerate(c for c in _pod_spec(manifest_report(DEPLOYMENT)).get("initContainers") or []
                                 if isinstance(c, dict)):
            if init.get("restartPolicy") == "Always":
                continue  # a sidecar runs beside the server and may wait for anything
            script = " ".join(str(part) for key in ("command", "args") if isinstance(init.get(key), list)
                              for part in init[key])
            waits = _waits_for_a_peer(script)
            assert waits is None, \
                (f"initContainers[{i}] loops on a network probe ({waits.group(0)!r}): it waits for a peer, but the "
                 "tests apply only your two files, which create none an init container could reach (the pod's own "
                 "server and your Service answer only after the init containers finish), so it waits for ever and "
                 "no pod ever starts; leave the wait out (the readiness probe tells when the server is up)")

    def test_pull_policy_lets_a_loaded_image_run(self, manifest_report):
        container = _container(manifest_report(DEPLOYMENT))
        image = str(container.get("image") or "")
        tag = tag_of(image)
        # Kubernetes' default: Always for the tag latest (even before a digest) or no tag nor digest at all.
        default = "Always" if tag == "latest" or (tag is None and "@" not in image) else "IfNotPresent"
        policy = container.get("imagePullPolicy", default)
        shown = repr(policy) if "imagePullPolicy" in container else f"left out, so {policy!r} for {image!r}"
        assert policy == "IfNotPresent", \
            (f"imagePullPolicy {shown}: Always pulls on every start (and fails for an image loaded with kind "
             "load), Never fails on every node that lacks the image; use IfNotPresent (Kubernetes defaults a "
             ":latest tag to Always, even one followed by a digest)")


class TestService:
    pytestmark = pytest.mark.task(taskno=2)

    def test_holds_one_v1_service(self, manifest_report):
        _only(manifest_report(SERVICE), "Service", "v1", SERVICE)

    def test_passes_the_kubernetes_schema(self, manifest_report):
        report = manifest_report(SERVICE)
        _only(report, "Service", "v1", SERVICE)
        problems = report.problems_of("yaml", "schema")
        assert not problems, "the Service should match the Kubernetes 1.32 schema:\n" + explain(problems)

    def test_is_one_the_api_server_accepts(self, manifest_report):
        service = _only(manifest_report(SERVICE), "Service", "v1", SERVICE)
        name = service.doc.get("metadata", {}).get("name")
        assert isinstance(name, str) and DNS_1035_LABEL.fullmatch(name), \
            (f"the Service's metadata.name {name!r} should be at most 63 lowercase letters, digits and '-', "
             "starting with a letter (model-server, not model_server): the API server rejects it")
        ports = [p for p in service.doc.get("spec", {}).get("ports") or [] if isinstance(p, dict)]
        names = [p.get("name") for p in ports]
        if len(ports) > 1:
            assert all(names), \
                (f"the Service has {len(ports)} ports but not every one has a name ({names}): with two or more "
                 "ports each needs a name, or the API server rejects the Service")
            repeated = sorted({str(n) for n in names if names.count(n) > 1})
            assert not repeated, \
                f"the Service's ports share the name(s) {repeated}: each needs a name of its own, the API server rejects it"
            numbers = [(p.get("port"), p.get("protocol", "TCP")) for p in ports]
            reused = sorted({str(n) for n, protocol in numbers if numbers.count((n, protocol)) > 1})
            assert not reused, \
                (f"the Service's ports share the port number(s) {reused}: clients could not tell them apart, and "
                 "the API server rejects the Service; give each port its own number")
        for i, port in enumerate(ports):
            if "name" in port:
                assert isinstance(port["name"], str) and DNS_LABEL.fullmatch(port["name"]), \
                    (f"spec.ports[{i}].name {port['name']!r} should be lowercase letters, digits and '-': "
                     "the API server rejects it")
            if "nodePort" in port:
                assert port["nodePort"] in NODE_PORTS and not isinstance(port["nodePort"], bool), \
                    (f"spec.ports[{i}].nodePort is {port['nodePort']!r}: node ports lie in 30000-32767, the API "
                     "server rejects any other (and ClusterIP, the default, needs none)")
                kind = service.doc.get("spec", {}).get("type", "ClusterIP")
                assert kind == "NodePort", \
                    (f"spec.ports[{i}] sets nodePort {port['nodePort']!r} on a {kind} Service: only a NodePort "
                     "Service may, the API server rejects it; leave nodePort out")
        namespace = service.doc.get("metadata", {}).get("namespace")
        assert namespace is None or (isinstance(namespace, str) and DNS_LABEL.fullmatch(namespace)), \
            (f"the Service's metadata.namespace {namespace!r} should be at most 63 lowercase letters, digits "
             "and '-' (ml-serving, not ml_serving): no such namespace can exist")
        bad = (_invalid_labels("metadata.labels", service.doc.get("metadata", {}).get("labels"))
               + _invalid_labels("spec.selector", service.doc.get("spec", {}).get("selector")))
        assert not bad, \
            (f"these labels are ones the API server rejects: {bad}; a value is at most 63 letters, digits, '-', "
             "'_' and '.', starting and ending with a letter or digit")

    def test_stays_inside_the_cluster(self, manifest_report):
        service = _only(manifest_report(SERVICE), "Service", "v1", SERVICE)
        kind = service.doc.get("spec", {}).get("type", "ClusterIP")
        assert kind in ("ClusterIP", "NodePort"), \
            (f"spec.type is {kind!r}: a LoadBalancer gives a server with no authentication a public address on "
             "a cloud (and waits for ever on kind), an ExternalName forwards to no pod; use ClusterIP")

    def test_sets_no_field_of_another_service_type(self, manifest_report):
        spec = _only(manifest_report(SERVICE), "Service", "v1", SERVICE).doc.get("spec") or {}
        kind = spec.get("type", "ClusterIP")
        if kind != "LoadBalancer":
            unset = {"loadBalancerSourceRanges": [], "healthCheckNodePort": 0}  # what the API server reads as absent
            stray = [f for f in LOAD_BALANCER_FIELDS if spec.get(f) is not None
                     and not (f in unset and spec[f] == unset[f] and not isinstance(spec[f], bool))]
            assert not stray, \
                (f"the {kind} Service sets {stray}, which only a LoadBalancer Service may: the API server rejects "
                 "it; leave them out")
        reached_from_outside = kind in ("NodePort", "LoadBalancer") or bool(spec.get("externalIPs"))
        assert reached_from_outside or spec.get("externalTrafficPolicy") is None, \
            (f"the {kind} Service sets externalTrafficPolicy {spec.get('externalTrafficPolicy')!r}: it only governs "
             "traffic from outside the cluster, and the API server rejects it on a ClusterIP Service (may only be "
             "set for externally-accessible services); leave it out")

    def test_routes_only_to_ready_pods(self, manifest_report):
        service = _only(manifest_report(SERVICE), "Service", "v1", SERVICE)
        publish = service.doc.get("spec", {}).get("publishNotReadyAddresses")
        assert publish is not True, \
            ("spec.publishNotReadyAddresses is true: the Service would send requests to pods whose /ready "
             "still answers 503 (model not loaded), defeating the readiness probe; leave it out")

    def test_keeps_a_cluster_ip(self, manifest_report):
        service = _only(manifest_report(SERVICE), "Service", "v1", SERVICE)
        cluster_ip = service.doc.get("spec", {}).get("clusterIP")
        assert cluster_ip != "None", \
            ("spec.clusterIP is None: a headless Service has no stable address of its own and balances nothing, "
             "its DNS name hands clients the pods' addresses; leave clusterIP out")
        cluster_ips = service.doc.get("spec", {}).get("clusterIPs")
        assert not (isinstance(cluster_ips, list) and "None" in cluster_ips), \
            (f"spec.clusterIPs is {cluster_ips}: None there asks for a headless Service (or, without a matching "
             "clusterIP, one the API server rejects), with no stable address and no load balancing; leave "
             "clusterIPs out")

    def test_selects_the_deployments_pods(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        _only(report, "Service", "v1", SERVICE)
        problems = [p for p in report.problems_of("service") if p.field == "spec.selector"]
        assert not problems, "the Service's selector should match the Deployment's pod labels:\n" + explain(problems)

    def test_init_containers_do_not_wait_for_this_service(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        service = _only(report, "Service", "v1", SERVICE)
        name = re.escape(str(service.name))
        env = re.escape(re.sub(r"[^A-Za-z0-9]", "_", str(service.name)).upper())
        # The Service as an init container would reach it: a URL (http://model-server/ready), host:port
        # (model-server:80, model-server.default:80), host/path (model-server.default/ready), a cluster DNS name
        # (model-server.default.svc), `nc -z model-server 80`, or the variables Kubernetes sets for it
        # ($MODEL_SERVER_SERVICE_HOST, $MODEL_SERVER_PORT_80_TCP_ADDR).
        reaches = re.compile(rf"://{name}(?=[/:.?\s'\"]|$)"
                             rf"|(?<![\w./-]){name}(?:\.[a-z0-9-]+)*(?::[0-9]|/[\w?]|\.svc\b)"
                             rf"|\bnc\b[^;|&]*\s{name}(?:\.[a-z0-9-]+)*\s+[0-9]"
                             rf"|\b{env}_(?:SERVICE_HOST|PORT_[0-9]+_TCP)")
        for i, init in enumerate(c for c in _pod_spec(report).get("initContainers") or [] if isinstance(c, dict)):
            if init.get("restartPolicy") == "Always":
                continue  # a sidecar runs beside the server and may call it
            script = " ".join(str(part) for key in ("command", "args") if isinstance(init.get(key), list)
                              for part in init[key])
            waits = reaches.search(script)
            assert waits is None, \
                (f"initContainers[{i}] reaches the Service {service.name!r} ({waits.group(0)!r}), which sends traffic "
                 "only to ready pods of this Deployment: on the first rollout none is ready, because each waits for "
                 "its init containers, so it waits for ever and no pod ever starts; let the readiness probe tell "
                 "when the server is up")

    def test_selector_leaves_out_the_release_version(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        service = _only(report, "Service", "v1", SERVICE)
        selector = (service.doc.get("spec") or {}).get("selector")
        pairs = list(selector.items()) if isinstance(selector, dict) else []
        release = _release_keys([k for k, _ in pairs]) + _versioned_values(pairs, report)
        assert not release, \
            (f"the Service's selector uses {release}, a label that changes with every release: when the next "
             "release is applied the Service drops every running pod at once, before a new one is ready (an "
             "outage), and after `kubectl rollout undo` it selects none of the old pods; select on the app's name "
             "only, as the Deployment's selector does")

    def test_lives_in_the_deployments_namespace(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        service = _only(report, "Service", "v1", SERVICE)
        deployment = _only(report, "Deployment", "apps/v1", DEPLOYMENT)
        theirs, ours = (m.doc.get("metadata", {}).get("namespace") for m in (deployment, service))
        assert ours == theirs, \
            (f"the Service's metadata.namespace is {ours!r} but the Deployment's is {theirs!r}: a Service "
             "selects pods of its own namespace only, so it would have no endpoints; use the same (or none)")

    def test_target_port_is_the_container_port(self, manifest_report):
        report = manifest_report(DEPLOYMENT, SERVICE)
        service = _only(report, "Service", "v1", SERVICE)
        assert service.doc.get("spec", {}).get("ports"), "the Service should list at least one port"
        problems = report.problems_of("service")
        assert not problems, ("every Service port should send traffic to a port the container declares "
                              "(targetPort by number or by the port's name):\n" + explain(problems))
        container = _container(report)
        for i, port in enumerate(p for p in service.doc["spec"]["ports"] if isinstance(p, dict)):
            protocol = port.get("protocol", "TCP")
            assert protocol == "TCP", \
                f"spec.ports[{i}].protocol is {protocol!r}: the model server speaks HTTP, which runs over TCP"
            target = port.get("targetPort", port.get("port"))
            reached = _port_number(container, target, protocol)
            assert reached == CONTRACT_PORT, \
                (f"spec.ports[{i}].targetPort {target!r} reaches {_which(reached, protocol)}, but the model server "
                 f"listens on {CONTRACT_PORT}: use {CONTRACT_PORT} or the name of that port")
