"""The layout engine: pure functions over MIG layouts (no I/O).

geo = geometry_for("A100-SXM4-40GB")
layout = validate(geo, parse_layout_spec("3g.20gb,2g.10gb@0,19,19"))
plan = plan_transition(geo, layout, parse_layout_spec("7g.40gb"), busy=())
"""

from __future__ import annotations

from kubemig.geometry.diagram import Row, render_slots, slot_width
from kubemig.geometry.enumerate import enumerate_layouts, free_counts, is_maximal, maximal_layouts
from kubemig.geometry.numbering import Numbering, default_start, gi_id
from kubemig.geometry.place import place, preference
from kubemig.geometry.profiles import kubernetes_name, normalize_profile_name, resolve_profile
from kubemig.geometry.rules import can_add, count_problems, overlap_problems
from kubemig.geometry.shapes import GpuGeometry, Instance, Layout, Placement, ProfileShape, geometry_for
from kubemig.geometry.transition import Action, Step, TransitionPlan, plan_transition
from kubemig.geometry.validate import InstanceSpec, parse_layout_spec, validate

__all__ = [
    "Action",
    "GpuGeometry",
    "Instance",
    "InstanceSpec",
    "Layout",
    "Numbering",
    "Placement",
    "ProfileShape",
    "Step",
    "TransitionPlan",
    "can_add",
    "count_problems",
    "default_start",
    "enumerate_layouts",
    "free_counts",
    "geometry_for",
    "gi_id",
    "is_maximal",
    "kubernetes_name",
    "maximal_layouts",
    "normalize_profile_name",
    "overlap_problems",
    "parse_layout_spec",
    "place",
    "plan_transition",
    "preference",
    "Row",
    "render_slots",
    "slot_width",
    "resolve_profile",
    "validate",
]
