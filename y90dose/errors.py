"""Domain exceptions. Messages name the argument, the bad value and what is allowed.

Only the CLI turns these into exit codes and only the service into HTTP responses.
"""

from __future__ import annotations


class Y90DoseError(Exception):
    """Base class of every error y90dose raises on purpose."""


class InputError(Y90DoseError, ValueError):
    """An argument is missing, malformed or outside its allowed range.

    Parameters
    ----------
    field
        The argument's name as the caller knows it (``perfused_volume_ml``).
    value
        The offending value (``None`` when the argument is missing).
    allowed
        What would have been accepted, in words (``"a number > 0"``).
    """

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(self.describe(field))

    def describe(self, name: str | None) -> str:
        """The message with the argument called ``name`` (a CLI option, an API field)."""
        name = name or self.field
        shown = "missing" if self.value is None else repr(self.value)
        return f"{name}: {shown} is not allowed; expected {self.allowed}"


class ImageError(Y90DoseError, ValueError):
    """An image, DICOM file or volume of interest cannot be read or used.

    Parameters
    ----------
    message
        What is wrong (with the file's path).
    field
        The input the image came from, as the caller knows it (``spect``, ``ct``,
        ``vois``); the message then starts with it, and an interface may show its own
        name instead (:meth:`describe`: the CLI's ``--spect``).
    """

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        self.field = field
        self.detail = message
        super().__init__(self.describe(field))

    def describe(self, name: str | None) -> str:
        """The message with the input called ``name`` (a CLI option, an API field)."""
        return f"{name} {self.detail}" if name else self.detail


class GeometryError(ImageError):
    """Two images or an image and a VOI do not share a usable geometry."""


class ImageTooLargeError(ImageError):
    """An image has more voxels than the limit in force (:mod:`y90dose.limits`)."""


class RegistrationError(ImageError):
    """A registration could not run, or its failed result was about to be used or written."""


class DicomNetworkError(Y90DoseError):
    """A DICOM peer (PACS, DICOMweb server) could not be reached, refused the exchange or
    answered with a failure (:mod:`y90dose.dicomnet`).

    Parameters
    ----------
    message
        What failed, naming the peer (``host:port`` and AE title, or the URL).
    transient
        True when trying again later may succeed (no connection, a timeout, an
        association rejected as transient, out of resources, HTTP 5xx/408/429).
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        self.transient = transient
        super().__init__(message)
