"""DICOM networking: send files to, and retrieve studies from, a PACS or DICOMweb server.

- :mod:`~y90dose.dicomnet.destinations`: a :class:`Destination` (DIMSE or DICOMweb peer),
  AE title and UID checks;
- :mod:`~y90dose.dicomnet.send`: :func:`send_files` (C-STORE or STOW-RS);
- :mod:`~y90dose.dicomnet.retrieve`: C-GET, C-MOVE and QIDO-RS/WADO-RS retrieval;
- :mod:`~y90dose.dicomnet.sop_classes`: the storage SOP classes and transfer syntaxes
  y90dose takes.

pynetdicom and dicomweb-client (the ``dicom`` extra) are imported only when a function
that needs them runs. The service's Storage SCP is in ``y90dose_service/dicom/``.
"""

from __future__ import annotations

from y90dose.dicomnet.destinations import (
    DEFAULT_AE_TITLE,
    Destination,
    check_ae_title,
    check_uid,
    parse_host_port,
)
from y90dose.dicomnet.send import SendReport, send_files

__all__ = [
    "DEFAULT_AE_TITLE",
    "Destination",
    "SendReport",
    "check_ae_title",
    "check_uid",
    "parse_host_port",
    "send_files",
]
