#!/usr/bin/env bash
# Installs Debian's Chromium for the console's browser test (test/console.test.ts), when it is
# missing. Idempotent and quick when it is there. Needs root (or sudo) and Debian's package archive.
set -euo pipefail
source "$(dirname "$0")/lib/apt.sh"

if [ -z "$(find_tool chromium /usr/bin)" ]; then
  apt_install install-chromium chromium
fi
CHROMIUM="$(find_tool chromium /usr/bin)"
if [ -z "$CHROMIUM" ]; then
  echo "install-chromium: chromium installed but not found" >&2
  exit 1
fi
echo "chromium: $CHROMIUM"
