"""``y90dose keys``: create, list and revoke the planning service's API keys.

``keys create --name NAME --role viewer|planner|approver`` prints the new key once (only
its hash is stored); ``keys list`` shows names, roles and state; ``keys revoke NAME``
disables a key (kept for the audit trail). All honour ``--data-dir`` and
``Y90DOSE_DATA_DIR`` (and ``Y90DOSE_DATABASE_URL``) like ``y90dose serve``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput, add_json_flag
from y90dose.cli.service_interface import service_commands

ROLES = ("viewer", "planner", "approver")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """The ``--data-dir`` option shared by ``serve`` and ``keys``."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="service data directory (default: $Y90DOSE_DATA_DIR, else ./data)",
    )


def _create(args: argparse.Namespace) -> CommandOutput:
    data = service_commands(args.command).create_key(args.data_dir, args.name, args.role)
    plain = data["key"]
    human = (
        f"created key {data['name']!r} with role {data['role']}:\n\n    {plain}\n\n"
        "This is the only time the key is shown; store it now. Send it as\n"
        "'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
    )
    return CommandOutput(data=data, human=human)


def _list(args: argparse.Namespace) -> CommandOutput:
    keys = service_commands(args.command).list_keys(args.data_dir)
    if not keys:
        human = "no API keys yet; create one with: y90dose keys create --name NAME --role approver"
    else:
        lines = [f"{'name':<24} {'role':<9} {'prefix':<10} state"]
        for k in keys:
            state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
            lines.append(f"{k['name']:<24} {k['role']:<9} {k['prefix']:<10} {state}")
        human = "\n".join(lines)
    return CommandOutput(data={"keys": keys}, human=human)


def _revoke(args: argparse.Namespace) -> CommandOutput:
    data = service_commands(args.command).revoke_key(args.data_dir, args.name)
    return CommandOutput(
        data=data,
        human=f"revoked key {args.name!r} (a running service stops accepting it within seconds)",
    )


def register(subparsers: Any) -> None:
    """Add ``keys`` with its ``create``, ``list`` and ``revoke`` subcommands."""
    parser = subparsers.add_parser(
        "keys",
        help=COMMANDS["keys"],
        description="Create, list and revoke API keys of the planning service.",
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION")
    actions.required = True

    create = actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="unique name of the key (who uses it)")
    create.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="viewer reads; planner also creates plans, studies and jobs; approver also approves",
    )
    add_data_dir(create)
    add_json_flag(create)
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    add_data_dir(listing)
    add_json_flag(listing)
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name", help="name of the key to revoke")
    add_data_dir(revoke)
    add_json_flag(revoke)
    revoke.set_defaults(handler=_revoke)
