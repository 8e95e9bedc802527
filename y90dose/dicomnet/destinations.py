"""Where DICOM objects go and come from: a PACS by DIMSE or a DICOMweb server.

A :class:`Destination` is one peer: ``kind`` ``"dimse"`` with ``host``, ``port`` and the
peer's ``ae_title``, or ``kind`` ``"dicomweb"`` with the server's base ``url`` (QIDO-RS,
WADO-RS and STOW-RS below it, e.g. Orthanc's ``http://pacs:8042/dicom-web``). The service
reads its destinations from ``Y90DOSE_DICOM_DESTINATIONS`` (a JSON list of these
objects); ``y90dose send`` builds one from ``--to HOST:PORT --ae-title T`` or
``--dicomweb URL``.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from y90dose.errors import InputError

AE_TITLE_MAX_CHARS = 16
"""PS3.5 6.2, VR AE: at most 16 characters of the default repertoire, no backslash or
control characters; leading and trailing spaces are not significant."""

DEFAULT_AE_TITLE = "Y90DOSE"
"""The AE title y90dose calls with (and its Storage SCP answers to) unless configured."""

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII but backslash
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
UID_MAX_CHARS = 64


def check_ae_title(value: str, field: str = "ae_title") -> str:
    """``value`` when it is a valid AE title (1-16 printable ASCII characters, no
    backslash, no leading or trailing space), else InputError naming ``field``.

    Examples
    --------
    >>> check_ae_title("Y90DOSE")
    'Y90DOSE'
    """
    if (
        not isinstance(value, str)
        or not _AE_TITLE.match(value)
        or value != value.strip()
        or not value.strip()
    ):
        raise InputError(
            field,
            value,
            f"an AE title: 1 to {AE_TITLE_MAX_CHARS} printable ASCII characters, no "
            "backslash, no leading or trailing space",
        )
    return value


def check_uid(value: str, field: str) -> str:
    """``value`` when it is a DICOM UID (PS3.5 9.1: digits and dots, at most 64
    characters, no leading zero in a component), else InputError naming ``field``.

    Examples
    --------
    >>> check_uid("1.2.840.10008.1.1", "uid")
    '1.2.840.10008.1.1'
    """
    if not isinstance(value, str) or len(value) > UID_MAX_CHARS or not _UID.match(value):
        raise InputError(
            field,
            value,
            "a DICOM UID: digits and dots, at most 64 characters, no leading zero in a part",
        )
    return value


def shown_url(url: str) -> str:
    """``url`` without a user name or password (fit for messages, logs and the API)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


class Destination(BaseModel):
    """A DICOM peer: a PACS reached by DIMSE (``host``, ``port``, ``ae_title``) or a
    DICOMweb server (``url``).

    Examples
    --------
    >>> Destination(name="pacs", kind="dimse", host="10.0.0.5", port=104, ae_title="PACS").peer
    'PACS at 10.0.0.5:104'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="what requests call it: letters, digits, '.', '_' and '-'",
    )
    kind: Literal["dimse", "dicomweb"] = Field(
        description="'dimse' (C-STORE, C-MOVE, C-GET) or 'dicomweb' (STOW-RS, QIDO-RS, WADO-RS)"
    )
    host: str | None = Field(None, min_length=1, max_length=253, description="dimse: host name")
    port: int | None = Field(None, ge=1, le=65535, description="dimse: TCP port")
    ae_title: str | None = Field(None, description="dimse: the peer's AE title (called AE)")
    url: str | None = Field(None, description="dicomweb: base URL, http:// or https://")

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_ae_title(value)
            except InputError as exc:
                raise ValueError(exc.allowed) from None
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9.:_-]+$", value):
            raise ValueError("a host name or IP address (letters, digits, '.', ':', '-', '_')")
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Destination:
        dimse = {"host": self.host, "port": self.port, "ae_title": self.ae_title}
        if self.kind == "dimse":
            missing = [name for name, value in dimse.items() if value is None]
            if missing:
                raise ValueError(f"a 'dimse' destination needs {', '.join(missing)}")
            if self.url is not None:
                raise ValueError("a 'dimse' destination has no url (that is 'dicomweb')")
        else:
            if self.url is None:
                raise ValueError("a 'dicomweb' destination needs url")
            given = [name for name, value in dimse.items() if value is not None]
            if given:
                raise ValueError(
                    f"a 'dicomweb' destination has no {', '.join(given)} (those are 'dimse')"
                )
        return self

    @property
    def peer(self) -> str:
        """The peer in words: ``"PACS at host:port"`` or the URL (without credentials)."""
        if self.kind == "dimse":
            return f"{self.ae_title} at {self.host}:{self.port}"
        assert self.url is not None
        return shown_url(self.url)


def parse_host_port(value: str, field: str = "to") -> tuple[str, int]:
    """``"HOST:PORT"`` as ``(host, port)``; InputError naming ``field`` otherwise.

    Examples
    --------
    >>> parse_host_port("pacs.example.org:104")
    ('pacs.example.org', 104)
    """
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(field, value, "HOST:PORT, e.g. pacs.example.org:104")
    return host.strip("[]"), int(port)
