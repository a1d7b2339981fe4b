"""PCI device ids as mig-parted's `device-filter` writes them: `0x20B010DE` is device 0x20B0 of vendor
0x10DE (NVIDIA), optionally followed by `:0xSSSSVVVV`, the subsystem device and vendor."""

from __future__ import annotations

from dataclasses import dataclass

NVIDIA_VENDOR_ID = 0x10DE


@dataclass(frozen=True, slots=True)
class DeviceId:
    device: int
    vendor: int
    subsystem: int | None = None  # subsystem device << 16 | subsystem vendor, when the filter names one

    @staticmethod
    def parse(text: str) -> DeviceId:
        """`0x20B010DE` or `0x20B010DE:0x145F10DE`; ValueError says what a valid id looks like."""
        parts = text.strip().split(":")
        if len(parts) > 2 or not parts[0]:
            raise ValueError(_bad_id(text))
        try:
            packed = int(parts[0], 0)
            subsystem = int(parts[1], 0) if len(parts) == 2 else None
        except ValueError:
            raise ValueError(_bad_id(text)) from None
        if packed > 0xFFFFFFFF or packed < 0 or (subsystem is not None and not 0 <= subsystem <= 0xFFFFFFFF):
            raise ValueError(_bad_id(text))
        if packed <= 0xFFFF:
            # mig-parted reads this as vendor-only and matches nothing: almost always a forgotten 10DE
            raise ValueError(
                f"{text!r} names only a device, so it would match no GPU: write it with NVIDIA's vendor id "
                f"appended, 0x{packed:04X}10DE"
            )
        return DeviceId(packed >> 16, packed & 0xFFFF, subsystem)

    @staticmethod
    def of(pci_device_id: int, vendor: int = NVIDIA_VENDOR_ID) -> DeviceId:
        """From a catalog device id (0x20B0) or NVML's combined `pciDeviceId` (0x20B010DE)."""
        if pci_device_id > 0xFFFF:
            return DeviceId(pci_device_id >> 16, pci_device_id & 0xFFFF)
        return DeviceId(pci_device_id, vendor)

    def matches(self, gpu: DeviceId) -> bool:
        """A filter without a subsystem matches every board of the device; with one, only that board."""
        if (self.device, self.vendor) != (gpu.device, gpu.vendor):
            return False
        return self.subsystem is None or self.subsystem == gpu.subsystem

    def __str__(self) -> str:
        primary = f"0x{self.device:04X}{self.vendor:04X}"
        return primary if self.subsystem is None else f"{primary}:0x{self.subsystem:08X}"


def _bad_id(text: str) -> str:
    return f"{text!r} is not a PCI id: write device and vendor in hex, e.g. 0x20B010DE for an A100-SXM4-40GB"
