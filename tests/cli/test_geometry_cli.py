from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kubemig.catalog import all_models
from kubemig.cli import cli, main
from tests.helpers import run_kubemig


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_models_lists_every_catalog_model() -> None:
    code, out, _ = invoke("models", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["model"] for r in rows} == {m.key for m in all_models()}
    a100 = next(r for r in rows if r["model"] == "A100-SXM4-40GB")
    assert a100["pci_device_ids"] == ["0x20B0"]
    assert a100["profiles"] == ["1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"]
    code, out, _ = invoke("models")
    assert code == 0 and "H100-80GB-HBM3" in out and "0x2330" in out


def test_geometry_list_maximal_json() -> None:
    code, out, _ = invoke(
        "geometry",
        "list",
        "--gpu",
        "A100-SXM4-40GB",
        "--profiles",
        "1g.5gb,2g.10gb,3g.20gb,4g.20gb,7g.40gb",
        "--maximal",
        "--json",
    )
    assert code == 0
    layouts = json.loads(out)
    assert len(layouts) == 19
    assert [{"profile": "7g.40gb", "start": 0, "size": 8}] in layouts
    assert [
        {"profile": "4g.20gb", "start": 0, "size": 4},
        {"profile": "3g.20gb", "start": 4, "size": 4},
    ] in layouts


def test_geometry_list_text_counts_and_numbers_each_layout() -> None:
    code, out, _ = invoke("geometry", "list", "--gpu", "A30", "--maximal")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{len(lines) - 1} maximal layouts of A30 (driver R580)")
    assert lines[1].split()[0] == "1"


@pytest.mark.parametrize("model", [m.key for m in all_models()])
def test_geometry_list_and_check_work_on_every_model(model: str) -> None:
    code, out, _ = invoke("geometry", "list", "--gpu", model, "--maximal", "--json")
    assert code == 0
    first = json.loads(out)[-1]
    spec = ",".join(f"{i['profile']}@{i['start']}" for i in first)
    code, out, _ = invoke("geometry", "check", "--gpu", model, spec, "--json")
    assert code == 0, out
    assert json.loads(out)["valid"] is True


def test_geometry_check_prints_placements_ids_and_a_diagram() -> None:
    code, out, _ = invoke("geometry", "check", "--gpu", "A100-SXM4-40GB", "3g.20gb,2g.10gb@0,19,19")
    assert code == 0
    assert out.splitlines()[0] == (
        "valid layout for A100-SXM4-40GB (driver R580): 4 GPU instances, 7/7 compute slices, 8/8 placement units"
    )
    assert "  3g.20gb            9  4:4         2" in out
    assert "|2g.10gb      |1g.5gb|1g.5gb|3g.20gb                    |" in out
    assert "|GI 3         |GI 9  |GI 10 |GI 2                       |" in out


def test_geometry_check_swapped_numbering() -> None:
    code, out, _ = invoke(
        "geometry",
        "check",
        "--gpu",
        "A100-PCIE-40GB",
        "--numbering",
        "swapped",
        "--json",
        "4g.20gb,2g.10gb,19",
    )
    assert code == 0
    ids = {(i["profile"], i["start"]): i["gi_id"] for i in json.loads(out)["instances"]}
    assert ids == {("4g.20gb", 0): 2, ("2g.10gb", 4): 3, ("1g.5gb", 6): 9}


def test_geometry_check_invalid_exits_1_with_the_reason() -> None:
    code, out, err = invoke("geometry", "check", "--gpu", "A100-SXM4-40GB", "3g.20gb,3g.20gb,3g.20gb")
    assert code == 1
    assert err.strip() == (
        "kubemig: error: invalid layout for A100-SXM4-40GB (driver R580): "
        "A100-SXM4-40GB allows at most 2 x 3g.20gb, the layout has 3"
    )
    code, out, _ = invoke("geometry", "check", "--gpu", "A100-SXM4-40GB", "--json", "3g.20gb,3g.20gb,3g.20gb")
    assert code == 1 and json.loads(out)["valid"] is False


def test_unknown_gpu_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["geometry", "check", "--gpu", "Z100", "7g.40gb"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("kubemig: error: unknown GPU model 'Z100'") and err.count("\n") == 1


def test_old_driver_for_a_newer_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["geometry", "list", "--gpu", "H100-80GB-HBM3", "--driver", "470.57.02"])
    assert info.value.code == 1
    assert "H100-80GB-HBM3 needs driver R525 or later" in capsys.readouterr().err


def test_the_kubemig_command_runs_as_a_subprocess() -> None:
    done = run_kubemig("geometry", "check", "--gpu", "NVIDIA H100 80GB HBM3", "7g.80gb")
    assert done.returncode == 0, done.stderr
    assert "valid layout for H100-80GB-HBM3" in done.stdout
    done = run_kubemig("geometry", "check", "--gpu", "H100-80GB-HBM3", "7g.80gb,1g.10gb")
    assert done.returncode == 1
    assert done.stderr.startswith("kubemig: error: invalid layout") and done.stderr.count("\n") == 1
    assert done.stdout == ""


FROM = "2g.10gb@0,1g.5gb@2,1g.5gb@3,3g.20gb@4"


def transition(*args: str) -> tuple[int, str, str]:
    return invoke("geometry", "transition", "--gpu", "A100-SXM4-40GB", "--from", FROM, *args)


def test_geometry_transition_keeps_busy_instances_and_names_the_steps() -> None:
    code, out, _ = transition("--busy", "1g.5gb@3,3g.20gb@4", "3g.20gb,1g.5gb,1g.5gb,1g.5gb,1g.5gb")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        f"from {FROM} to 1g.5gb@0,1g.5gb@1,1g.5gb@2,1g.5gb@3,3g.20gb@4 on A100-SXM4-40GB (driver R580):"
    )
    assert lines[1].startswith("keep 3, destroy 1, create 2 (destroying everything and recreating would")
    assert lines[1].endswith("and stop the busy instances):")
    assert lines[2:5] == ["  destroy 2g.10gb@0", "  create 1g.5gb@0", "  create 1g.5gb@1"]
    assert "|1g.5gb|1g.5gb|1g.5gb|1g.5gb|3g.20gb" in out


def test_geometry_transition_json_steps_lead_from_current_to_target() -> None:
    code, out, _ = transition("--busy", "3g.20gb@4", "--json", "4g.20gb,3g.20gb")
    assert code == 0
    plan = json.loads(out)
    layout = {(i["profile"], i["start"]) for i in plan["current"]}
    for step in plan["steps"]:
        item = (step["profile"], step["start"])
        if step["action"] == "destroy":
            layout.remove(item)
        else:
            layout.add(item)
    assert layout == {(i["profile"], i["start"]) for i in plan["target"]} == {("4g.20gb", 0), ("3g.20gb", 4)}
    assert {"profile": "3g.20gb", "start": 4, "size": 4} in plan["keep"]
    assert plan["busy_destroyed"] == []


def test_geometry_transition_refuses_to_destroy_a_busy_instance_unless_forced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["geometry", "transition", "--gpu", "A100-SXM4-40GB", "--from", FROM, "--busy", "3g.20gb@4"]
    with pytest.raises(SystemExit) as info:
        main([*args, "7g.40gb"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("kubemig: error: the target cannot be reached without destroying busy instances")
    assert "(3g.20gb@4)" in err and err.count("\n") == 1
    code, out, _ = invoke(*args, "--force", "7g.40gb")
    assert code == 0 and "  destroy 3g.20gb@4   (busy: forced)" in out.splitlines()
    code, out, _ = invoke(*args, "--force", "--json", "7g.40gb")
    assert json.loads(out)["busy_destroyed"] == [{"profile": "3g.20gb", "start": 4, "size": 4}]


def test_geometry_transition_bad_input_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--from", "2g.10gb@0", "--busy", "3g.20gb@4", "7g.40gb"], "--busy names 3g.20gb@4, which is not"),
        (["--from", "4g.20gb,4g.20gb", "7g.40gb"], "--from is not a valid layout of A100-SXM4-40GB"),
        (["--from", "4g.20gb", "3g.20gb,3g.20gb,3g.20gb"], "TARGET is not a valid layout of A100-SXM4-40GB"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as info:
            main(["geometry", "transition", "--gpu", "A100-SXM4-40GB", *args])
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith(f"kubemig: error: {message}") and err.count("\n") == 1, err


def test_geometry_transition_to_the_same_layout_changes_nothing() -> None:
    code, out, _ = transition("2g.10gb,1g.5gb,1g.5gb,3g.20gb")
    assert code == 0
    assert out.splitlines()[1] == "nothing to change: the GPU already has this layout"
