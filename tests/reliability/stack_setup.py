"""Run inside the fault suite's stack (its environment: DATABASE_URL, REDIS_URL, DEBUG off), as
`python -m tests.reliability.stack_setup <command> '<json>'`; prints one JSON object.

- `setup {"counter_url", "chain_length", "poison_marker"}`: migrate, then an organization, a `write` API key, and three
  active workflows: a manual chain of http_request nodes posting to the counter, the same chain behind a
  published webhook trigger, and a chain with a poison node in the middle.
- `start {"workflow", "count"}`: start executions of a workflow directly through the service (the poison
  workflow: the web process does not know the test node types, only the worker loads them).
"""

import itertools
import json
import sys

import django


def http_node(node_id: str, counter_url: str) -> dict:
    return {
        "id": node_id,
        "type": "http_request",
        "config": {
            "method": "POST",
            "url": counter_url,
            "json": {"execution": "{{ execution.id }}", "node": node_id},
            "timeout_seconds": 60,
        },
    }


def chain_definition(start: dict, nodes: list[dict]) -> dict:
    ids = [start["id"], *(n["id"] for n in nodes)]
    return {
        "nodes": [start, *nodes],
        "edges": [{"source": a, "target": b} for a, b in itertools.pairwise(ids)],
    }


def setup(args: dict) -> dict:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)  # here rather than a manage.py of its own: one start-up
    from apps.orgs.services import api_key_create, organization_create
    from apps.workflows.services import workflow_activate, workflow_create
    from apps.workflows.triggers import trigger_publish

    counter_url = args["counter_url"]
    length = int(args["chain_length"])
    organization = organization_create(name="Reliability", slug="reliability")
    _, key = api_key_create(organization=organization, name="fault suite", scopes=["write"])
    http_nodes = [http_node(f"n{i}", counter_url) for i in range(1, length + 1)]
    manual = {"id": "start", "type": "manual", "config": {}}

    def create(name: str, definition: dict):
        workflow = workflow_create(organization=organization, name=name, definition=definition)
        return workflow_activate(workflow=workflow)

    chain = create("chain", chain_definition(manual, http_nodes))
    webhook = create("webhook chain", chain_definition({"id": "start", "type": "webhook", "config": {}}, http_nodes))
    ((trigger, _),) = trigger_publish(workflow=webhook)
    poison_nodes = [
        http_node("before", counter_url),
        {"id": "poison", "type": "test.poison", "config": {"marker": args["poison_marker"]}},
        http_node("after", counter_url),
    ]
    poison = create("poison", chain_definition(manual, poison_nodes))
    return {
        "api_key": key,
        "chain": str(chain.pk),
        "webhook": str(webhook.pk),
        "webhook_token": trigger.webhook_token,
        "poison": str(poison.pk),
    }


def start(args: dict) -> dict:
    from apps.executions.services import execution_start
    from apps.workflows.models import Workflow

    workflow = Workflow.objects.get(pk=args["workflow"])
    ids = [str(execution_start(workflow=workflow, trigger_data={"i": i}).pk) for i in range(int(args["count"]))]
    return {"executions": ids}


def main() -> None:
    django.setup()
    import tests.reliability.testnode_plugin  # noqa: F401 (registers test.poison and the other test nodes)

    command, args = sys.argv[1], json.loads(sys.argv[2])
    result = {"setup": setup, "start": start}[command](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
