#!/usr/bin/env bash
# Khu preflight: makes sure the system tools Khu needs beyond npm are present.
#
#   bash scripts/preflight.sh [--quiet] [--bench] [--ci] [--browser]
#
#   always      node >= 20.19 (package.json "engines"), ffmpeg + ffprobe (Debian package: ffmpeg)
#   --bench     mosquitto       (Debian package: mosquitto; the broker benchmark compares against it)
#   --ci        docker-compose  (Debian package: docker-compose; validates docker-compose.yml)
#   --browser   chromium        (Debian package: chromium; browser tests)
#   --quiet     print nothing when everything is present (used by `npm test` and `npm run demo`)
#
# When a tool is missing and we are root on a system with apt-get, the Debian package is
# installed (`apt-get update` only when the package lists are empty or the first attempt fails).
# Otherwise a message in Vietnamese and English names the exact package and we exit 1.
#
# Environment (for testing this script):
#   KHU_PREFLIGHT_DRY_RUN=1              print the apt-get commands instead of running them
#   KHU_PREFLIGHT_PRETEND_MISSING="a b"  treat these tools as missing (e.g. "ffmpeg mosquitto")
#
# Exit status: 0 all present (or installed), 1 something missing that we could not install,
# 2 bad usage. Keep this fast: when everything is installed it only looks up commands.
set -euo pipefail

readonly MIN_NODE_MAJOR=20
readonly MIN_NODE_MINOR=19 # keep in step with "engines" in package.json

quiet=0
want_bench=0
want_ci=0
want_browser=0

usage() {
  sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

for arg in "$@"; do
  case "$arg" in
    --quiet | -q) quiet=1 ;;
    --bench) want_bench=1 ;;
    --ci) want_ci=1 ;;
    --browser) want_browser=1 ;;
    --help | -h)
      usage
      exit 0
      ;;
    *)
      echo "preflight: tùy chọn không hợp lệ / unknown option: $arg" >&2
      echo "usage: bash scripts/preflight.sh [--quiet] [--bench] [--ci] [--browser]" >&2
      exit 2
      ;;
  esac
done

say() { ((quiet)) || printf '%s\n' "$*"; }
err() { printf '%s\n' "$*" >&2; }

pretend_missing=" ${KHU_PREFLIGHT_PRETEND_MISSING:-} "
dry_run="${KHU_PREFLIGHT_DRY_RUN:-0}"
[[ "$dry_run" == "0" || "$dry_run" == "" ]] && dry_run=0 || dry_run=1

# has_tool NAME: the command is on PATH (or in an sbin directory: Debian installs the
# mosquitto broker as /usr/sbin/mosquitto, which is not on a normal user's PATH).
has_tool() {
  local name="$1" dir
  [[ "$pretend_missing" == *" $name "* ]] && return 1
  command -v "$name" >/dev/null 2>&1 && return 0
  for dir in /usr/sbin /usr/local/sbin /sbin; do
    [[ -x "$dir/$name" ]] && return 0
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# Node.js: not installed through apt (Debian bookworm's nodejs is 18, too old for Khu).
node_version=""
if [[ "$pretend_missing" != *" node "* ]] && command -v node >/dev/null 2>&1; then
  node_version="$(node -v 2>/dev/null || true)"
fi
node_ok=0
if [[ "$node_version" =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
  major="${BASH_REMATCH[1]}"
  minor="${BASH_REMATCH[2]}"
  if ((major > MIN_NODE_MAJOR || (major == MIN_NODE_MAJOR && minor >= MIN_NODE_MINOR))); then
    node_ok=1
  fi
fi
if ((!node_ok)); then
  have="${node_version:-không có / none}"
  err "preflight: Khu cần Node.js ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR} trở lên (đang có: ${have})."
  err "  Cài Node.js 20 LTS (hoặc mới hơn) từ https://nodejs.org/ hoặc qua nvm; gói 'nodejs' của Debian 12 là bản 18, quá cũ."
  err "preflight: Khu needs Node.js ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR} or newer (found: ${node_version:-none})."
  err "  Install Node.js 20 LTS (or newer) from https://nodejs.org/ or with nvm; Debian 12's 'nodejs' package is 18, too old."
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# System tools: "tool:debian-package" pairs.
required=("ffmpeg:ffmpeg" "ffprobe:ffmpeg")
((want_bench)) && required+=("mosquitto:mosquitto")
((want_ci)) && required+=("docker-compose:docker-compose")
((want_browser)) && required+=("chromium:chromium")

missing_tools=()
missing_pkgs=()
for pair in "${required[@]}"; do
  tool="${pair%%:*}"
  pkg="${pair#*:}"
  if ! has_tool "$tool"; then
    missing_tools+=("$tool")
    [[ " ${missing_pkgs[*]-} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
  fi
done

if ((${#missing_tools[@]} == 0)); then
  if ((!quiet)); then
    present=""
    for pair in "${required[@]}"; do present+="${pair%%:*} "; done
    say "preflight: OK — node ${node_version}; ${present}có sẵn / present"
  fi
  exit 0
fi

tools_txt="${missing_tools[*]}"
pkgs_txt="${missing_pkgs[*]}"
install_cmd="apt-get install -y --no-install-recommends ${pkgs_txt}"

explain_and_fail() {
  local reason="$1"
  err "preflight: thiếu công cụ hệ thống: ${tools_txt}"
  err "preflight: missing system tools: ${tools_txt}"
  if command -v apt-get >/dev/null 2>&1; then
    err "  Cài gói Debian/Ubuntu sau / install these Debian/Ubuntu packages: ${pkgs_txt}"
    err "    sudo apt-get update && sudo ${install_cmd}"
  else
    err "  Cài bằng trình quản lý gói của hệ thống / install with your system's package manager:"
    err "    gói Debian/Ubuntu / Debian/Ubuntu packages: ${pkgs_txt}"
    err "    (ví dụ / e.g. macOS: brew install ${pkgs_txt})"
  fi
  err "  (${reason})"
  exit 1
}

if [[ "${EUID:-$(id -u)}" != "0" ]]; then
  explain_and_fail "không tự cài được vì không chạy với quyền root / not installing automatically: not running as root"
fi
if ! command -v apt-get >/dev/null 2>&1; then
  explain_and_fail "không có apt-get để tự cài / no apt-get to install with"
fi

# Root with apt-get: install. Progress goes to stderr so that stdout stays clean for callers.
err "preflight: thiếu / missing: ${tools_txt} → cài gói / installing: ${pkgs_txt}"

apt_quiet=()
((quiet)) && apt_quiet=(-q)

run() {
  if ((dry_run)); then
    err "preflight (dry run): DEBIAN_FRONTEND=noninteractive $*"
    return 0
  fi
  DEBIAN_FRONTEND=noninteractive "$@" </dev/null >&2
}

lists_present() {
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

updated=0
apt_update() {
  ((updated)) && return 0
  updated=1
  run apt-get "${apt_quiet[@]}" update
}

# shellcheck disable=SC2086 # package names are single words
install_pkgs() { run apt-get "${apt_quiet[@]}" install -y --no-install-recommends ${pkgs_txt}; }

# Debian's mosquitto package starts (and enables) a system broker on port 1883, which is also
# Khu's default MQTT port. The benchmarks start their own Mosquitto, so keep package scripts
# from starting services during our install, the way Docker images do (policy-rc.d exit 101).
policy_rc=/usr/sbin/policy-rc.d
if [[ " ${pkgs_txt} " == *" mosquitto "* && ! -e "$policy_rc" ]] && ((!dry_run)); then
  printf '#!/bin/sh\n# temporary, from Khu scripts/preflight.sh\nexit 101\n' >"$policy_rc"
  chmod 755 "$policy_rc"
  trap 'rm -f "$policy_rc"' EXIT
fi

if ! lists_present; then
  apt_update || explain_and_fail "apt-get update thất bại / apt-get update failed"
fi
if ! install_pkgs; then
  # Stale package lists (404 on a superseded .deb) are the usual cause: refresh once and retry.
  if ((!updated)); then
    apt_update || explain_and_fail "apt-get update thất bại / apt-get update failed"
    install_pkgs || explain_and_fail "apt-get install thất bại / apt-get install failed"
  else
    explain_and_fail "apt-get install thất bại / apt-get install failed"
  fi
fi

if ((dry_run)); then
  err "preflight (dry run): không cài gì / nothing installed"
  exit 0
fi

# Check again: the package must really have provided the tools.
still=()
for tool in "${missing_tools[@]}"; do
  has_tool "$tool" || still+=("$tool")
done
if ((${#still[@]} > 0)); then
  tools_txt="${still[*]}"
  explain_and_fail "đã cài nhưng vẫn không thấy / installed but still not found: ${still[*]}"
fi
say "preflight: đã cài / installed: ${pkgs_txt}"
if [[ " ${pkgs_txt} " == *" mosquitto "* && -d /run/systemd/system ]]; then
  err "preflight: lưu ý: gói mosquitto bật dịch vụ hệ thống trên cổng 1883 (cổng MQTT mặc định của Khu);"
  err "  nếu không cần, tắt bằng / note: the mosquitto package enables a system service on port 1883"
  err "  (Khu's default MQTT port); if you do not need it: systemctl disable --now mosquitto"
fi
exit 0
