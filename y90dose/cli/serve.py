"""``y90dose serve``: run the planning service with uvicorn.

A fresh data directory needs no set-up: the database is created and migrated at start.
Without any API key yet, the start-up message says how to create the first one.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from y90dose.cli.keys import add_data_dir, service_settings
from y90dose.cli.main import COMMANDS
from y90dose.cli.output import CommandOutput
from y90dose.errors import InputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _serve(args: argparse.Namespace) -> CommandOutput:
    from sqlalchemy import func, select

    from service import server
    from service.db import safe_url
    from service.jobs import lock_data_dir
    from service.main import create_app
    from service.models import ApiKey
    from service.security import make_private

    if not 0 < args.port < 65536:
        raise InputError("port", args.port, "a TCP port, 1..65535")
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    settings = service_settings(args)
    make_private(settings.data_dir)  # umask 077 before the first file is made
    held = lock_data_dir(settings.data_dir)  # a clear error now if another service runs here
    if held is not None:
        held.close()  # the app takes the lock for good when it starts
    app = create_app(settings)
    with app.state.sessionmaker() as session:
        live_keys = session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        )
    print(f"y90dose serve: data directory {settings.data_dir.resolve()}", file=sys.stderr)
    print(f"y90dose serve: database {safe_url(settings.resolved_database_url())}", file=sys.stderr)
    if args.demo:
        from service.demo import prepare_demo

        demo = prepare_demo(settings, app.state.sessionmaker)
        if demo["key"]:
            print(
                f"y90dose serve: demo API key (role approver): {demo['key']}\n"
                f"    (kept in {settings.data_dir / 'demo-key.txt'}; for trying only)",
                file=sys.stderr,
            )
            live_keys = 1
        if demo["study_id"]:
            print(
                f"y90dose serve: demo study {demo['study_id']} (liver phantom) stored; run "
                "voxel dosimetry with POST /v1/dose-jobs "
                f'{{"study_id": "{demo["study_id"]}", "activity_gbq": 2.0, "lsf": 0.08, '
                '"product": "resin", "method": "kernel"}',
                file=sys.stderr,
            )
    if not live_keys:
        data_dir_option = f" --data-dir {args.data_dir}" if args.data_dir is not None else ""
        print(
            "y90dose serve: no API key exists yet; create the first one with\n"
            f"    y90dose keys create --name admin --role approver{data_dir_option}",
            file=sys.stderr,
        )
    print(
        f"y90dose serve: listening on http://{args.host}:{args.port} "
        "(web pages: open it in a browser; API docs at /docs)",
        file=sys.stderr,
    )
    server.run(app, settings, host=args.host, port=args.port, log_level=args.log_level)
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
