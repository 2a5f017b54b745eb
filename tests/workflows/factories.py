import factory

from apps.workflows.models import Credential, Trigger, Workflow
from apps.workflows.services import workflow_create
from tests.orgs.factories import OrganizationFactory

SIMPLE_DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "log", "type": "log", "config": {"message": "hi"}},
    ],
    "edges": [{"source": "start", "target": "log"}],
}

WEBHOOK_DEFINITION = {
    "nodes": [
        {"id": "start", "type": "webhook", "config": {"require_signature": True}},
        {"id": "log", "type": "log", "config": {"message": "hi"}},
    ],
    "edges": [{"source": "start", "target": "log"}],
}

#: A form start node's fields, in the author's order (not jsonb's: shorter keys first).
FORM_FIELDS = {
    "type": "object",
    "required": ["email", "age"],
    "properties": {
        "email": {"type": "string", "format": "email", "title": "Email"},
        "age": {"type": "integer", "minimum": 18},
        "topic": {"type": "string", "enum": ["sales", "support"]},
        "subscribe": {"type": "boolean"},
    },
}

FORM_DEFINITION = {
    "nodes": [
        {"id": "start", "type": "form", "config": {"title": "Contact us", "fields": FORM_FIELDS}},
        {"id": "log", "type": "log", "config": {"message": "hi {{ trigger.email }}"}},
    ],
    "edges": [{"source": "start", "target": "log"}],
}


class WorkflowFactory(factory.django.DjangoModelFactory):
    """Creates workflows through the service, so each has its first version."""

    class Meta:
        model = Workflow

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Workflow {n}")
    definition = factory.LazyFunction(lambda: dict(SIMPLE_DEFINITION))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return workflow_create(**kwargs)


class TriggerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trigger

    workflow = factory.SubFactory(WorkflowFactory)
    organization = factory.SelfAttribute("workflow.organization")
    kind = "manual"


class CredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Credential

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"cred-{n}")
    kind = "http_bearer"
    data = factory.LazyFunction(lambda: {"token": "s3cret-token"})
