"""Profile names as users write them: `1g.5gb`, `MIG 1g.5gb`, profile ID `19`, `1g.5gb.me` (the
Kubernetes form of `1g.5gb+me`), `mig-2g.10gb`, and names a profile carried in other drivers."""

from __future__ import annotations

import difflib
import re

from kubemig.catalog import find_model
from kubemig.errors import ProfileError
from kubemig.geometry.shapes import GpuGeometry, ProfileShape

_K8S_ATTRIBUTE = re.compile(r"^(\d+g\.\d+gb)\.([a-z][a-z.]*)$")


def normalize_profile_name(token: str) -> str:
    """Lower case, without `MIG `/`mig-`/`nvidia.com/mig-` prefixes, Kubernetes `.me` back to `+me`."""
    name = token.strip().lower()
    for prefix in ("nvidia.com/mig-", "mig-", "mig "):
        if name.startswith(prefix):
            name = name[len(prefix) :].strip()
    if match := _K8S_ATTRIBUTE.match(name):
        name = f"{match.group(1)}+{match.group(2)}"
    return name


def kubernetes_name(profile_name: str) -> str:
    """`1g.5gb+me` -> `1g.5gb.me`: the form resource names use (`nvidia.com/mig-1g.5gb.me`)."""
    return profile_name.replace("+", ".")


def resolve_profile(geo: GpuGeometry, token: str | int) -> ProfileShape:
    """The profile `token` names on this GPU and driver, by name, alias or NVML profile ID."""
    text = str(token).strip()
    if text.isdigit():
        shape = geo.by_id.get(int(text))
        if shape is None:
            ids = ", ".join(f"{s.id} ({s.name})" for s in geo.shapes)
            raise ProfileError(f"{geo.label} has no GPU instance profile with ID {text}: valid IDs are {ids}")
        return shape
    wanted = normalize_profile_name(text)
    for shape in geo.shapes:
        if wanted == shape.name.lower() or wanted in (a.lower() for a in shape.profile.aliases):
            return shape
    raise ProfileError(_unknown_profile_message(geo, text, wanted))


def _unknown_profile_message(geo: GpuGeometry, text: str, wanted: str) -> str:
    model = find_model(geo.model.key)
    for profile in model.gi_profiles:
        if wanted in (profile.name.lower(), *(a.lower() for a in profile.aliases)):
            if profile.since_driver > geo.branch:
                return (
                    f"profile {text!r} needs driver R{profile.since_driver} or later; {geo.label} does not list it: "
                    "upgrade the driver or pick another profile"
                )
            return f"profile {text!r} is not offered on {geo.label}"
    names = [s.name for s in geo.shapes]
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.5)
    hint = f"closest: {', '.join(close)}; " if close else ""
    return f"profile {text!r} does not exist on {geo.label}: {hint}valid profiles are {', '.join(names)}"
