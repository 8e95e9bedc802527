"""``y90dose serve``: run the planning service with uvicorn.

A fresh data directory needs no set-up: the database is created and migrated at start.
Without any API key yet, the start-up message says how to create the first one.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from y90dose.cli.keys import add_data_dir
from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput
from y90dose.cli.service_interface import service_commands
from y90dose.errors import InputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _serve(args: argparse.Namespace) -> CommandOutput:
    if not 0 < args.port < 65536:
        raise InputError("port", args.port, "a TCP port, 1..65535")
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    service_commands(args.command).serve(
        args.data_dir,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        demo=args.demo,
        say=lambda line: print(f"y90dose serve: {line}", file=sys.stderr),
    )
    return CommandOutput(data={"stopped": True}, human="y90dose serve: stopped")


def register(subparsers: Any) -> None:
    """Add ``serve``."""
    parser = subparsers.add_parser(
        "serve",
        help=COMMANDS["serve"],
        description="Run the planning service with uvicorn. Settings come from Y90DOSE_* "
        "environment variables (Y90DOSE_DATA_DIR, Y90DOSE_DATABASE_URL, ...) and the options.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn log level (default info)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="for trying the service: create a 'demo' approver key if there is no key "
        "(printed at each start) and store the liver phantom as a study if there is none",
    )
    add_data_dir(parser)
    parser.set_defaults(handler=_serve)
