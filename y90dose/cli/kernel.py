"""``y90dose kernel``: Y-90 voxel S values for a voxel size (one octant of the kernel)."""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.errors import InputError
from y90dose.voxel.kernels import KernelSource, Tissue, voxel_kernel

UNITS = "mGy/(MBq s)"


def register(subparsers: Any) -> None:
    """Add ``kernel``."""
    parser = subparsers.add_parser(
        "kernel",
        help=COMMANDS["kernel"],
        description="Voxel S values of Y-90: Lanconelli 2012 at its tabulated sizes (3, 4.8, "
        "6 mm soft tissue; 4.8 mm bone), else the Graves 2019 point kernel integrated over "
        "the voxels. Prints one octant: S at offsets (i, j, k) >= 0 from the source voxel.",
    )
    parser.add_argument(
        "--voxel-size-mm",
        type=float,
        nargs="+",
        required=True,
        metavar="MM",
        help="one size (cubic voxel) or three sizes in array-axis order z y x (slice "
        "spacing first), mm",
    )
    parser.add_argument(
        "--tissue",
        choices=[t.value for t in Tissue],
        default=Tissue.SOFT.value,
        help="kernel medium: soft (ICRU soft tissue 1.04 g/mL, default) or bone (1.85 g/mL)",
    )
    parser.add_argument(
        "--source",
        choices=[s.value for s in KernelSource],
        default=KernelSource.AUTO.value,
        help="auto (default): Lanconelli when tabulated, else dpk; or force dpk / lanconelli",
    )
    add_json_flag(parser)
    # the library's argument says its order (voxel_size_zyx_mm); the option keeps its name
    parser.set_defaults(handler=run, field_options={"voxel_size_zyx_mm": "voxel_size_mm"})


def run(args: argparse.Namespace) -> CommandOutput:
    """Compute or load the kernel and return its octant."""
    sizes: list[float] = list(args.voxel_size_mm)
    if len(sizes) not in (1, 3):
        raise InputError("voxel_size_mm", sizes, "one number or three numbers (z y x) in mm")
    kernel = voxel_kernel(sizes[0] if len(sizes) == 1 else sizes, args.tissue, args.source)
    octant = kernel.octant()
    data: dict[str, Any] = {
        "voxel_size_zyx_mm": list(kernel.voxel_size_zyx_mm),
        "axis_order": ["z", "y", "x"],
        "tissue": kernel.tissue.value,
        "density_g_ml": kernel.density_g_ml,
        "source": kernel.source.value,
        "reference": kernel.reference,
        "units": UNITS,
        "s_values_index": "s_values[i][j][k]: target voxel at offset (i, j, k) >= 0 voxels "
        "from the source voxel along (z, y, x)",
        "s_values": octant.tolist(),
        "total_energy_mev_per_decay": kernel.total_energy_mev_per_decay,
        "notes": list(kernel.notes),
    }
    size_text = " x ".join(f"{h:g}" for h in kernel.voxel_size_zyx_mm)
    lines = [
        f"Y-90 voxel S values, {size_text} mm (z y x), {kernel.tissue.value} tissue "
        f"({kernel.density_g_ml:g} g/mL), source {kernel.source.value}",
        f"  {kernel.reference}",
        f"  S(0,0,0) = {octant[0, 0, 0]:.4g} {UNITS}",
        f"  face neighbours S(1,0,0) / S(0,1,0) / S(0,0,1) = {octant[1, 0, 0]:.4g} / "
        f"{octant[0, 1, 0]:.4g} / {octant[0, 0, 1]:.4g} {UNITS}",
        f"  octant {octant.shape[0]} x {octant.shape[1]} x {octant.shape[2]}; energy "
        f"sum(S x voxel mass) = {kernel.total_energy_mev_per_decay:.4f} MeV per decay",
    ]
    lines.extend(f"  note: {note}" for note in kernel.notes)
    lines.append("  (--json prints every value)")
    return CommandOutput(data=data, human="\n".join(lines))
