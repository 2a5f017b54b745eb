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


def _dates(name, operation, field, **parameters):
    params = {"operation": operation, "outputFieldName": field, "options": {"includeInputFields": True}, **parameters}
    return node(name, "dateTime", params, 2)


def dates_per_item() -> dict:
    """Date & Time 2 on each item of a list: add a month, format, time between, round down, extract the week."""
    return {
        "name": "Dates per item",
        "nodes": [
            webhook(),
            node("Events", "splitOut", {"fieldToSplitOut": "body.events", "options": {}}, 1),
            _dates("Next month", "addToDate", "next", magnitude="={{ $json.at }}", timeUnit="months", duration=1),
            _dates(
                "Day", "formatDate", "day", date="={{ $json.next }}", format="custom", customFormat="dd/MM/yyyy HH:mm"
            ),
            _dates(
                "Gap",
                "getTimeBetweenDates",
                "gap",
                startDate="={{ $json.at }}",
                endDate="={{ $json.next }}",
                units=["day", "hour"],
            ),
            _dates("Start of day", "roundDate", "start", date="={{ $json.at }}", mode="roundDown", toNearest="day"),
            _dates("Week", "extractDate", "week", date="={{ $json.at }}", part="week"),
            node("Reply", "respondToWebhook", {"respondWith": "allIncomingItems", "options": {}}, 1.1),
        ],
        "connections": {
            "Webhook": {"main": [[link("Events")]]},
            "Events": {"main": [[link("Next month")]]},
            "Next month": {"main": [[link("Day")]]},
            "Day": {"main": [[link("Gap")]]},
            "Gap": {"main": [[link("Start of day")]]},
            "Start of day": {"main": [[link("Week")]]},
            "Week": {"main": [[link("Reply")]]},
        },
        "settings": {"executionOrder": "v1"},
    }


def _number_rule(field, value):
    return {
        "conditions": {
            "options": {"caseSensitive": True, "leftValue": "", "typeValidation": "strict", "version": 2},
            "conditions": [
                {
                    "id": field,
                    "leftValue": f"={{{{ $json.{field} }}}}",
                    "rightValue": value,
                    "operator": {"type": "number", "operation": "gt"},
                }
            ],
            "combinator": "and",
        },
        "renameOutput": False,
    }


def routing_and_matching() -> dict:
    """Switch to all matching outputs, Merge keeping the non-matches of both inputs, Edit Fields with callbacks
    (`$input.all().filter(...).map(...)`) and a Luxon format of `$now`."""
    switch = {
        "rules": {"values": [_number_rule("qty", 2), _number_rule("price", 10)]},
        "options": {"allMatchingOutputs": True, "fallbackOutput": "extra"},
    }
    merge = {
        "mode": "combine",
        "advanced": True,
        "mergeByFields": {"values": [{"field1": "name", "field2": "name"}]},
        "joinMode": "keepNonMatches",
        "outputDataFrom": "both",
        "options": {},
    }
    summary = {
        "assignments": {
            "assignments": [
                {
                    "id": "1",
                    "name": "names",
                    "value": "={{ $input.all().map(i => i.json.name).join(',') }}",
                    "type": "string",
                },
                {
                    "id": "2",
                    "name": "first",
                    "value": "={{ $input.all().filter(i => i.json._source === 'input1').length }}",
                    "type": "number",
                },
                {"id": "3", "name": "upper", "value": "={{ $json.name.toUpperCase() }}", "type": "string"},
                {"id": "4", "name": "year", "value": "={{ $now.toFormat('yyyy') }}", "type": "string"},
                {"id": "5", "name": "source", "value": "={{ $json._source }}", "type": "string"},
            ]
        },
        "options": {},
    }
    return {
        "name": "Routing and matching",
        "nodes": [
            webhook(),
            node("Items", "splitOut", {"fieldToSplitOut": "body.items", "options": {}}, 1),
            node("Switch", "switch", switch, 3.2),
            node("Merge", "merge", merge, 3.1),
            node("Summary", "set", summary, 3.4),
            node("Reply", "respondToWebhook", {"respondWith": "allIncomingItems", "options": {}}, 1.1),
        ],
        "connections": {
            "Webhook": {"main": [[link("Items")]]},
            "Items": {"main": [[link("Switch")]]},
            "Switch": {"main": [[link("Merge")], [link("Merge", index=1)], []]},
            "Merge": {"main": [[link("Summary")]]},
            "Summary": {"main": [[link("Reply")]]},
        },
        "settings": {"executionOrder": "v1"},
    }
