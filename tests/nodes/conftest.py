"""Fixtures for the node tests."""

import pytest


@pytest.fixture(autouse=True)
def node_type_rows_match_the_registry(request):
    """Drop NodeType rows of types the registry no longer holds before a database test of this package.

    Engine tests register test node types for their duration; a transactional test's flush re-runs the
    post_migrate sync, and when that happens while they are registered their rows outlive them. The rows
    of the shipped registry are what these tests are about.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction"):
        yield
        return
    request.getfixturevalue("db")
    from apps.nodes.models import NodeType
    from apps.nodes.registry import registry

    NodeType.objects.exclude(name__in=[node.type_name for node in registry.all()]).delete()
    yield
