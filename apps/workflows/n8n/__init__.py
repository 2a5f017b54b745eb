"""The n8n translator: n8n workflow JSON in, a ConcertMaster definition and a per-node report out.

Pure (no ORM, no network): the sync service (apps/integrations) and the workflow import both call it.
"""

from .expressions import Scope, Untranslatable, config_value, js_to_jinja, value_expression
from .translate import (
    CHANGED,
    REFUSED,
    TRANSLATED,
    Translation,
    is_n8n_document,
    is_n8n_workflow,
    translate_document,
    translate_workflow,
)

__all__ = [
    "CHANGED",
    "REFUSED",
    "TRANSLATED",
    "Scope",
    "Translation",
    "Untranslatable",
    "config_value",
    "is_n8n_document",
    "is_n8n_workflow",
    "js_to_jinja",
    "translate_document",
    "translate_workflow",
    "value_expression",
]
