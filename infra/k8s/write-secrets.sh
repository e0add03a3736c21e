#!/bin/sh
# Writes what the production overlay turns into Secrets (overlays/production/secrets/, git-ignored):
# one random password per NATS user (infra/nats/auth.conf) and per service's Postgres role
# (infra/postgres/roles.sql), each process's NATS_URL and DATABASE_URL built from them, and an
# Ed25519 key pair for session tokens. Gateways get only jwt.pub; jwt.key stays with whoever
# issues tokens. postgres-passwords.sql sets the roles' passwords (run it after roles.sql).
#
#   infra/k8s/write-secrets.sh POSTGRES_HOST[:PORT] DATABASE [URL_PARAMETERS]
#   e.g. infra/k8s/write-secrets.sh pg.internal:5432 siteflow 'sslmode=verify-full'
#
# It never overwrites: to rotate, delete the files you mean to replace, run it again (it keeps
# nothing of the old ones, so rotate everything at once), then `kubectl apply -k` and restart NATS.
set -eu

if [ $# -lt 2 ]; then
  echo "usage: $0 POSTGRES_HOST[:PORT] DATABASE [URL_PARAMETERS]" >&2
  exit 64
fi
postgres=$1
database=$2
parameters=${3:+?$3}
out=$(cd "$(dirname "$0")" && pwd)/overlays/production/secrets
mkdir -p "$out"
if ls "$out"/*.env >/dev/null 2>&1 || [ -e "$out/jwt.pub" ]; then
  echo "$out already holds secrets; delete them first to write new ones" >&2
  exit 73
fi
umask 077

# Letters and digits, starting with a letter: nats-server parses the value as config, and it is
# part of a URL (README, "NATS users and permissions").
password() { printf 'p%s' "$(openssl rand -hex 24)"; }

: > "$out/nats-users.env"
: > "$out/postgres-passwords.sql"
for user in admin gateway chat documents presence checklist; do
  nats_password=$(password)
  printf 'NATS_%s_PASSWORD=%s\n' "$(echo "$user" | tr '[:lower:]' '[:upper:]')" "$nats_password" >> "$out/nats-users.env"
  [ "$user" = admin ] && continue
  printf 'NATS_URL=nats://%s:%s@nats:4222\n' "$user" "$nats_password" > "$out/$user.env"
  [ "$user" = gateway ] && continue
  db_password=$(password)
  printf 'DATABASE_URL=postgres://siteflow_%s:%s@%s/%s%s\n' "$user" "$db_password" "$postgres" "$database" "$parameters" >> "$out/$user.env"
  printf "ALTER ROLE siteflow_%s PASSWORD '%s';\n" "$user" "$db_password" >> "$out/postgres-passwords.sql"
done

openssl genpkey -algorithm ed25519 -out "$out/jwt.key"
openssl pkey -in "$out/jwt.key" -pubout -out "$out/jwt.pub"
echo "wrote $out"
