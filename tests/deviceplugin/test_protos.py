"""The committed gRPC modules are what `scripts/generate_protos.py` makes from the `.proto` files."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2

from kubemig.deviceplugin.api import pluginapi, pluginrpc, podresourcesapi

ROOT = Path(__file__).resolve().parents[2]
API_DIR = ROOT / "src" / "kubemig" / "deviceplugin" / "api"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_protos", ROOT / "scripts" / "generate_protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("grpc_tools")
    out = tmp_path_factory.mktemp("api")
    _script().generate(out)
    return out


def _descriptor(path: Path) -> descriptor_pb2.FileDescriptorProto:
    """The serialized FileDescriptorProto a generated `_pb2.py` registers: the wire contract itself."""
    match = re.search(r"AddSerializedFile\((b'.*?')\)\n", path.read_text(), flags=re.DOTALL)
    assert match, f"{path.name}: no serialized descriptor"
    parsed = descriptor_pb2.FileDescriptorProto()
    parsed.ParseFromString(ast.literal_eval(match.group(1)))
    return parsed


def test_committed_descriptors_match_the_proto_files(regenerated: Path) -> None:
    generated = sorted(p.name for p in regenerated.iterdir())
    committed = sorted(p.name for p in API_DIR.iterdir() if p.name.endswith((".py", ".pyi")) and "_pb2" in p.name)
    assert committed == generated, "run: python scripts/generate_protos.py"
    for name in (n for n in generated if n.endswith("_pb2.py")):
        assert _descriptor(API_DIR / name) == _descriptor(regenerated / name), (
            f"{name} is stale: run python scripts/generate_protos.py"
        )


def test_committed_code_is_what_the_script_writes(regenerated: Path) -> None:
    import grpc_tools

    stamped = re.search(r"GRPC_GENERATED_VERSION = '([^']+)'", (API_DIR / "deviceplugin_v1beta1_pb2_grpc.py").read_text())
    assert stamped
    installed = getattr(grpc_tools, "__version__", None) or _grpc_tools_version()
    if installed != stamped.group(1):
        pytest.skip(f"generated with grpcio-tools {stamped.group(1)}, {installed} installed: text may differ")
    for path in sorted(regenerated.iterdir()):
        assert (API_DIR / path.name).read_text() == path.read_text(), (
            f"{path.name} is stale: run python scripts/generate_protos.py"
        )


def _grpc_tools_version() -> str:
    from importlib.metadata import version

    return version("grpcio-tools")


def test_generated_imports_are_package_relative() -> None:
    for path in API_DIR.glob("*_pb2_grpc.py*"):
        assert not re.search(r"^import \w+_pb2\b", path.read_text(), flags=re.MULTILINE), path.name


def test_wire_contract_matches_the_kubernetes_api() -> None:
    """Spot checks of names and field numbers that the kubelet relies on."""
    assert pluginapi.DESCRIPTOR.package == "v1beta1"
    assert podresourcesapi.DESCRIPTOR.package == "v1"
    numbers = {
        "RegisterRequest": {"version": 1, "endpoint": 2, "resource_name": 3, "options": 4},
        "DevicePluginOptions": {"pre_start_required": 1, "get_preferred_allocation_available": 2},
        "Device": {"ID": 1, "health": 2, "topology": 3},
        "ContainerPreferredAllocationRequest": {
            "available_deviceIDs": 1,
            "must_include_deviceIDs": 2,
            "allocation_size": 3,
        },
        "ContainerAllocateResponse": {"envs": 1, "mounts": 2, "devices": 3, "annotations": 4, "cdi_devices": 5},
        "DeviceSpec": {"container_path": 1, "host_path": 2, "permissions": 3},
    }
    for message, fields in numbers.items():
        descriptor = pluginapi.DESCRIPTOR.message_types_by_name[message]
        assert {f.name: f.number for f in descriptor.fields} == fields, message
    services = {s.name: [m.name for m in s.methods] for s in pluginapi.DESCRIPTOR.services_by_name.values()}
    assert services == {
        "Registration": ["Register"],
        "DevicePlugin": [
            "GetDevicePluginOptions",
            "ListAndWatch",
            "GetPreferredAllocation",
            "Allocate",
            "PreStartContainer",
        ],
    }
    lister = podresourcesapi.DESCRIPTOR.services_by_name["PodResourcesLister"]
    assert [m.name for m in lister.methods] == ["List", "GetAllocatableResources", "Get"]
    assert hasattr(pluginrpc, "add_DevicePluginServicer_to_server")
