#!/usr/bin/env bash
# Checks the bare-metal install as far as this machine allows: the systemd unit
# (systemd-analyze verify where it exists, else a minimal syntax check), then install.sh
# run into a temporary prefix and the staged files looked at. Needs a built checkout (npm ci).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { printf 'check-install: FAILED: %s\n' "$*" >&2; exit 1; }
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

# Minimal checks that need no systemd: sections, Key=Value lines, what the hub needs.
minimal_unit_check() {
  local unit="$1" section="" n=0 line
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    [[ -z "$line" || "$line" =~ ^[[:space:]]*[#\;] ]] && continue
    if [[ "$line" =~ ^\[(Unit|Service|Install)\]$ ]]; then section="${BASH_REMATCH[1]}"; continue; fi
    [[ "$line" =~ ^[A-Za-z]+=.* ]] || fail "$unit:$n: not a Key=Value line: $line"
    [[ -n "$section" ]] || fail "$unit:$n: a setting before any [section]"
  done <"$unit"
  for want in '^\[Service\]' '^ExecStart=/' '^Restart=on-failure' '^User=khu' '^EnvironmentFile=/etc/khu/khu.env' '^WantedBy=multi-user.target'; do
    grep -Eq "$want" "$unit" || fail "$unit: missing $want"
  done
}

echo "== the unit: deploy/khu.service"
minimal_unit_check deploy/khu.service

echo "== install.sh into a temporary prefix"
bash scripts/install.sh --prefix "$STAGE" | tee "$STAGE.log"
grep -q 'SKIPPED (--prefix): useradd' "$STAGE.log" || fail "install.sh did not say it skipped useradd"
rm -f "$STAGE.log"
for f in opt/khu/dist/hub/src/main.js opt/khu/dist/scripts/khu/main.js opt/khu/config/default.yaml \
  etc/khu/khu.env etc/khu/khu.yaml etc/systemd/system/khu.service usr/local/bin/khu; do
  [[ -e "$STAGE/$f" || -L "$STAGE/$f" ]] || fail "install.sh did not stage $f"
done
[[ -d "$STAGE/var/lib/khu" ]] || fail "no data dir"
[[ ! -d "$STAGE/opt/khu/node_modules/typescript" ]] || fail "dev dependencies were installed"
[[ "$(stat -c %a "$STAGE/etc/khu/khu.env")" == 640 ]] || fail "khu.env is not mode 0640"
node "$STAGE/opt/khu/dist/scripts/khu/main.js" --help >/dev/null || fail "the staged khu does not run"
minimal_unit_check "$STAGE/etc/systemd/system/khu.service"

if command -v systemd-analyze >/dev/null; then
  echo "== systemd-analyze verify"
  # The staged unit names this box's node; the user khu need not exist here, so that one
  # complaint is tolerated and any other fails.
  out="$(systemd-analyze verify "$STAGE/etc/systemd/system/khu.service" 2>&1 || true)"
  other="$(printf '%s\n' "$out" | grep -v -E "^$|Failed to resolve user|User khu|does not exist|Cannot add dependency job|Unit khu.service not found" || true)"
  [[ -z "$out" ]] || printf '%s\n' "$out"
  [[ -z "$other" ]] || fail "systemd-analyze verify complained (above)"
else
  echo "== systemd-analyze is not on this machine: only the minimal unit syntax check above ran"
fi
echo "check-install: ok"
