"""System checks of the node registry: every registered config schema is a valid Draft 2020-12 schema."""

from django.core.checks import Error, register

from .registry import class_path, registry, schema_errors

INVALID_SCHEMA_ID = "nodes.E001"
INVALID_SCHEMA_MESSAGE = 'Node type "{name}" has an invalid config_schema at {where}: {message}'


@register("nodes")
def check_node_schemas(app_configs=None, **kwargs) -> list[Error]:
    """Registration checks schemas too; this catches a schema changed after registration (e.g. by a plugin)."""
    errors = []
    for node_class in registry.all():
        for where, message in schema_errors(node_class.config_schema):
            errors.append(
                Error(
                    INVALID_SCHEMA_MESSAGE.format(name=node_class.type_name, where=where or "/", message=message),
                    obj=class_path(node_class),
                    id=INVALID_SCHEMA_ID,
                )
            )
    return errors
