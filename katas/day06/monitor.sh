#!/usr/bin/env bash
# STUB(task 1) — delete this line when you start (while it is here, the tests report the task as not started).
#
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
#
# usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]
#   --url URL           base URL; GET URL/health is checked (default http://127.0.0.1:8000)
#   --interval SECONDS  pause between checks (default 30)
#   --max-failures N    exit 1 after N consecutive failed checks (default 3)
#   --timeout SECONDS   limit for one health request (default 5)
#   --once              check once: exit 0 when healthy, 1 when not
#   -h, --help          print the usage on stdout, exit 0
#
# TODO(task 1): strict mode (set -euo pipefail); parse the flags with a while/case loop;
#   an unknown flag, a missing value or a bad value prints the usage on stderr and exits 2.
# TODO(task 1): log() prints "<ISO 8601 UTC timestamp> [LEVEL] message" on stdout (date -u).
# TODO(task 1): check_health: curl with --max-time (never without a timeout); only a 200 is healthy.
# TODO(task 1): log_metrics: one line with load1=<1-min load> mem_used_pct=<n> disk_used_pct=<n>
#   (memory in use: MemTotal - MemAvailable; disk: the Capacity column of df -P /).
# TODO(task 2): loop: check, count consecutive failures (a success resets the count),
#   when the count reaches --max-failures log a line containing "giving up" and exit 1;
#   sleep --interval between checks.
