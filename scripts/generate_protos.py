#!/usr/bin/env python3
"""Generate the Python gRPC modules (and their type stubs) for the kubelet APIs kubemig speaks.

    python scripts/generate_protos.py            # rewrite src/kubemig/deviceplugin/api/
    python scripts/generate_protos.py --out DIR  # write elsewhere (the staleness test does)

Runs grpc_tools' protoc with the mypy-protobuf plugins over every `.proto` file in
`src/kubemig/deviceplugin/api/protos/`, then makes the generated imports package-relative
(protoc writes `import x_pb2`, which only works with the directory on sys.path). The output is a
pure function of the `.proto` files and the tool versions, so a test can regenerate and compare.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API_DIR = ROOT / "src" / "kubemig" / "deviceplugin" / "api"
PROTO_DIR = API_DIR / "protos"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _plugin(name: str) -> str:
    """The mypy-protobuf plugin executables live next to the interpreter in a virtualenv."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"generate_protos: {name} not found: pip install 'mypy-protobuf>=3.6'")
    return found


def _relative_imports(text: str, modules: set[str]) -> str:
    """`import foo_pb2 as bar` -> `from . import foo_pb2 as bar` for the modules generated here."""
    for module in sorted(modules):
        text = re.sub(rf"^import {module}\b", f"from . import {module}", text, flags=re.MULTILINE)
        text = re.sub(rf"^from {module} import", f"from .{module} import", text, flags=re.MULTILINE)
    return text


def generate(out_dir: Path) -> list[Path]:
    """Write the generated modules for every proto into `out_dir`; returns the files written."""
    from grpc_tools import protoc

    protos = sorted(PROTO_DIR.glob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as raw:
        args = [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_DIR}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={raw}",
            f"--grpc_python_out={raw}",
            f"--mypy_out={raw}",
            f"--mypy_grpc_out={raw}",
            *(p.name for p in protos),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("generate_protos: protoc failed (see the messages above)")
        modules = {f"{p.stem}_pb2" for p in protos}
        written = []
        for path in sorted(Path(raw).iterdir()):
            if not path.name.endswith(GENERATED_SUFFIXES):
                continue
            target = out_dir / path.name
            target.write_text(_relative_imports(path.read_text(), modules))
            written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=API_DIR, help="directory to write (default: the package)")
    options = parser.parse_args()
    for path in generate(options.out):
        print(path.relative_to(options.out) if options.out != API_DIR else path.relative_to(ROOT))


if __name__ == "__main__":
    main()
