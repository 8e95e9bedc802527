"""DICOM networking of the service (docs/dicom.md), beside the dose jobs.

- :mod:`~y90dose_service.dicom.networking`: :class:`DicomNetworking`, what the app starts
  and stops (the Storage SCP and the transfer workers) and the configured destinations;
- :mod:`~y90dose_service.dicom.scp`: the Storage SCP (associations in, studies out);
- :mod:`~y90dose_service.dicom.ingest`: received instances through the upload checks,
  stored as studies;
- :mod:`~y90dose_service.dicom.rules`: the dose-job rule of received studies;
- :mod:`~y90dose_service.dicom.transfers`: sends and imports as retried jobs;
- :mod:`~y90dose_service.dicom.objects`: what a send of a dose job carries.

It calls nothing the HTTP API does not: studies are stored with the upload's checks, dose
jobs made with the route's :func:`~y90dose_service.routers.dose_jobs.add_job`.
"""
