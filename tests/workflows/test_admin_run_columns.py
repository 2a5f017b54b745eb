"""The workflow list's last-run and failure-rate columns (annotated, one query per page) and the change page's link to
the workflow's executions."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.executions.models import WorkflowExecution
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:workflows_workflow_changelist"


def runs(workflow, *statuses, ago=timedelta(minutes=5)):
    for status in statuses:
        execution = WorkflowExecutionFactory(workflow=workflow, status=status)
        WorkflowExecution.objects.filter(pk=execution.pk).update(created_at=timezone.now() - ago)


@pytest.fixture
def admin_client_of(client, organization):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return client


def row_of(response, workflow):
    return next(row for row in response.context["cl"].result_list if row.pk == workflow.pk)


def test_failure_rate_counts_last_weeks_finished_runs(admin_client_of, organization):
    workflow = WorkflowFactory(organization=organization)
    runs(workflow, "succeeded", "succeeded", "failed", "running")
    runs(workflow, "failed", "failed", ago=timedelta(days=30))  # outside the window
    response = admin_client_of.get(reverse(CHANGELIST))
    html = response.content.decode()
    assert "33 % (1 of 3)" in html
    row = row_of(response, workflow)
    assert (row._finished_week, row._failed_week) == (3, 1)
    assert f"?workflow__id__exact={workflow.pk}" in html


def test_last_run_is_the_newest_execution(admin_client_of, organization):
    workflow = WorkflowFactory(organization=organization)
    runs(workflow, "failed", ago=timedelta(days=2))
    runs(workflow, "succeeded", ago=timedelta(hours=1))
    row = row_of(admin_client_of.get(reverse(CHANGELIST)), workflow)
    assert row._last_run_status == "succeeded"
    assert timezone.now() - row._last_run_at < timedelta(hours=2)
    never = WorkflowFactory(organization=organization)
    row = row_of(admin_client_of.get(reverse(CHANGELIST)), never)
    assert row._last_run_at is None and row._finished_week == 0


def test_the_list_takes_the_same_queries_for_one_or_many_workflows(admin_client_of, organization):
    runs(WorkflowFactory(organization=organization), "failed")
    admin_client_of.get(reverse(CHANGELIST))  # warm caches (sessions, content types)
    with CaptureQueriesContext(connection) as one:
        admin_client_of.get(reverse(CHANGELIST))
    for _ in range(5):
        runs(WorkflowFactory(organization=organization), "succeeded", "failed")
    with CaptureQueriesContext(connection) as six:
        response = admin_client_of.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 6
    assert len(six) == len(one)


def test_the_change_page_links_to_the_workflows_executions(admin_client_of, organization):
    workflow = WorkflowFactory(organization=organization)
    runs(workflow, "succeeded", "failed")
    html = admin_client_of.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()
    url = reverse("admin:executions_workflowexecution_changelist")
    assert f'<a href="{url}?workflow__id__exact={workflow.pk}">2 execution(s)</a>' in html


def test_another_organizations_runs_do_not_count(admin_client_of, organization, other_organization):
    theirs = WorkflowFactory(organization=other_organization, name="theirs-secret")
    runs(theirs, "failed")
    response = admin_client_of.get(reverse(CHANGELIST))
    assert all(row.pk != theirs.pk for row in response.context["cl"].result_list)
    assert "theirs-secret" not in response.content.decode()
