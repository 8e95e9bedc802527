#!/usr/bin/env bash
# Install (if needed), start and prepare a local PostgreSQL server for the service tests.
#
# Usage (from .ci/run):   eval "$(bash .ci/postgres.sh)"
# stdout carries exactly one line, `export Y90DOSE_TEST_POSTGRES_URL=postgresql+psycopg://...`;
# progress goes to stderr. Idempotent: safe to run again on a machine where the server runs.
# Runs as root; the server itself runs as the `postgres` user (pg_ctlcluster switches to it).
set -euo pipefail

PG_DB="${Y90DOSE_PG_DB:-y90dose_test}"
PG_USER="${Y90DOSE_PG_USER:-y90dose}"
PG_PASSWORD="${Y90DOSE_PG_PASSWORD:-y90dose}"

log() { echo "postgres.sh: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing the Debian postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
fi

# The newest installed major version and its cluster (created if the package made none).
PG_VERSION="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "${PG_VERSION} main"; then
    log "creating cluster ${PG_VERSION}/main"
    pg_createcluster "${PG_VERSION}" main >&2
fi
PG_PORT="$(pg_lsclusters -h | awk -v v="${PG_VERSION}" '$1==v && $2=="main" {print $3}')"
PG_STATUS="$(pg_lsclusters -h | awk -v v="${PG_VERSION}" '$1==v && $2=="main" {print $4}')"
if [ "${PG_STATUS}" != "online" ]; then
    log "starting cluster ${PG_VERSION}/main on port ${PG_PORT}"
    pg_ctlcluster "${PG_VERSION}" main start >&2
fi
for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "${PG_PORT}"; then break; fi
    sleep 0.5
done
pg_isready -h 127.0.0.1 -p "${PG_PORT}" >&2

psql_admin() { (cd / && su postgres -c "psql -v ON_ERROR_STOP=1 -q -p ${PG_PORT} $*"); }
if [ "$(psql_admin "-tAc \"SELECT 1 FROM pg_roles WHERE rolname='${PG_USER}'\"")" != "1" ]; then
    log "creating role ${PG_USER}"
    psql_admin "-c \"CREATE ROLE ${PG_USER} LOGIN PASSWORD '${PG_PASSWORD}' CREATEDB\"" >&2
fi
if [ "$(psql_admin "-tAc \"SELECT 1 FROM pg_database WHERE datname='${PG_DB}'\"")" != "1" ]; then
    log "creating database ${PG_DB}"
    psql_admin "-c \"CREATE DATABASE ${PG_DB} OWNER ${PG_USER}\"" >&2
fi

echo "export Y90DOSE_TEST_POSTGRES_URL=postgresql+psycopg://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${PG_DB}"
