#!/usr/bin/env bash
# Installs Postfix's smtp-sink and smtp-source (Debian package `postfix`) for the benchmarks,
# when they are missing. Idempotent: does nothing when both are there. Never starts the Postfix
# daemon: the benchmarks run smtp-sink and smtp-source as child processes of their own.
# Needs root (or sudo) and Debian's package archive. Prints where the tools are.
set -euo pipefail

find_tool() { # name -> path, or nothing
  command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true
}

if [ -n "$(find_tool smtp-sink)" ] && [ -n "$(find_tool smtp-source)" ]; then
  echo "smtp-sink:   $(find_tool smtp-sink)"
  echo "smtp-source: $(find_tool smtp-source)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-postfix: needs root or sudo" >&2; exit 1; }
  SUDO="sudo"
fi
command -v apt-get >/dev/null || { echo "install-postfix: no apt-get here; install Postfix by hand" >&2; exit 1; }

echo "installing postfix (for smtp-sink and smtp-source)..."
export DEBIAN_FRONTEND=noninteractive
# "No configuration": the package installs without asking anything and leaves Postfix unconfigured.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
# No service starts during the install (containers have no init anyway; on a full system this
# keeps the daemon from starting). policy-rc.d is only written when there is none, and removed after.
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
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null

SINK="$(find_tool smtp-sink)"
SOURCE="$(find_tool smtp-source)"
if [ -z "$SINK" ] || [ -z "$SOURCE" ]; then
  echo "install-postfix: postfix installed but smtp-sink/smtp-source not found" >&2
  exit 1
fi
echo "smtp-sink:   $SINK"
echo "smtp-source: $SOURCE"
