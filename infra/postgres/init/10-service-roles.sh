#!/bin/sh
# Runs once when the postgres container initialises its data directory.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -v db="$POSTGRES_DB" -v password="'${SERVICE_DB_PASSWORD}'" \
  -f /siteflow/roles.sql
