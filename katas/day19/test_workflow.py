"""Task 5: the CI/CD workflow, checked offline.

`workflow_report("workflow.yml")` (see conftest.py) validates your file against GitHub's
workflow schema with check-jsonschema, then applies the README's rules by simulating
events: which jobs would run for a pull request, a push to main, a push elsewhere.
Every problem names the file, the job and the step.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.task(taskno=5)


def _assert_clean(report, *rules, why):
    problems = report.problems_of(*rules)
    assert not problems, f"{why}:\n" + "\n".join(f"  - {p}" for p in problems)


def test_is_a_yaml_workflow(workflow_report):
    _assert_clean(workflow_report(), "yaml", why="workflow.yml should be a YAML mapping with 'on' and 'jobs'")


def test_matches_the_github_workflow_schema(workflow_report):
    report = workflow_report()
    _assert_clean(report, "yaml", "schema", why="workflow.yml should match GitHub's workflow schema")


def test_has_the_test_gate_and_promote_jobs(workflow_report):
    _assert_clean(workflow_report(), "yaml", "jobs", why="the jobs are named test, gate and promote")


def test_every_pull_request_is_tested(workflow_report):
    _assert_clean(workflow_report(), "yaml", "jobs", "pull-request",
                  why="the test job runs pytest for every pull request, into any branch")


def test_train_gate_and_promote_run_on_a_push_to_main_only(workflow_report):
    _assert_clean(workflow_report(), "yaml", "jobs", "main-only",
                  why="gate and promote run on a push to main, and for nothing else; test runs there too")


def test_each_stage_needs_the_one_before(workflow_report):
    _assert_clean(workflow_report(), "yaml", "jobs", "needs", why="gate needs test, promote needs gate")


def test_pull_requests_get_no_secrets(workflow_report):
    _assert_clean(workflow_report(), "yaml", "jobs", "secrets",
                  why="a job that runs for a pull request reads no secret but GITHUB_TOKEN")


def test_permissions_are_least_privilege(workflow_report):
    _assert_clean(workflow_report(), "yaml", "permissions",
                  why="top-level permissions: contents: read and no write; no job gets write-all")


def test_every_action_is_pinned(workflow_report):
    _assert_clean(workflow_report(), "yaml", "pinning",
                  why="every uses: names a full commit SHA or a version tag, never a branch")


def test_two_promotions_never_run_at_once(workflow_report):
    _assert_clean(workflow_report(), "yaml", "jobs", "concurrency",
                  why="promote is in a concurrency group shared by every run, that queues rather than cancels")


@pytest.mark.passes_on_stub(reason="checks the provided checker's messages, not the learner's file")
def test_the_checker_explains_files_that_are_not_workflows(tmp_path, workflow_checker):
    garbage = tmp_path / "broken.yml"
    garbage.write_text("jobs: [\n", encoding="utf-8")
    report = workflow_checker(garbage)
    assert [p.rule for p in report.problems] == ["yaml"] and "not valid YAML" in str(report.problems[0]), (
        f"a file that is not YAML is reported as such: {report.problems}")
    other = tmp_path / "compose.yml"
    other.write_text("services:\n  app:\n    image: x\n", encoding="utf-8")
    problems = workflow_checker(other).problems
    assert [p.rule for p in problems] == ["yaml"] and "not a GitHub Actions workflow" in str(problems[0]), (
        f"a YAML file that is not a workflow is reported as such: {problems}")
