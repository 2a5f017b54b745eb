"""n8n workflows the contract tests load into a real n8n (through its public API) and sync.

The webhook ones run on both sides with the same payloads: webhook-triggered, answering through Respond to
Webhook, no outside services.
"""

import uuid


def node(name, type_, parameters, version=1, **extra):
    return {
        "name": name,
        "type": f"n8n-nodes-base.{type_}",
        "typeVersion": version,
        "position": [0, 0],
        "parameters": parameters,
        **extra,
    }


def webhook(name="Webhook"):
    path = f"cm-{uuid.uuid4().hex[:12]}"
    return node(
        name,
        "webhook",
        {"httpMethod": "POST", "path": path, "responseMode": "responseNode"},
        2,
        webhookId=str(uuid.uuid4()),
    )


def link(*names, index=0):
    return {"node": names[0], "type": "main", "index": index}


def greeting_branch() -> dict:
    """Edit Fields with string and number expressions, IF on a number, two Respond to Webhook nodes."""
    fields = {
        "assignments": {
            "assignments": [
                {
                    "id": "1",
                    "name": "greeting",
                    "value": "=Hello {{ $json.body.name.toUpperCase() }}",
                    "type": "string",
                },
                {"id": "2", "name": "total", "value": "={{ $json.body.qty * $json.body.price }}", "type": "number"},
            ]
        },
        "options": {},
    }
    condition = {
        "conditions": {
            "options": {"caseSensitive": True, "leftValue": "", "typeValidation": "strict", "version": 2},
            "conditions": [
                {
                    "id": "c",
                    "leftValue": "={{ $json.total }}",
                    "rightValue": 100,
                    "operator": {"type": "number", "operation": "gt"},
                }
            ],
            "combinator": "and",
        },
        "options": {},
    }
    big = {
        "respondWith": "json",
        "options": {},
        "responseBody": '={{ { "size": "big", "greeting": $json.greeting, "total": $json.total } }}',
    }
    return {
        "name": "Greeting branch",
        "nodes": [
            webhook(),
            node("Edit Fields", "set", fields, 3.4),
            node("If", "if", condition, 2.2),
            node("Big", "respondToWebhook", big, 1.1),
            node("Small", "respondToWebhook", {"respondWith": "firstIncomingItem", "options": {}}, 1.1),
        ],
        "connections": {
            "Webhook": {"main": [[link("Edit Fields")]]},
            "Edit Fields": {"main": [[link("If")]]},
            "If": {"main": [[link("Big")], [link("Small")]]},
        },
        "settings": {"executionOrder": "v1"},
    }


def order_lines() -> dict:
    """Split Out a list, filter, sort, keep the first items, aggregate: n8n's item model end to end."""
    condition = {
        "conditions": {
            "options": {"caseSensitive": True, "leftValue": "", "typeValidation": "strict", "version": 2},
            "conditions": [
                {
                    "id": "c",
                    "leftValue": "={{ $json.price }}",
                    "rightValue": 10,
                    "operator": {"type": "number", "operation": "gte"},
                }
            ],
            "combinator": "and",
        },
        "options": {},
    }
    label = {
        "assignments": {
            "assignments": [
                {"id": "1", "name": "label", "value": "={{ $json.sku }}:{{ $json.price }}", "type": "string"}
            ]
        },
        "includeOtherFields": True,
        "options": {},
    }
    return {
        "name": "Order lines",
        "nodes": [
            webhook(),
            node("Split Out", "splitOut", {"fieldToSplitOut": "body.lines", "options": {}}, 1),
            node("Filter", "filter", condition, 2.2),
            node("Label", "set", label, 3.4),
            node(
                "Sort",
                "sort",
                {"sortFieldsUi": {"sortField": [{"fieldName": "price", "order": "descending"}]}, "options": {}},
                1,
            ),
            node("Limit", "limit", {"maxItems": 2}, 1),
            node(
                "Aggregate",
                "aggregate",
                {"fieldsToAggregate": {"fieldToAggregate": [{"fieldToAggregate": "label"}]}, "options": {}},
                1,
            ),
            node("Reply", "respondToWebhook", {"respondWith": "firstIncomingItem", "options": {}}, 1.1),
        ],
        "connections": {
            "Webhook": {"main": [[link("Split Out")]]},
            "Split Out": {"main": [[link("Filter")]]},
            "Filter": {"main": [[link("Label")]]},
            "Label": {"main": [[link("Sort")]]},
            "Sort": {"main": [[link("Limit")]]},
            "Limit": {"main": [[link("Aggregate")]]},
            "Aggregate": {"main": [[link("Reply")]]},
        },
        "settings": {"executionOrder": "v1"},
    }


def with_code_ai_and_credentials() -> dict:
    """A workflow that imports with a report: a Code node, an AI agent, an HTTP call needing a credential."""
    return {
        "name": "Mixed",
        "nodes": [
            node("Start", "manualTrigger", {}, 1),
            node("Code", "code", {"jsCode": "return $input.all();"}, 2),
            node(
                "Call",
                "httpRequest",
                {
                    "url": "https://example.com",
                    "authentication": "genericCredentialType",
                    "genericAuthType": "httpHeaderAuth",
                    "options": {},
                },
                4.2,
            ),
            {
                "name": "Agent",
                "type": "@n8n/n8n-nodes-langchain.agent",
                "typeVersion": 1.7,
                "position": [0, 0],
                "parameters": {"options": {}},
            },
        ],
        "connections": {
            "Start": {"main": [[link("Code")]]},
            "Code": {"main": [[link("Call")]]},
            "Call": {"main": [[link("Agent")]]},
        },
        "settings": {"executionOrder": "v1"},
    }
