"""The demo organization, admin user and workflow created by `make run` in the embedded default."""

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.orgs.choices import Role
from apps.orgs.models import Organization
from apps.orgs.services import membership_set, organization_create

from .models import Workflow
from .services import workflow_create

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "concertmaster"
#: A member of the demo organization without staff status: what an ordinary user of the product sees.
DEMO_MEMBER_USERNAME = "member"
DEMO_MEMBER_PASSWORD = "concertmaster"
DEMO_ORG_SLUG = "demo"
DEMO_WORKFLOW_NAME = "Greet and check an order"

DEMO_DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 120}},
        {
            "id": "greet",
            "type": "set",
            "config": {
                "values": {
                    "greeting": "Hello {{ trigger.name | default('world') }}",
                    "amount": "{{ trigger.amount | default(42) }}",
                }
            },
            "position": {"x": 260, "y": 120},
        },
        {
            "id": "check",
            "type": "if_else",
            "config": {"condition": "{{ nodes.greet.output.amount > vars.threshold }}"},
            "position": {"x": 520, "y": 120},
        },
        {
            "id": "big",
            "type": "log",
            "config": {"message": "Big order: {{ nodes.greet.output.amount }}"},
            "position": {"x": 780, "y": 40},
        },
        {
            "id": "small",
            "type": "log",
            "config": {"message": "Small order: {{ nodes.greet.output.amount }}"},
            "position": {"x": 780, "y": 200},
        },
    ],
    "edges": [
        {"source": "start", "target": "greet"},
        {"source": "greet", "target": "check"},
        {"source": "check", "source_port": "true", "target": "big"},
        {"source": "check", "source_port": "false", "target": "small"},
    ],
    "variables": {"threshold": 100},
}


@transaction.atomic
def demo_bootstrap() -> tuple[Organization, Workflow, bool]:
    """Create what is missing of the demo; returns (organization, workflow, user_created)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    user_created = user is None
    if user is None:
        user = user_model.objects.create_superuser(DEMO_USERNAME, "admin@example.com", DEMO_PASSWORD)
    organization = Organization.objects.filter(slug=DEMO_ORG_SLUG).first()
    if organization is None:
        organization = organization_create(name="Demo", slug=DEMO_ORG_SLUG)
    membership_set(organization=organization, user=user, role=Role.OWNER)
    member = user_model.objects.filter(username=DEMO_MEMBER_USERNAME).first()
    if member is None:
        member = user_model.objects.create_user(DEMO_MEMBER_USERNAME, "member@example.com", DEMO_MEMBER_PASSWORD)
        membership_set(organization=organization, user=member, role=Role.MEMBER)
    workflow = Workflow.objects.filter(organization=organization, name=DEMO_WORKFLOW_NAME).first()
    if workflow is None:
        workflow = workflow_create(
            organization=organization,
            name=DEMO_WORKFLOW_NAME,
            description="A manual trigger, a set node, a branch and two log nodes.",
            definition=DEMO_DEFINITION,
            created_by=user,
        )
    return organization, workflow, user_created
