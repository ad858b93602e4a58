#!/bin/sh
# Entrypoint of the Kamailio image (kamailio.Dockerfile). Kamailio's nats module takes only a
# user and password inside the URL, and kamailio.cfg reads the URL from SBC_NATS_URL at start;
# the password is a file (nats-credentials writes kamailio.password), so a literal
# `{password}` in SBC_NATS_URL is replaced here by that file's content.
#
# Env (this script's own): NATS_PASSWORD_FILE, the file holding the password (no default: when
# unset, SBC_NATS_URL is passed on unchanged).
set -eu
if [ -n "${NATS_PASSWORD_FILE:-}" ]; then
  case "${SBC_NATS_URL:-}" in
    *'{password}'*) ;;
    *) echo "kamailio-entrypoint: NATS_PASSWORD_FILE is set but SBC_NATS_URL holds no {password}" >&2; exit 1 ;;
  esac
  password=$(tr -d '\r\n' <"$NATS_PASSWORD_FILE")
  # nats-credentials makes it letters and digits only, so it is safe in a URL and in sed.
  case "$password" in
    '' | *[!A-Za-z0-9]*) echo "kamailio-entrypoint: $NATS_PASSWORD_FILE must hold letters and digits only" >&2; exit 1 ;;
  esac
  SBC_NATS_URL=$(printf '%s' "$SBC_NATS_URL" | sed "s/{password}/$password/")
  export SBC_NATS_URL
fi
exec "$@"
