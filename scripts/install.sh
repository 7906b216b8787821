#!/usr/bin/env bash
# Install the Khu hub on a fresh Debian/Ubuntu box (bare metal), from a checkout where
# `npm ci` has run (it builds dist/):
#
#   sudo scripts/install.sh                  the real thing: user khu, /opt/khu, /var/lib/khu,
#                                            /etc/khu/khu.env, ffmpeg, systemd unit, started
#   scripts/install.sh --prefix /tmp/stage   the same files under a folder, nothing else:
#                                            no apt-get, no useradd, no chown, no systemctl
#
# Run it again to upgrade: the app is replaced, the data and /etc/khu are kept.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/install.sh [--prefix DIR] [--no-start]

  --prefix DIR   install under DIR (for checks and packaging): skips apt-get, useradd,
                 chown and systemctl, and says so
  --no-start     install and enable, but do not start the hub now
  -h, --help     this help
USAGE
}

PREFIX=""
START=1
while (($#)); do
  case "$1" in
    --prefix)
      [[ $# -ge 2 && -n "$2" ]] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
      PREFIX="$(mkdir -p "$2" && cd "$2" && pwd)"
      shift 2
      ;;
    --no-start) START=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="$PREFIX/opt/khu"
DATA="$PREFIX/var/lib/khu"
ETC="$PREFIX/etc/khu"
UNIT_DIR="$PREFIX/etc/systemd/system"
BIN="$PREFIX/usr/local/bin"
say() { printf 'install: %s\n' "$*"; }
skip() { printf 'install: SKIPPED (--prefix): %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }

real=1
[[ -n "$PREFIX" ]] && real=0
if ((real)) && [[ $(id -u) -ne 0 ]]; then
  die "run as root (sudo scripts/install.sh), or with --prefix DIR to stage the files"
fi

# Node 20.19 or newer: Debian 13 (trixie) and Ubuntu 24.10+ ship it; older releases need
# NodeSource's nodejs package.
NODE="$(command -v node || true)"
[[ -n "$NODE" ]] || die "Node.js 20.19+ is not installed: apt-get install nodejs (Debian 13), or NodeSource's nodejs 20/22"
node_ok="$("$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number);console.log(a>20||(a===20&&b>=19)?1:0)')"
[[ "$node_ok" == 1 ]] || die "Node.js $("$NODE" -v) is too old: Khu needs 20.19 or newer"

[[ -f "$SRC/dist/hub/src/main.js" && -f "$SRC/dist/scripts/khu/main.js" ]] ||
  die "$SRC has no build: run npm ci (it builds dist/) in the checkout first"
[[ -d "$SRC/node_modules/better-sqlite3" ]] || die "$SRC/node_modules is missing: run npm ci first"

# 1. ffmpeg (recording, snapshots, live view)
if ((real)); then
  if ! command -v ffmpeg >/dev/null; then
    say "installing ffmpeg (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg
  fi
else
  skip "apt-get install ffmpeg"
fi

# 2. the system user
if ((real)); then
  if ! id khu >/dev/null 2>&1; then
    say "creating system user khu"
    useradd --system --home-dir /var/lib/khu --no-create-home --shell /usr/sbin/nologin --user-group khu
  fi
else
  skip "useradd --system khu"
fi

# 3. the app, replaced whole (a half-copied upgrade never runs: copy beside, then swap)
say "installing the app into $APP"
mkdir -p "$(dirname "$APP")"
NEW="$APP.new"
rm -rf "$NEW"
mkdir -p "$NEW"
cp -a "$SRC/package.json" "$SRC/package-lock.json" "$SRC/dist" "$SRC/config" "$NEW/"
[[ -d "$SRC/docs" ]] && cp -a "$SRC/docs" "$NEW/"
[[ -d "$SRC/hub/web" ]] && mkdir -p "$NEW/hub" && cp -a "$SRC/hub/web" "$NEW/hub/"
# node_modules from the checkout (native modules already built for this box), without dev tools.
cp -a "$SRC/node_modules" "$NEW/"
(cd "$NEW" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
chmod 755 "$NEW/dist/scripts/khu/main.js"
rm -rf "$APP.old"
[[ -d "$APP" ]] && mv "$APP" "$APP.old"
mv "$NEW" "$APP"
rm -rf "$APP.old"

# 4. the khu command
mkdir -p "$BIN"
ln -sfn /opt/khu/dist/scripts/khu/main.js "$BIN/khu"
say "khu command: $BIN/khu"

# 5. data and settings (kept across upgrades)
mkdir -p "$DATA" "$ETC"
chmod 750 "$DATA"
if [[ ! -f "$ETC/khu.env" ]]; then
  cat >"$ETC/khu.env" <<'ENV'
# Environment of the Khu hub (systemd EnvironmentFile). Restart after a change:
#   sudo systemctl restart khu
KHU_DATA_DIR=/var/lib/khu
KHU_HTTP_PORT=8080
KHU_MQTT_PORT=1883
KHU_CONFIG=/etc/khu/khu.yaml
# The password of user admin, used only when the database is first created. Without it one
# is generated and printed once: sudo journalctl -u khu | grep -A1 admin
#KHU_ADMIN_PASSWORD=
ENV
  chmod 640 "$ETC/khu.env"
  say "wrote $ETC/khu.env"
fi
if [[ ! -f "$ETC/khu.yaml" ]]; then
  cat >"$ETC/khu.yaml" <<'YAML'
# Only what differs from /opt/khu/config/default.yaml. See docs/deploy.md.
site:
  name: Khu dân cư thông minh
# http:
#   publicUrl: http://198.51.100.10:8080   # the box's LAN address: goes into QR codes and relay logins
# discovery:
#   interface: 198.51.100.10               # the LAN address WS-Discovery multicasts from
YAML
  chmod 644 "$ETC/khu.yaml"
  say "wrote $ETC/khu.yaml"
fi
if ((real)); then
  chown -R khu:khu "$DATA"
  chown root:khu "$ETC/khu.env"
else
  skip "chown khu:khu $DATA and /etc/khu/khu.env"
fi

# 6. the systemd unit, with this box's node
mkdir -p "$UNIT_DIR"
sed "s#^ExecStart=/usr/bin/node #ExecStart=$NODE #" "$SRC/deploy/khu.service" >"$UNIT_DIR/khu.service"
chmod 644 "$UNIT_DIR/khu.service"
say "unit: $UNIT_DIR/khu.service"

if ((real)); then
  systemctl daemon-reload
  systemctl enable khu.service >/dev/null
  if ((START)); then
    systemctl restart khu.service
    say "started: systemctl status khu; logs: journalctl -u khu -f"
  fi
  say "done. Next: set http.publicUrl in /etc/khu/khu.yaml, then: khu login --hub http://<this box>:8080 --user admin"
else
  skip "systemctl daemon-reload, enable and start khu"
  say "staged under $PREFIX"
fi
