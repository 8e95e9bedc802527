"""What the ``y90dose serve`` and ``y90dose keys`` commands ask of the service.

The library's CLI parses the options and prints; everything that touches the service's
settings, database and app is here, behind these few functions, so that the library
imports the service only through ``y90dose.cli.service_interface`` (one lazy import of
this module) and never reaches into its database or models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from y90dose_service.settings import ServiceSettings


def settings_for(data_dir: Path | None) -> ServiceSettings:
    """ServiceSettings from the environment, with ``data_dir`` taking precedence.

    Raises
    ------
    InputError
        A ``Y90DOSE_*`` variable holds a value the setting refuses (or not JSON where the
        setting is a list or object), named as the variable.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from y90dose.errors import InputError
    from y90dose.validation import describe_error

    try:
        if data_dir is not None:
            return ServiceSettings(data_dir=data_dir)
        return ServiceSettings()
    except ValidationError as exc:
        field, value, allowed = describe_error(exc.errors()[0])
        head, dot, rest = field.partition(".")
        raise InputError(f"Y90DOSE_{head.upper()}{dot}{rest}", value, allowed) from None
    except SettingsError as exc:  # not JSON where the setting is a list or an object
        words = str(exc).split()
        name = words[words.index("field") + 1].strip('"') if "field" in words else "setting"
        raise InputError(
            f"Y90DOSE_{name.upper()}", "(not valid JSON)", "valid JSON (a list or an object)"
        ) from None


def create_key(data_dir: Path | None, name: str, role: str) -> dict[str, Any]:
    """Create an API key; returns its name, role and the key itself (shown once)."""
    from y90dose_service.db import make_sessionmaker, open_database
    from y90dose_service.security import create_key as create

    engine = open_database(settings_for(data_dir))
    try:
        with make_sessionmaker(engine)() as session:
            row, plain = create(session, name, role)
            session.commit()
            return {"name": row.name, "role": row.role, "key": plain}
    finally:
        engine.dispose()


def list_keys(data_dir: Path | None) -> list[dict[str, Any]]:
    """Every key's name, role, prefix and dates (never the key)."""
    from y90dose_service.db import make_sessionmaker, open_database
    from y90dose_service.models import as_utc
    from y90dose_service.security import list_keys as listed

    engine = open_database(settings_for(data_dir))
    try:
        with make_sessionmaker(engine)() as session:
            return [
                {
                    "name": r.name,
                    "role": r.role,
                    "prefix": r.key_prefix,
                    "created_at": as_utc(r.created_at).isoformat(),  # type: ignore[union-attr]
                    "revoked_at": (
                        as_utc(r.revoked_at).isoformat()  # type: ignore[union-attr]
                        if r.revoked_at
                        else None
                    ),
                }
                for r in listed(session)
            ]
    finally:
        engine.dispose()


def revoke_key(data_dir: Path | None, name: str) -> dict[str, Any]:
    """Revoke the key called ``name``."""
    from y90dose_service.db import make_sessionmaker, open_database
    from y90dose_service.security import revoke_key as revoke

    engine = open_database(settings_for(data_dir))
    try:
        with make_sessionmaker(engine)() as session:
            row = revoke(session, name)
            session.commit()
            return {"name": row.name, "revoked": True}
    finally:
        engine.dispose()


def serve(
    data_dir: Path | None,
    *,
    host: str,
    port: int,
    log_level: str,
    demo: bool,
    say: Callable[[str], None],
) -> None:
    """Run the service until it stops; start-up facts are passed to ``say`` line by line."""
    from sqlalchemy import func, select

    from y90dose_service import server
    from y90dose_service.db import safe_url
    from y90dose_service.jobs import lock_data_dir
    from y90dose_service.main import create_app
    from y90dose_service.models import ApiKey
    from y90dose_service.security import make_private

    settings = settings_for(data_dir)
    make_private(settings.data_dir)  # umask 077 before the first file is made
    held = lock_data_dir(settings.data_dir)  # a clear error now if another service runs here
    if held is not None:
        held.close()  # the app takes the lock for good when it starts
    app = create_app(settings)
    with app.state.sessionmaker() as session:
        live_keys = session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        )
    say(f"data directory {settings.data_dir.resolve()}")
    say(f"database {safe_url(settings.resolved_database_url())}")
    if demo:
        from y90dose_service.demo import prepare_demo

        prepared = prepare_demo(settings, app.state.sessionmaker)
        if prepared["key"]:
            say(
                f"demo API key (role approver): {prepared['key']}\n"
                f"    (kept in {settings.data_dir / 'demo-key.txt'}; for trying only)"
            )
            live_keys = 1
        if prepared["study_id"]:
            say(
                f"demo study {prepared['study_id']} (liver phantom) stored; run voxel "
                "dosimetry with POST /v1/dose-jobs "
                f'{{"study_id": "{prepared["study_id"]}", "activity_gbq": 2.0, "lsf": 0.08, '
                '"product": "resin", "method": "dvk"}'
            )
    if not live_keys:
        data_dir_option = f" --data-dir {data_dir}" if data_dir is not None else ""
        say(
            "no API key exists yet; create the first one with\n"
            f"    y90dose keys create --name admin --role approver{data_dir_option}"
        )
    app.state.dicom.check_port()  # a clear error now if the DICOM port cannot be used
    if settings.dicom_port is not None:
        say(
            f"DICOM Storage SCP {settings.dicom_ae_title} on {settings.dicom_host}:"
            f"{settings.dicom_port} (calling AE titles: "
            f"{', '.join(settings.dicom_calling_ae_titles or []) or 'any'})"
        )
    say(f"listening on http://{host}:{port} (web pages: open it in a browser; API docs at /docs)")
    server.run(app, settings, host=host, port=port, log_level=log_level)
