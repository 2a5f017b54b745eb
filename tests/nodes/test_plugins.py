"""A third-party package adds a node through the `concertmaster.nodes` entry-point group.

The example package in tests/fixtures/cm_plugin_example is installed with pip into a temporary
directory (not the shared virtualenv), put on sys.path, and discovered the way startup discovers plugins.
"""

import importlib
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from apps.nodes.base import NodeContext, NodeError
from apps.nodes.models import NodeType
from apps.nodes.registry import ENTRY_POINT_GROUP, NodeRegistrationError, NodeRegistry, registry
from apps.nodes.services import node_type_sync

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "cm_plugin_example"
PLUGIN_TYPE = "example.greeting"


def _forget_plugin(site: Path) -> None:
    if str(site) in sys.path:
        sys.path.remove(str(site))
    for module in [name for name in sys.modules if name.split(".")[0] == "cm_plugin_example"]:
        del sys.modules[module]
    if PLUGIN_TYPE in registry:
        registry.unregister(PLUGIN_TYPE)
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """pip-install the fixture package (from a copy: setuptools writes build files beside the sources)."""
    root = tmp_path_factory.mktemp("plugin")
    source, site = root / "source", root / "site"
    shutil.copytree(FIXTURE, source)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


@pytest.fixture
def installed_plugin(plugin_site):
    sys.path.insert(0, str(plugin_site))
    importlib.invalidate_caches()
    yield plugin_site
    _forget_plugin(plugin_site)


@pytest.mark.slow
@pytest.mark.django_db
def test_an_installed_plugin_node_is_discovered_registered_and_synced(installed_plugin, client, user):
    names = {entry_point.name for entry_point in entry_points(group=ENTRY_POINT_GROUP)}
    assert "greeting" in names
    assert PLUGIN_TYPE not in registry

    loaded = registry.load_entry_points()

    node_class = registry.get(PLUGIN_TYPE)
    assert loaded == [node_class]
    assert node_class.__module__ == "cm_plugin_example.nodes"
    assert registry.load_entry_points() == [node_class]  # loading again is harmless

    result = node_type_sync()
    assert result.created == (PLUGIN_TYPE,)
    row = NodeType.objects.get(name=PLUGIN_TYPE)
    assert row.implementation == "cm_plugin_example.nodes.GreetingNode"
    assert row.display_name == "Greeting (example plugin)"

    client.force_login(user)
    listed = client.get("/api/v1/node-types/", {"search": PLUGIN_TYPE}).json()
    assert [entry["name"] for entry in listed] == [PLUGIN_TYPE]
    check = client.post(
        f"/api/v1/node-types/{PLUGIN_TYPE}/validate/", {"config": {"punctuation": ";"}}, content_type="application/json"
    )
    assert check.json()["errors"][0]["path"] == "/punctuation"

    ctx = NodeContext(
        node_id="g", execution_id="e", organization_id="o", config={"greeting": "Hi"}, inputs={"main": {"name": "Ada"}}
    )
    assert node_class().run(ctx).outputs == {"main": {"message": "Hi, Ada!"}}
    with pytest.raises(NodeError, match="no name"):
        node_class().run(NodeContext(node_id="g", execution_id="e", organization_id="o", config={}, inputs={}))


@pytest.mark.slow
@pytest.mark.django_db
def test_an_uninstalled_plugin_leaves_the_registry_and_its_row_is_dropped_on_sync(installed_plugin):
    registry.load_entry_points()
    node_type_sync()
    _forget_plugin(installed_plugin)
    assert node_type_sync().deleted == (PLUGIN_TYPE,)
    assert not NodeType.objects.filter(name=PLUGIN_TYPE).exists()


def _dist_info(site: Path, name: str, entry_points_text: str) -> None:
    """An importlib.metadata distribution on disk: enough for entry-point discovery."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points_text)


@pytest.fixture
def on_path(tmp_path):
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for module in [name for name in sys.modules if name.startswith("cm_broken_")]:
        del sys.modules[module]
    importlib.invalidate_caches()


def test_a_plugin_that_fails_to_import_stops_startup_with_its_name(on_path):
    _dist_info(on_path, "cm_broken_import", "[cm.test.broken]\nbroken = cm_broken_missing.nodes:Node\n")
    with pytest.raises(NodeRegistrationError, match=r'Entry point "broken" of group "cm\.test\.broken" failed to load'):
        NodeRegistry().load_entry_points(group="cm.test.broken")


def test_a_plugin_whose_node_clashes_with_a_built_in_is_rejected(on_path):
    (on_path / "cm_broken_clash.py").write_text(
        "from apps.nodes.builtin.transforms import SetNode\n\nclass Impostor(SetNode):\n    pass\n"
    )
    _dist_info(on_path, "cm_broken_clash", "[cm.test.clash]\nimpostor = cm_broken_clash:Impostor\n")
    with pytest.raises(
        NodeRegistrationError, match=r'Node type "set" of cm_broken_clash\.Impostor is already registered'
    ):
        registry.load_entry_points(group="cm.test.clash")
    assert registry.get("set").__module__ == "apps.nodes.builtin.transforms"


def test_a_module_entry_point_registers_through_its_decorators(on_path):
    (on_path / "cm_broken_module.py").write_text(
        "from apps.nodes.base import Node, NodeResult\n"
        "from apps.nodes.registry import registry\n\n"
        "@registry.register\n"
        "class Hello(Node):\n"
        "    type_name = 'cm_test.hello'\n    category = 'transforms'\n"
        "    config_schema = {'type': 'object', 'additionalProperties': False}\n"
        "    def run(self, ctx):\n        return NodeResult.single('hello')\n"
    )
    _dist_info(on_path, "cm_broken_module", "[cm.test.module]\nnodes = cm_broken_module\n")
    try:
        assert registry.load_entry_points(group="cm.test.module") == []
        assert "cm_test.hello" in registry
    finally:
        registry.unregister("cm_test.hello")
