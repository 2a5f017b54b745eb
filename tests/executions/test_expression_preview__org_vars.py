"""The editor's expression preview knows the organization's variables: `org.vars.NAME` renders and completes."""

import pytest

from apps.executions.expression_preview import preview
from apps.orgs.variables import org_secret_create, org_variable_create
from tests.orgs.factories import OrganizationFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


def test_org_vars_render_and_complete_and_secrets_do_not():
    organization = OrganizationFactory()
    workflow = WorkflowFactory(organization=organization)
    org_variable_create(organization=organization, name="REGION", value="eu-west-1")
    org_variable_create(organization=OrganizationFactory(), name="ELSEWHERE", value="x")
    org_secret_create(organization=organization, name="KEY", value="never-in-a-preview")

    shown = preview(workflow=workflow, expression="{{ org.vars.REGION }}")
    secret = preview(workflow=workflow, expression="{{ org.secrets.KEY }}")

    assert shown["value"] == "eu-west-1" and shown["error"] is None
    assert "org.vars.REGION" in shown["completions"]
    assert not [path for path in shown["completions"] if "ELSEWHERE" in path or "secrets" in path]
    assert secret["value"] is None and "never-in-a-preview" not in str(secret)
