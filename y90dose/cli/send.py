"""``y90dose send``: send DICOM files to a PACS (C-STORE) or a DICOMweb server (STOW-RS).

    y90dose send --to pacs.example.org:104 --ae-title PACS RD.dcm RS.dcm
    y90dose send --dicomweb https://pacs.example.org/dicom-web out/

Folders are searched recursively for DICOM files (other files in them are counted and
said, not sent). Every file goes over one association (or one STOW-RS request); the
exit code is 1 when the peer refused any instance, 2 when it could not be reached or the
input is wrong. Needs the ``dicom`` extra (``pip install 'y90dose[dicom]'``).
"""

from __future__ import annotations

import argparse
from typing import Any

from y90dose.cli.main import COMMANDS, EXIT_FAILURE
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.dicomnet.destinations import DEFAULT_AE_TITLE, Destination, parse_host_port
from y90dose.dicomnet.send import DEFAULT_TIMEOUT_S
from y90dose.errors import InputError


def _destination(args: argparse.Namespace) -> Destination:
    if (args.to is None) == (args.dicomweb is None):
        raise InputError("to", args.to, "either --to HOST:PORT (with --ae-title) or --dicomweb URL")
    if args.to is not None:
        if args.ae_title is None:
            raise InputError("ae_title", None, "the peer's AE title with --to")
        host, port = parse_host_port(args.to)
        fields: dict[str, Any] = {"host": host, "port": port, "ae_title": args.ae_title}
        kind = "dimse"
    else:
        if args.ae_title is not None:
            raise InputError("ae_title", args.ae_title, "no --ae-title with --dicomweb")
        fields = {"url": args.dicomweb}
        kind = "dicomweb"
    from pydantic import ValidationError

    from y90dose.validation import describe_error

    try:
        return Destination(name="command-line", kind=kind, **fields)
    except ValidationError as exc:
        field, value, allowed = describe_error(exc.errors()[0])
        raise InputError("dicomweb" if field == "url" else field, value, allowed) from None


def _send(args: argparse.Namespace) -> CommandOutput:
    from y90dose.dicomnet.send import dicom_files, send_files

    if not 0 < args.timeout_s <= 3600:
        raise InputError("timeout_s", args.timeout_s, "seconds, > 0 and at most 3600")
    destination = _destination(args)
    files, skipped = dicom_files(args.files)
    if not files:
        raise InputError("files", args.files, "at least one DICOM file (none found)")
    report = send_files(
        files, destination, calling_ae_title=args.calling_ae_title, timeout_s=args.timeout_s
    )
    data = report.to_dict()
    data["skipped_not_dicom"] = [str(p) for p in skipped]
    lines = [
        f"{item.status:<8} {item.path}" + (f"  ({item.detail})" if item.detail else "")
        for item in report.instances
    ]
    lines.append(
        f"sent {data['sent']} of {len(report.instances)} instance(s) to {report.destination} "
        f"({report.protocol})"
    )
    if skipped:
        lines.append(f"not sent: {len(skipped)} file(s) in the folders are not DICOM")
    return CommandOutput(
        data=data, human="\n".join(lines), exit_code=EXIT_FAILURE if report.failed else 0
    )


def register(subparsers: Any) -> None:
    """Add ``send``."""
    parser = subparsers.add_parser(
        "send",
        help=COMMANDS["send"],
        description="Send DICOM files (RT Dose, RT Structure Set, images...) to a PACS by "
        "C-STORE (--to HOST:PORT --ae-title T) or to a DICOMweb server by STOW-RS "
        "(--dicomweb URL).",
    )
    parser.add_argument("files", nargs="+", help="DICOM files or folders (searched recursively)")
    parser.add_argument("--to", default=None, help="the PACS as HOST:PORT (C-STORE)")
    parser.add_argument("--ae-title", default=None, help="the PACS's AE title (called AE)")
    parser.add_argument(
        "--calling-ae-title",
        default=DEFAULT_AE_TITLE,
        help=f"our AE title in the association (default {DEFAULT_AE_TITLE}); the PACS must know it",
    )
    parser.add_argument("--dicomweb", default=None, help="DICOMweb base URL (STOW-RS)")
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"longest wait for the peer's answers, seconds (default {DEFAULT_TIMEOUT_S:g})",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=_send)
