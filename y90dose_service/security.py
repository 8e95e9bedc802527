"""API keys: random, shown once, stored as SHA-256 hashes, with a role.

A key is 32 random bytes (``secrets.token_urlsafe``) behind a ``y90_`` prefix. A key of
that entropy needs no slow password hash: its SHA-256 cannot be inverted, and the stored
hash is compared in constant time. Roles are ordered: ``viewer`` reads, ``planner`` also
creates plans, studies and jobs, ``approver`` also approves plans.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from y90dose.errors import InputError
from y90dose_service.models import ApiKey, utcnow

logger = logging.getLogger("y90dose.service")

PRIVATE_UMASK = 0o077
"""Files the service makes are the owner's only: directories 0700, files 0600."""
GROUP_OTHER_BITS = 0o077

KEY_PREFIX = "y90_"
KEY_RANDOM_BYTES = 32
KEY_NAME_MAX_CHARS = 100


class Role(StrEnum):
    """What a key may do; each role includes the ones before it."""

    VIEWER = "viewer"
    PLANNER = "planner"
    APPROVER = "approver"

    @property
    def rank(self) -> int:
        """Position in viewer < planner < approver."""
        return ROLE_RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


ROLE_RANKS = {role: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request: the key's name and role."""

    name: str
    role: Role


def generate_key() -> str:
    """A new random API key (shown to its owner once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)


def hash_key(key: str) -> str:
    """Hex SHA-256 of ``key`` (what the database stores)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_role(role: str) -> Role:
    """``Role(role)``, or an InputError naming the allowed roles."""
    try:
        return Role(role)
    except ValueError:
        raise InputError("role", role, f"one of {', '.join(r.value for r in Role)}") from None


def check_name(name: str) -> str:
    """A key name: 1-100 printable characters without spaces at the ends."""
    if not name or name != name.strip() or len(name) > KEY_NAME_MAX_CHARS or not name.isprintable():
        raise InputError(
            "name", name, f"1 to {KEY_NAME_MAX_CHARS} printable characters, no outer spaces"
        )
    return name


def create_key(session: Session, name: str, role: str) -> tuple[ApiKey, str]:
    """Store a new key named ``name``; return the row and the plain key (shown once).

    Raises
    ------
    InputError
        The name is taken (by a live or revoked key) or the role is unknown.
    """
    check_name(name)
    parsed = parse_role(role)
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise InputError("name", name, "a name no other key (live or revoked) has")
    plain = generate_key()
    row = ApiKey(
        name=name,
        role=parsed.value,
        key_hash=hash_key(plain),
        key_prefix=plain[: len(KEY_PREFIX) + 4],
    )
    session.add(row)
    session.flush()
    return row, plain


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, live and revoked, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, name: str) -> ApiKey:
    """Mark the key ``name`` revoked (kept for the audit trail); InputError if unknown."""
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        raise InputError("name", name, "the name of an existing key (see `y90dose keys list`)")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def verify_key(session: Session, presented: str) -> Caller | None:
    """The caller a presented key belongs to, or None (unknown or revoked)."""
    digest = hash_key(presented)
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, digest):  # pragma: no cover - defence in depth
        return None
    return Caller(name=row.name, role=Role(row.role))


def make_private(data_dir: Path) -> None:
    """Keep patient data the service owner's only: umask 077 for this process (and the
    dose-job workers it starts), ``data_dir`` created 0700.

    An existing data directory that other users could enter is tightened once, with
    everything below it (directories 0700, files 0600; symbolic links are left alone),
    and a warning says so. A directory already 0700 is not walked: nothing below it is
    reachable by another user.
    """
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True)
    if stat.S_IMODE(data_dir.stat().st_mode) & GROUP_OTHER_BITS == 0:
        return
    changed = 0
    for root, dirs, files in os.walk(data_dir):
        for name in [".", *dirs, *files]:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode) or stat.S_IMODE(mode) & GROUP_OTHER_BITS == 0:
                continue
            os.chmod(path, stat.S_IMODE(mode) & ~GROUP_OTHER_BITS)
            changed += 1
    logger.warning(
        "data directory %s was open to other users; made owner-only "
        "(%d entries: group and other permissions removed)",
        data_dir.resolve(),
        changed,
    )
