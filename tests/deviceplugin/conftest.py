from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubemig.testing.kubelet import KubeletStandIn


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A temp dir short enough for Unix socket paths (107 bytes; pytest's tmp_path can be longer)."""
    directory = Path(tempfile.mkdtemp(prefix="kdp", dir="/tmp"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def kubelet(short_dir: Path) -> Iterator[KubeletStandIn]:
    """The stand-in laid out as on a node: device-plugins/kubelet.sock and pod-resources/kubelet.sock."""
    standin = KubeletStandIn(short_dir / "device-plugins", pod_resources_dir=short_dir / "pod-resources")
    standin.start()
    yield standin
    standin.stop()
