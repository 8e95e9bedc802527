"""``python -m phantoms``: generate phantoms and (re)compute the Monte Carlo references.

Examples
--------
::

    python -m phantoms list
    python -m phantoms generate liver --out /tmp/phantoms/liver
    python -m phantoms generate nema-iec --out DIR --param sphere_to_background=8
    python -m phantoms known-answers          # rewrite y90dose/phantoms/known_answers/*.json
    python -m phantoms mc s-values-3mm-water lung-slab [--scale 4]   # needs y90dose[mc]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from y90dose.errors import Y90DoseError


def _parse_param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected NAME=VALUE")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the phantoms command line; return the exit code."""
    from y90dose.phantoms.generators import GENERATORS

    parser = argparse.ArgumentParser(prog="python -m phantoms", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the phantom generators")
    gen = sub.add_parser("generate", help="write a phantom (DICOM, NIfTI, known answers)")
    gen.add_argument("name", choices=sorted(GENERATORS))
    gen.add_argument("--out", type=Path, required=True, help="output folder")
    gen.add_argument(
        "--param",
        type=_parse_param,
        action="append",
        default=[],
        help="generator parameter NAME=VALUE (JSON value), repeatable",
    )
    gen.add_argument("--no-dicom", action="store_true")
    gen.add_argument("--no-nifti", action="store_true")
    sub.add_parser(
        "known-answers", help="write y90dose/phantoms/known_answers/*.json (default parameters)"
    )
    mc = sub.add_parser("mc", help="recompute Monte Carlo references (needs y90dose[mc])")
    mc.add_argument("names", nargs="+")
    mc.add_argument("--scale", type=float, default=1.0, help="multiply the default histories")
    mc.add_argument(
        "--out", type=Path, default=None, help="folder (default y90dose/phantoms/reference)"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name, fn in GENERATORS.items():
                doc = (sys.modules[fn.__module__].__doc__ or "").strip().splitlines()[0]
                print(f"{name:16s} {doc}")
            return 0
        if args.command == "generate":
            from y90dose.phantoms.export import export_phantom
            from y90dose.phantoms.generators import generate

            phantom = generate(args.name, **dict(args.param))
            paths = export_phantom(
                phantom, args.out, dicom=not args.no_dicom, nifti=not args.no_nifti
            )
            for role, path in paths.items():
                print(f"{role:20s} {path}")
            return 0
        if args.command == "known-answers":
            from y90dose.phantoms.base import document
            from y90dose.phantoms.generators import generate

            folder = Path(__file__).resolve().parent / "known_answers"
            folder.mkdir(exist_ok=True)
            for name in GENERATORS:
                path = folder / f"{name}.json"
                path.write_text(json.dumps(document(generate(name)), indent=1) + "\n")
                print(path)
            return 0
        from y90dose.phantoms.montecarlo.references import compute_reference, write_reference

        for name in args.names:
            data = compute_reference(name, scale=args.scale)
            print(write_reference(name, data, args.out))
        if args.out is None and any(n.endswith("slab") for n in args.names):
            from y90dose.phantoms.base import document
            from y90dose.phantoms.generators import generate

            # The lung-slab known answers embed the slab references: keep them in step
            # (the validation's reproducibility group compares them with the generator).
            path = Path(__file__).resolve().parent / "known_answers" / "lung-slab.json"
            path.write_text(json.dumps(document(generate("lung-slab")), indent=1) + "\n")
            print(path)
        return 0
    except Y90DoseError as exc:
        print(f"phantoms: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
