#!/usr/bin/env bash
# Installs promtool (Debian package `prometheus`) for checking deploy/prometheus/sluice-alerts.yml,
# when it is missing. Idempotent and quick: does nothing but print where it is when it is there.
# Only the binary is wanted: no Prometheus server is started (policy-rc.d keeps the package's
# service from starting during the install; if one runs anyway, it is stopped and disabled).
# Needs root (or sudo) and Debian's package archive.
set -euo pipefail

find_tool() { # name -> path, or nothing
  command -v "$1" 2>/dev/null || { [ -x "/usr/bin/$1" ] && echo "/usr/bin/$1"; } || true
}

if [ -n "$(find_tool promtool)" ]; then
  echo "promtool: $(find_tool promtool)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-promtool: needs root or sudo" >&2; exit 1; }
  SUDO="sudo"
fi
command -v apt-get >/dev/null || { echo "install-promtool: no apt-get here; install promtool by hand" >&2; exit 1; }

echo "installing prometheus (for promtool)..."
# No service starts during the install. policy-rc.d is only written when there is none, and removed after.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod +x "$POLICY"
  ADDED_POLICY=1
fi
cleanup() { [ -n "$ADDED_POLICY" ] && $SUDO rm -f "$POLICY"; return 0; }
trap cleanup EXIT

$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Should a service manager have started the server anyway, stop it and keep it from starting again.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
  $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  command -v update-rc.d >/dev/null && { $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true; }
fi

PROMTOOL="$(find_tool promtool)"
if [ -z "$PROMTOOL" ]; then
  echo "install-promtool: prometheus installed but promtool not found" >&2
  exit 1
fi
echo "promtool: $PROMTOOL"
