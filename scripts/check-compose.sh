#!/usr/bin/env bash
# Checks docker-compose.yml (and that it agrees with the Dockerfile and package.json) without a
# Docker daemon: `docker-compose config` only parses and resolves the file.
#
#   bash scripts/check-compose.sh
#
# Uses Debian's docker-compose v1 (1.29.x, package docker-compose; `bash scripts/preflight.sh
# --ci` installs it), or `docker compose` v2 when that is what the machine has.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly FILE=docker-compose.yml

fail() {
  printf 'check-compose: %s\n' "$*" >&2
  exit 1
}

if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  fail "không có docker-compose / docker-compose not found: install the Debian package docker-compose (bash scripts/preflight.sh --ci)"
fi
dc() { "${compose[@]}" -f "$FILE" --project-directory . "$@"; }

printf 'check-compose: %s\n' "$("${compose[@]}" version --short 2>/dev/null || "${compose[@]}" version | sed -n 1p)"

# 1. The file parses and resolves with the variables unset (the usual case) ...
env -u KHU_HTTP_PORT -u KHU_MQTT_PORT -u KHU_ADMIN_PASSWORD "${compose[@]}" -f "$FILE" --project-directory . config -q ||
  fail "$FILE is not valid for ${compose[*]}"

# ... and passes the host's values through.
resolved="$(KHU_HTTP_PORT=18080 KHU_MQTT_PORT=11883 KHU_ADMIN_PASSWORD=check-compose-secret dc config)"
for want in 'KHU_HTTP_PORT: .18080' 'KHU_MQTT_PORT: .11883' 'KHU_ADMIN_PASSWORD: check-compose-secret'; do
  grep -Eq "$want" <<<"$resolved" || fail "environment not passed through: expected /$want/ in the resolved file"
done

# 2. Services: hub always, sim only under the "sim" profile.
services="$(dc --profile sim config --services | sort | tr '\n' ' ')"
[[ "$services" == "hub sim " ]] || fail "expected services 'hub sim', got '$services'"
profiles="$(dc config --profiles | tr '\n' ' ')"
[[ "$profiles" == "sim " ]] || fail "expected exactly one profile 'sim', got '$profiles'"

# 3. The entry points named in Dockerfile and docker-compose.yml are those of package.json.
start_cmd="$(node -p "JSON.stringify(require('./package.json').scripts.start.split(/\\s+/)).replaceAll(',', ', ')")"
sim_js="$(node -p "require('./package.json').scripts.sim.replace(/^node /, '')")"
grep -Fq "CMD $start_cmd" Dockerfile || fail "Dockerfile CMD is not $start_cmd (package.json start)"
grep -Fq -- "- $sim_js" "$FILE" || fail "$FILE sim service does not run $sim_js (package.json sim)"

echo "check-compose: OK ($FILE: services hub, sim [profile sim])"
