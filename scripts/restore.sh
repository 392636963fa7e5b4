#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into an EMPTY PostgreSQL database. README "Backups and restore".
#
#   createdb -h db.hospital.example -U ivig ivig_restored
#   DATABASE_URL=postgres://user:password@db.hospital.example:5432/ivig_restored scripts/restore.sh FILE
#   DATABASE_URL=... python manage.py migrate --check     # the code you run matches the restored schema
#
# It refuses a database that already holds tables, so it can never overwrite clinical records: restore into a new
# database, check it, then point the application's DATABASE_URL at it. The restore is one transaction: it lands
# whole or not at all. Ownership and grants are not restored, so the objects belong to the DATABASE_URL user.
# Exit status: 0 restored, 1 pg_restore failed (nothing was written), 2 bad usage or a database that is not empty.
set -euo pipefail

# shellcheck source=scripts/_pg_connection.sh
source "$(dirname "$0")/_pg_connection.sh"
command -v pg_restore >/dev/null || die "pg_restore is not installed (Debian: apt-get install postgresql-client)"

[[ $# -eq 1 ]] || die "usage: DATABASE_URL=postgres://.../empty_database $0 BACKUP_FILE"
file="$1"
[[ -r "$file" ]] || die "cannot read $file"
pg_restore --list "$file" >/dev/null 2>&1 || die "$file is not a pg_dump custom-format archive (scripts/backup.sh)"

tables="$(psql --no-password --dbname="$PG_CONNINFO" --no-psqlrc --tuples-only --no-align --quiet --command \
  "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname NOT LIKE 'pg_toast%'")"
[[ "$tables" == "0" ]] || die "database $PG_DATABASE_NAME is not empty ($tables tables): restore only into a new, empty database"

pg_restore --no-password --exit-on-error --single-transaction --no-owner --no-privileges \
  --dbname="$PG_CONNINFO" "$file"
printf 'restored %s into database %s; now run: python manage.py migrate --check\n' "$file" "$PG_DATABASE_NAME"
