#!/usr/bin/env bash
# Installs promtool (Debian package `prometheus`) for checking deploy/prometheus/sluice-alerts.yml,
# when it is missing. Idempotent and quick: does nothing but print where it is when it is there.
# Only the binary is wanted: no Prometheus server is started (and one that a service manager starts
# anyway is stopped and disabled). Needs root (or sudo) and Debian's package archive.
set -euo pipefail
source "$(dirname "$0")/lib/apt.sh"

if [ -z "$(find_tool promtool /usr/bin)" ]; then
  apt_install install-promtool prometheus
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null && { as_root update-rc.d prometheus disable >/dev/null 2>&1 || true; }
  fi
fi

PROMTOOL="$(find_tool promtool /usr/bin)"
if [ -z "$PROMTOOL" ]; then
  echo "install-promtool: prometheus installed but promtool not found" >&2
  exit 1
fi
echo "promtool: $PROMTOOL"
