# Sourced by backup.sh and restore.sh: turns DATABASE_URL into a libpq connection URI without the password, and the
# password into PGPASSWORD, so it never shows in the process list (`ps` shows every argument to every user).
# Sets PG_CONNINFO and PG_DATABASE_NAME, or exits 2 with the reason.

die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 2; }

[[ -n "${DATABASE_URL:-}" ]] || die "DATABASE_URL is not set (postgres://user:password@host:5432/database)"
case "$DATABASE_URL" in
  postgres://* | postgresql://* | pgsql://*) ;;
  *) die "DATABASE_URL must be a postgres:// URL: backups cover PostgreSQL only (the embedded SQLite default is for trying the app)" ;;
esac

_rest="${DATABASE_URL#*://}"
_netloc="${_rest%%/*}"
_path="${_rest#"$_netloc"}"
if [[ "$_netloc" == *@* ]]; then
  _userinfo="${_netloc%@*}"
  _hostport="${_netloc##*@}"
  if [[ "$_userinfo" == *:* ]]; then
    _password="${_userinfo#*:}"
    _userinfo="${_userinfo%%:*}"
    # The URL percent-encodes the password; libpq wants it as typed.
    _password="${_password//\\/\\\\}"
    PGPASSWORD="$(printf '%b' "${_password//%/\\x}")"
    export PGPASSWORD
  fi
  PG_CONNINFO="postgresql://${_userinfo}@${_hostport}${_path}"
else
  PG_CONNINFO="postgresql://${_netloc}${_path}"
fi
PG_DATABASE_NAME="${_path#/}"
PG_DATABASE_NAME="${PG_DATABASE_NAME%%\?*}"
[[ -n "$PG_DATABASE_NAME" ]] || die "DATABASE_URL names no database: add /<database> after the host"
unset _rest _netloc _path _userinfo _hostport _password
