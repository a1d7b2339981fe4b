"""The one-line messages nvidia-smi prints around MIG commands (mig-facts sections 7 and 8).

Numbers are `%2d` as nvidia-smi prints them. Lines marked unconfirmed were not seen from a real driver
and follow the wording of their seen siblings.
"""

from __future__ import annotations

from kubemig.smi.generation import Generation

NO_MIG_DEVICES = "No MIG-enabled devices found."
ALL_DONE = "All done."
TERMINATING_EARLY = "Terminating early due to previous errors."
TREATING_AS_WARNING = "Treating as warning and moving on."


def gi_created(gpu: int, gi_id: int, profile_name: str, profile_id: int) -> str:
    return f"Successfully created GPU instance ID {gi_id:2d} on GPU {gpu:2d} using profile MIG {profile_name} (ID {profile_id:2d})"


def ci_created(gpu: int, gi_id: int, ci_id: int, profile_name: str, profile_id: int, gen: Generation) -> str:
    if gen < Generation.R470:
        # R450-era guides print no CI ID (the branch that added it is unconfirmed)
        return (
            f"Successfully created compute instance on GPU {gpu:2d} GPU instance ID {gi_id:2d} "
            f"using profile MIG {profile_name} (ID {profile_id:2d})"
        )
    return (
        f"Successfully created compute instance ID {ci_id:2d} on GPU {gpu:2d} GPU instance ID {gi_id:2d} "
        f"using profile MIG {profile_name} (ID {profile_id:2d})"
    )


def ci_destroyed(gpu: int, gi_id: int, ci_id: int) -> str:
    return (
        f"Successfully destroyed compute instance ID {ci_id:2d} from GPU {gpu:2d} GPU instance ID {gi_id:2d}"
    )


def gi_destroyed(gpu: int, gi_id: int) -> str:
    return f"Successfully destroyed GPU instance ID {gi_id:2d} from GPU {gpu:2d}"


def gi_create_failed(gpu: int, token: str, error: str) -> str:
    """`token` is the profile exactly as the user typed it (`9`, `3g.20gb`)."""
    return f"Unable to create a GPU instance on GPU {gpu:2d} using profile {token}: {error}"


def ci_create_failed(gpu: int, gi_id: int, token: str, error: str) -> str:
    # unconfirmed: worded after the GPU-instance line
    return f"Unable to create a compute instance on GPU {gpu:2d} GPU instance ID {gi_id:2d} using profile {token}: {error}"


def gi_destroy_failed(gpu: int, gi_id: int, error: str) -> str:
    return f"Unable to destroy GPU instance ID {gi_id:2d} from GPU {gpu:2d}: {error}"


def ci_destroy_failed(gpu: int, gi_id: int, ci_id: int, error: str) -> str:
    # unconfirmed: worded after the GPU-instance line
    return f"Unable to destroy compute instance ID {ci_id:2d} from GPU {gpu:2d} GPU instance ID {gi_id:2d}: {error}"


def failed(action: str, error: str) -> str:
    """`Failed to create GPU instances: Insufficient Resources` (action: `create GPU instances`)."""
    return f"Failed to {action}: {error}"


def none_found(what: str, error: str = "Not Found") -> str:
    """`No GPU instances found: Not Found` (what: `GPU instances`, `compute instances`)."""
    return f"No {what} found: {error}"


def mig_mode_set(bus_id: str, enabled: bool) -> str:
    return f"{'Enabled' if enabled else 'Disabled'} MIG Mode for GPU {bus_id}"


def mig_mode_pending(bus_id: str, enabled: bool, reason: str) -> tuple[str, str]:
    """The two lines when the change waits for a GPU reset (the disable wording is unconfirmed)."""
    state = "enable" if enabled else "disable"
    return (
        f"Warning: MIG mode is in pending {state} state for GPU {bus_id}:{reason}",
        f"Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU {bus_id}",
    )


def mig_mode_failed(bus_id: str, enabled: bool, error: str) -> str:
    return f"Unable to {'enable' if enabled else 'disable'} MIG Mode for GPU {bus_id}: {error}"
