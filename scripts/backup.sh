#!/usr/bin/env bash
# Back up IVIG Tracker's PostgreSQL database into one file in pg_dump's custom format (compressed, restorable table
# by table with pg_restore). README "Backups and restore".
#
#   DATABASE_URL=postgres://user:password@db.hospital.example:5432/ivig scripts/backup.sh [FILE]
#
# FILE defaults to ivig-tracker-<UTC time>.dump in $BACKUP_DIR (default: the current directory). The file holds
# patient data: it is created readable by its owner only, and written under a temporary name first, so a file with
# the final name is always a complete archive that pg_restore has read back. Use a pg_dump whose major version is at
# least the server's. Exit status: 0 done, 1 pg_dump or the read-back failed, 2 bad usage.
set -euo pipefail
umask 077

# shellcheck source=scripts/_pg_connection.sh
source "$(dirname "$0")/_pg_connection.sh"
command -v pg_dump >/dev/null || die "pg_dump is not installed (Debian: apt-get install postgresql-client)"

file="${1:-${BACKUP_DIR:-.}/ivig-tracker-$(date -u +%Y%m%dT%H%M%SZ).dump}"
[[ ! -e "$file" ]] || die "$file already exists: a backup is never overwritten"
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

pg_dump --format=custom --compress=6 --no-password --dbname="$PG_CONNINFO" --file="$partial"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$file"
trap - EXIT
printf 'backed up database %s to %s (%s bytes)\n' "$PG_DATABASE_NAME" "$file" "$(stat -c %s "$file")"
