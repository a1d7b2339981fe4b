"""The profile a `-cgi`/`-cci` token names: an ID or a name (`3g.20gb`, `MIG 3g.20gb`), matched against
what the driver offers on that GPU; names a profile carried in other drivers also work where the
catalog knows the GPU."""

from __future__ import annotations

from kubemig.errors import KubemigError
from kubemig.geometry import normalize_profile_name, resolve_profile
from kubemig.nvml import CiProfileInfo, GiProfileInfo, Nvml


def gi_profile_for(nvml: Nvml, gpu_index: int, token: str) -> GiProfileInfo | None:
    offered = nvml.gi_profiles(gpu_index)
    text = token.strip()
    if text.isdigit():
        return next((p for p in offered if p.id == int(text)), None)
    wanted = normalize_profile_name(text)
    found = next((p for p in offered if p.name.lower() == wanted), None)
    if found is not None:
        return found
    try:
        shape = resolve_profile(nvml.geometry(gpu_index), text)
    except KubemigError:
        return None
    return next((p for p in offered if p.id == shape.id), None)


def ci_profile_for(profiles: list[CiProfileInfo], token: str) -> CiProfileInfo | None:
    text = token.strip()
    if text.isdigit():
        return next((p for p in profiles if p.id == int(text)), None)
    wanted = normalize_profile_name(text)
    return next((p for p in profiles if p.name.lower() == wanted), None)


def split_list(text: str) -> list[str]:
    """`9,3g.20gb, 19` -> ['9', '3g.20gb', '19']."""
    return [t.strip() for t in text.split(",") if t.strip()]
