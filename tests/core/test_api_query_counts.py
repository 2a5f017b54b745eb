"""List endpoints cost the same number of queries for one row as for many."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.orgs.services import api_key_create, audit_log_record
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory
from tests.workflows.factories import CredentialFactory, TriggerFactory, WorkflowFactory

pytestmark = pytest.mark.django_db

BUILDERS = {
    "/api/v1/workflows/": lambda org: WorkflowFactory(organization=org),
    "/api/v1/executions/": lambda org: WorkflowExecutionFactory(workflow=WorkflowFactory(organization=org)),
    "/api/v1/triggers/": lambda org: TriggerFactory(workflow=WorkflowFactory(organization=org), kind="webhook"),
    "/api/v1/credentials/": lambda org: CredentialFactory(organization=org),
    "/api/v1/memberships/": lambda org: MembershipFactory(organization=org),
    "/api/v1/api-keys/": lambda org: api_key_create(organization=org, name="k"),
    "/api/v1/audit-log/": lambda org: audit_log_record(organization=org, actor=None, action="x"),
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize("url", sorted(BUILDERS))
def test_list_query_count_does_not_grow_with_rows(api_client, organization, member_factory, url):
    api_client.force_authenticate(member_factory(organization, "admin"))
    api_client.get(url)  # warm the content-type cache guardian uses
    counts = []
    for rows in (1, 4):
        for _ in range(rows - (1 if counts else 0)):
            BUILDERS[url](organization)
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(url)
        assert response.status_code == 200
        assert len(response.json()["results"]) >= rows
        counts.append(len(queries))
    assert counts[0] == counts[1], f"{url}: {counts[0]} queries for 1 row, {counts[1]} for 4"
