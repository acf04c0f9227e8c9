"""Task 5: the burn-rate alerts as Prometheus rules, checked and unit-tested by the real promtool.

Each test writes input series (the day-03 server's `model_requests_total` counter, one
sample a minute) and asks `promtool test rules` which alerts fire when. Annotations are
yours to word: they are taken out of the copy that promtool tests.
"""

import json
import re

import pytest
import yaml

from mlops_katas.infra.prometheus import promtool

pytestmark = [pytest.mark.task(taskno=5), pytest.mark.prometheus, pytest.mark.timeout(120)]

OK_PER_MIN = 600  # 10 requests a second
FAST, SLOW = "ErrorBudgetFastBurn", "ErrorBudgetSlowBurn"
PAGE = {"severity": "page"}


def counter(per_minute):
    """A counter's samples, one a minute, from how much it grows each minute."""
    total, values = 0, [0]
    for step in per_minute:
        total += step
        values.append(total)
    return " ".join(map(str, values))


def restarted_counter(per_minute, at):
    """A counter's samples, one a minute, from a server restarted at minute `at`: it counts again from 0."""
    total, values = 0, [0]
    for minute, step in enumerate(per_minute, start=1):
        if minute == at:
            total = 0
        total += step
        values.append(total)
    return " ".join(map(str, values))


def predict(status, per_minute, **labels):
    names = {"endpoint": "/predict", "status": status, **labels}
    text = ", ".join(f'{k}="{v}"' for k, v in names.items())
    return {"series": f"model_requests_total{{{text}}}", "values": counter(per_minute)}


def split(minutes, error_share_at):
    """(ok, errors) per minute for `minutes` minutes, errors being a share of 600 per minute."""
    errors = [round(OK_PER_MIN * error_share_at(m)) for m in range(minutes)]
    return [OK_PER_MIN - e for e in errors], errors


@pytest.fixture
def rules(learner_file, tmp_path):
    """The learner's rules, checked by `promtool check rules`, copied without annotations."""
    path = learner_file("slo_rules.yml")
    checked = promtool("check", "rules", path)
    assert checked.returncode == 0, f"promtool check rules rejects slo_rules.yml:\n{checked.stdout}{checked.stderr}"
    doc = yaml.safe_load(path.read_text())
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            if "alert" in rule:
                rule.pop("annotations", None)
    copy = tmp_path / "rules.yml"
    copy.write_text(yaml.safe_dump(doc))
    return copy


def run_promtool(rules, tmp_path, series, alerts=(), exprs=(), what=""):
    test = {"rule_files": [rules.name], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series,
                       "alert_rule_test": [{"eval_time": f"{at}m", "alertname": name,
                                            "exp_alerts": [{"exp_labels": PAGE}] if firing else []}
                                           for at, name, firing in alerts],
                       "promql_expr_test": [{"expr": expr, "eval_time": f"{at}m",
                                             "exp_samples": [{"labels": "{}", "value": 1}]}
                                            for at, expr in exprs]}]}
    test_file = tmp_path / "slo_test.yml"
    test_file.write_text(json.dumps(test))  # JSON is YAML
    done = promtool("test", "rules", test_file)
    assert done.returncode == 0, f"{what}\npromtool test rules says:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"


HISTORY = 360  # six clean hours first, so every window starts full


def test_the_rules_file_passes_promtool_check(rules):
    assert rules.exists(), "the checked copy of slo_rules.yml should exist"


def test_recording_rules_hold_the_error_ratio_of_each_window(rules, tmp_path):
    ok, errors = split(HISTORY + 60, lambda m: 0.02)
    series = [predict("200", ok), predict("500", errors)]
    exprs = [(HISTORY + 30, f"(slo:predict_errors:ratio_rate{w} > bool 0.0199) * (slo:predict_errors:ratio_rate{w} < bool 0.0201)")
             for w in ("5m", "30m", "1h", "6h")]
    run_promtool(rules, tmp_path, series, exprs=exprs,
                 what="with 2 % of /predict answers failing for hours, each slo:predict_errors:ratio_rate<window> "
                      "recording rule should be 0.02, as one series without labels")


def test_each_recording_rule_looks_back_over_its_own_window(rules, tmp_path):
    # Hours of 1 % errors at 600 answers a minute; then busier and worse in steps, so that every
    # window (and twice each window) holds another share, and a ratio whose errors and answers
    # are counted over different windows is off: traffic is not constant.
    phases = [(720, 600, 0.01), (40, 900, 0.02), (15, 1200, 0.05), (5, 1500, 0.10)]
    total = [n for minutes, n, _ in phases for _ in range(minutes)]
    errors = [round(n * share) for minutes, n, share in phases for _ in range(minutes)]
    end = len(total)
    expected = {w: sum(errors[-m:]) / sum(total[-m:]) for w, m in (("5m", 5), ("30m", 30), ("1h", 60), ("6h", 360))}
    exprs = [(end, f"(slo:predict_errors:ratio_rate{w} > bool {share * 0.95}) * (slo:predict_errors:ratio_rate{w} "
                   f"< bool {share * 1.05})") for w, share in expected.items()]
    ok = [t - e for t, e in zip(total, errors)]
    run_promtool(rules, tmp_path, [predict("200", ok), predict("500", errors)], exprs=exprs,
                 what="after hours at 1 % errors, then 40 minutes at 2 %, 15 at 5 % and 5 at 10 % while traffic grows "
                      "from 600 to 1500 answers a minute, each recording rule holds the share of errors over its own "
                      "window: " + ", ".join(f"ratio_rate{w} about {share:.2%}" for w, share in expected.items())
                      + " (within 5 %): is a rule looking back over another window than its name says, or counting "
                      "errors and answers over different windows?")


def test_alerts_wait_at_most_two_minutes(learner_file):
    doc = yaml.safe_load(learner_file("slo_rules.yml").read_text())
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    waits = {}
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            if rule.get("alert") in (FAST, SLOW) and rule.get("for") is not None:
                text = str(rule["for"])
                if text == "0":
                    waits[rule["alert"]] = 0
                    continue
                parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
                assert parts and "".join(n + u for n, u in parts) == text, f"{rule['alert']} has an unreadable for: {text!r}"
                waits[rule["alert"]] = sum(int(n) * units[u] for n, u in parts)
    slow = {name: seconds for name, seconds in waits.items() if seconds > 120}
    assert not slow, (
        f"an alert may wait with for: up to 2m, these wait longer (seconds): {slow}; a page that waits longer comes "
        "late for a burn that spends the budget this fast")


def test_rule_groups_are_evaluated_at_least_once_a_minute(learner_file):
    doc = yaml.safe_load(learner_file("slo_rules.yml").read_text())
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    slow = {}
    for group in doc.get("groups") or []:
        if group.get("interval") is None:
            continue
        text = str(group["interval"])
        parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
        assert parts and "".join(n + u for n, u in parts) == text, f"group {group.get('name')!r} has an unreadable interval: {text!r}"
        seconds = sum(int(n) * units[u] for n, u in parts)
        if seconds > 60:
            slow[group.get("name")] = text
    assert not slow, (
        f"a rule group may set its own interval: up to 1m, these evaluate less often: {slow}; a 5m window looked at "
        "every few minutes pages late and stops paging late")


def test_the_ratio_is_over_predict_answers_of_every_instance_together(rules, tmp_path):
    minutes = HISTORY + 60
    busy = [OK_PER_MIN] * minutes  # instance a: 600 good answers a minute
    rejected = [250] * minutes  # instance a: 250 more a minute are 400s, the clients' fault
    quiet_ok, quiet_bad = [120] * minutes, [30] * minutes  # instance b: 150 a minute, 30 of them 500s
    job = "model-server"  # as scraped: Prometheus adds job and instance labels to every series
    series = [predict("200", busy, instance="a", job=job), predict("400", rejected, instance="a", job=job),
              predict("200", quiet_ok, instance="b", job=job), predict("500", quiet_bad, instance="b", job=job),
              {"series": f'model_requests_total{{endpoint="/health", status="200", instance="a", job="{job}"}}',
               "values": counter(busy)},
              {"series": f'model_requests_total{{endpoint="/ready", status="200", instance="b", job="{job}"}}',
               "values": counter(busy)}]
    exprs = [(HISTORY + 30, f"(slo:predict_errors:ratio_rate{w} > bool 0.0299) * (slo:predict_errors:ratio_rate{w} < bool 0.0301)")
             for w in ("5m", "30m", "1h", "6h")]
    run_promtool(rules, tmp_path, series, exprs=exprs,
                 what="30 of the 1000 /predict answers a minute are 500s (all on the quieter instance b), so each "
                      "slo:predict_errors:ratio_rate<window> is 30 / 1000 = 0.03: errors over every /predict answer, the "
                      "250 400s a minute included (not 30 / 750 = 0.04); the /health and /ready traffic is not in the "
                      "denominator; summed over instances before dividing (not the average of the instances' ratios), "
                      "into one series without labels (no job, instance, endpoint or status label is kept)")


def test_a_fast_burn_pages_and_stops_paging_soon_after_the_errors_stop(rules, tmp_path):
    start = HISTORY
    ok, errors = split(HISTORY + 120, lambda m: 0.10 if start <= m < start + 15 else 0.0)  # 100x burn for 15 minutes
    run_promtool(rules, tmp_path, [predict("200", ok), predict("500", errors)],
                 alerts=[(start + 14, FAST, True), (start + 30, FAST, False), (start + 60, FAST, False),
                         (start - 1, FAST, False)],
                 what="10 % errors for 15 minutes (a 100x burn) must fire ErrorBudgetFastBurn {severity=page} by the 14th "
                      "minute, and it must stop within 15 minutes of the errors stopping: the 1h window still burns, "
                      "the 5m one no longer does")


def test_a_fast_burn_stops_paging_once_the_5m_window_burns_below_14_4x(rules, tmp_path):
    start = HISTORY
    # 20 minutes of 10 % errors (100x), then 1 % (10x: below 14.4, above 6) for half an hour.
    ok, errors = split(HISTORY + 60, lambda m: 0.10 if start <= m < start + 20 else 0.01 if m >= start + 20 else 0.0)
    run_promtool(rules, tmp_path, [predict("200", ok), predict("500", errors)],
                 alerts=[(start + 15, FAST, True), (start + 30, FAST, False), (start + 40, FAST, False)],
                 what="after 20 minutes of 10 % errors ErrorBudgetFastBurn fires; then 1 % errors (a 10x burn) keep the "
                      "1h window above 14.4 * 0.001 (about 3.5 %), but the 5m window burns below 14.4 * 0.001 (1 %): "
                      "10 and 20 minutes later it must no longer fire (both windows are compared with 14.4 * 0.001, "
                      "the 5m one included; 6 * 0.001 is the slow burn's threshold)")


def near_14_4x(errors_per_minute):
    """Series at 10,000 /predict answers a minute, the errors alternating between two counts
    each minute, from the first minute: every window's share lies between the two."""
    minutes = 80
    bad = [errors_per_minute[m % 2] for m in range(minutes)]
    return [predict("200", [10_000 - b for b in bad]), predict("500", bad)]


def test_a_burn_just_above_14_4x_pages_as_a_fast_burn(rules, tmp_path):
    run_promtool(rules, tmp_path, near_14_4x((144, 145)), alerts=[(75, FAST, True)],
                 what="1.445 % errors (a 14.45x burn) for over an hour are above 14.4 * 0.001 in both the 1h and the "
                      "5m window: ErrorBudgetFastBurn {severity=page} must fire (is the threshold 14.4 * 0.001 = "
                      "0.0144, not 14.5 or 15 times the budget?)")


def test_a_burn_just_below_14_4x_never_pages_as_a_fast_burn(rules, tmp_path):
    run_promtool(rules, tmp_path, near_14_4x((143, 144)), alerts=[(t, FAST, False) for t in (10, 30, 60, 75)],
                 what="1.435 % errors (a 14.35x burn) for over an hour stay below 14.4 * 0.001: ErrorBudgetFastBurn "
                      "must not fire (is the threshold 14.4 * 0.001 = 0.0144, not 14 times the budget?)")


def test_a_slow_burn_pages_later_and_never_as_a_fast_burn(rules, tmp_path):
    start, stop = HISTORY, HISTORY + 250
    ok, errors = split(stop + 40, lambda m: 0.012 if start <= m < stop else 0.0)  # 12x: above 6, below 14.4
    run_promtool(rules, tmp_path, [predict("200", ok), predict("500", errors)],
                 alerts=[(start + 60, SLOW, False), (start + 120, SLOW, False), (start + 240, SLOW, True),
                         (start + 30, FAST, False), (start + 240, FAST, False),
                         (stop + 10, SLOW, True), (stop + 20, SLOW, False), (stop + 35, SLOW, False)],
                 what="1.2 % errors (a 12x burn) for 250 minutes must not fire ErrorBudgetFastBurn (threshold 14.4x) and "
                      "must fire ErrorBudgetSlowBurn {severity=page} once the 6h window averages above 6x (after about 3 "
                      "hours), not after 2 hours; when the errors stop it keeps paging while the 30m window still burns "
                      "above 6x (10 minutes later: 20 of its 30 minutes at 12x), stops once the 30m window burns below 6x "
                      "(20 minutes later: 10 of its 30 minutes at 12x, while the 1h window still burns at 8x) and stays "
                      "quiet once the 30m window is clean (35 minutes later)")


def test_a_burn_just_below_6x_pages_nobody(rules, tmp_path):
    minutes = 420
    bad = [3 + m % 2 for m in range(minutes)]  # 3 and 4 of 600 a minute, from the first minute: 0.58 %, a 5.8x burn
    series = [predict("200", [OK_PER_MIN - b for b in bad]), predict("500", bad)]
    checks = [(t, name, False) for t in (30, 60, 120, 240, 360, 400) for name in (FAST, SLOW)]
    run_promtool(rules, tmp_path, series, alerts=checks,
                 what="0.58 % errors (a 5.8x burn) for seven hours stay below 6 * 0.001 in every window: neither "
                      "ErrorBudgetSlowBurn nor ErrorBudgetFastBurn may fire (is the slow-burn threshold 6 * 0.001, "
                      "not 5 * 0.001, the 5 % of the budget that six hours at 6x spend?)")


def test_a_burn_just_above_6x_pages_as_a_slow_burn(rules, tmp_path):
    minutes = 120
    bad = [4] * minutes  # 4 of 600 a minute, from the first minute: 0.67 %, a 6.7x burn
    series = [predict("200", [OK_PER_MIN - b for b in bad]), predict("500", bad)]
    run_promtool(rules, tmp_path, series, alerts=[(90, SLOW, True), (90, FAST, False)],
                 what="0.67 % errors (a 6.7x burn) in every window, the 6h one included, are above 6 * 0.001: "
                      "ErrorBudgetSlowBurn {severity=page} must fire, ErrorBudgetFastBurn must not")


def test_a_brief_blip_pages_nobody(rules, tmp_path):
    start = HISTORY
    ok, errors = split(HISTORY + 90, lambda m: 0.20 if start <= m < start + 2 else 0.0)  # 2 minutes of 20 % errors
    checks = [(start + t, name, False) for t in (1, 2, 3, 5, 10, 30, 60) for name in (FAST, SLOW)]
    run_promtool(rules, tmp_path, [predict("200", ok), predict("500", errors)], alerts=checks,
                 what="two minutes of 20 % errors burn only 0.7 % of the hour: neither alert may fire (a 5m window alone "
                      "would page; the long window is what stops it)")


def test_a_burst_the_hour_absorbs_pages_nobody(rules, tmp_path):
    start = HISTORY
    ok, errors = split(HISTORY + 90, lambda m: 0.20 if start <= m < start + 4 else 0.0)  # 4 minutes of 20 % errors
    checks = [(start + t, name, False) for t in (3, 4, 5, 6, 10, 20, 30, 60) for name in (FAST, SLOW)]
    run_promtool(rules, tmp_path, [predict("200", ok), predict("500", errors)], alerts=checks,
                 what="four minutes of 20 % errors are 1.33 % of the hour's answers, below 14.4 x 0.001 = 1.44 %: "
                      "ErrorBudgetFastBurn must not fire (its long window is the 1h ratio; over 30m the same burst is "
                      "2.7 %, so a fast burn on the 30m ratio pages), nor ErrorBudgetSlowBurn (6h: 0.22 %)")


def test_only_server_errors_on_predict_burn_the_budget(rules, tmp_path):
    minutes = HISTORY + 60
    ok = [OK_PER_MIN] * minutes
    noise = [300] * minutes
    series = [predict("200", ok), predict("400", noise), predict("404", noise),
              {"series": 'model_requests_total{endpoint="/health", status="500"}', "values": counter(noise)},
              {"series": 'model_requests_total{endpoint="/ready", status="503"}', "values": counter(noise)},
              {"series": 'model_requests_total{endpoint="/predict_batch", status="500"}', "values": counter(noise)},
              predict("307", noise), predict("101", [60] * minutes)]
    run_promtool(rules, tmp_path, series,
                 alerts=[(HISTORY + 30, FAST, False), (HISTORY + 30, SLOW, False)],
                 what="4xx answers are the client's fault, 3xx redirects and 1xx answers are not errors at all, and "
                      "/health, /ready or /predict_batch errors are not the /predict SLO (the endpoint is exactly "
                      "/predict): only 5xx answers burn the budget, so no alert may fire")


def test_any_5xx_counts_and_instances_are_summed(rules, tmp_path):
    start = HISTORY
    minutes = HISTORY + 30
    bad = [120 if m >= start else 0 for m in range(minutes)]  # 120 of 1200 a minute from instance b: 10 %
    series = [predict("200", [OK_PER_MIN] * minutes, instance="a"),
              predict("200", [OK_PER_MIN - b for b in bad], instance="b"),
              predict("503", bad, instance="b")]
    run_promtool(rules, tmp_path, series, alerts=[(start + 25, FAST, True), (start + 25, SLOW, True)],
                 what="503s are server errors too; the SLO is the whole service's, summed over instances: one "
                      "ErrorBudgetFastBurn and one ErrorBudgetSlowBurn alert, labelled only severity=page")


def test_every_5xx_status_burns_the_budget(rules, tmp_path):
    start = HISTORY
    minutes = HISTORY + 30
    rare = [15 if m >= start else 0 for m in range(minutes)]  # 4 x 15 of 600 a minute: 10 %
    series = [predict("200", [OK_PER_MIN - 4 * r for r in rare])]
    series += [predict(status, rare) for status in ("501", "505", "507", "511")]
    run_promtool(rules, tmp_path, series, alerts=[(start + 25, FAST, True), (start + 25, SLOW, True)],
                 what="every 5xx status is a server error, not only the common 500, 502, 503 and 504: 10 % of /predict "
                      "answers being 501, 505, 507 or 511 must page as a fast and a slow burn")


def test_a_restart_resets_the_counters_without_paging(rules, tmp_path):
    restart = HISTORY
    ok, errors = split(restart + 30, lambda m: 0.10 if m < 60 else 0.0)  # an incident in the first hour, then clean
    series = [{"series": 'model_requests_total{endpoint="/predict", status="200"}', "values": restarted_counter(ok, restart)},
              {"series": 'model_requests_total{endpoint="/predict", status="500"}',
               "values": restarted_counter(errors, restart)}]
    checks = [(restart + t, name, False) for t in (1, 2, 3, 4, 6) for name in (FAST, SLOW)]
    run_promtool(rules, tmp_path, series, alerts=checks,
                 what="the server restarts after five clean hours and its counters start again from 0, while it "
                      "keeps answering without errors: nothing may page. A counter that drops is a reset, not "
                      "negative traffic: rate() and increase() account for it, a plain difference of counter "
                      "values (delta(), x - x offset 5m) turns the old totals into a fake burn")


def test_a_restart_during_a_burn_does_not_hide_it(rules, tmp_path):
    start, restart = HISTORY, HISTORY + 20
    minutes = restart + 15
    bad = [60 if m >= start else 0 for m in range(minutes)]  # instance b: 60 of its 600 a minute fail from `start`
    job = "model-server"
    series = [predict("200", [OK_PER_MIN] * minutes, instance="a", job=job),
              {"series": f'model_requests_total{{endpoint="/predict", status="200", instance="b", job="{job}"}}',
               "values": restarted_counter([OK_PER_MIN - b for b in bad], restart)},
              {"series": f'model_requests_total{{endpoint="/predict", status="500", instance="b", job="{job}"}}',
               "values": restarted_counter(bad, restart)}]
    run_promtool(rules, tmp_path, series, alerts=[(restart + t, FAST, True) for t in (2, 5, 10)],
                 what="instance b fails 10 % of its answers (5 % of the service's, a 50x burn) and restarts 20 minutes "
                      "into the burn, its counters starting again from 0 while it keeps failing: ErrorBudgetFastBurn "
                      "must keep firing 2, 5 and 10 minutes after the restart. A reset must not hide a burn: take "
                      "rate() or increase() of each raw series first and sum afterwards (a sum of counters drops when "
                      "one instance restarts, and rate() of that sum counts the other instance's whole total as new "
                      "traffic), and never clamp a negative delta() to 0 (that drops the restarted instance's errors)")
