#!/usr/bin/env bash
# Start a local PostgreSQL server for the store tests and print its URL (for QA_TEST_POSTGRES_URL).
# Installs Debian's postgresql when it is missing.  Safe to run more than once.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -q "^$version main$"; then
    pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
    pg_ctlcluster "$version" main start >&2
fi
port="$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')"
for _ in $(seq 1 30); do
    if su postgres -c "psql -p $port -Atqc 'select 1'" >/dev/null 2>&1; then break; fi
    sleep 1
done
su postgres -c "psql -p $port -Atqc \"select 1 from pg_roles where rolname = 'qa_test'\"" | grep -q 1 \
    || su postgres -c "psql -p $port -qc \"create role qa_test login password 'qa_test' createdb\"" >&2
su postgres -c "psql -p $port -Atqc \"select 1 from pg_database where datname = 'qa_test'\"" | grep -q 1 \
    || su postgres -c "createdb -p $port -O qa_test qa_test" >&2
echo "postgresql+psycopg://qa_test:qa_test@127.0.0.1:$port/qa_test"
