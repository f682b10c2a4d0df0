#!/usr/bin/env bash
# Installs Postfix's smtp-sink and smtp-source (Debian package `postfix`) for the benchmarks,
# when they are missing. Idempotent: does nothing when both are there. Never starts the Postfix
# daemon: the benchmarks run smtp-sink and smtp-source as child processes of their own.
# Needs root (or sudo) and Debian's package archive. Prints where the tools are.
set -euo pipefail
source "$(dirname "$0")/lib/apt.sh"

if [ -z "$(find_tool smtp-sink /usr/sbin)" ] || [ -z "$(find_tool smtp-source /usr/sbin)" ]; then
  # "No configuration": the package installs without asking anything and leaves Postfix unconfigured.
  echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
  apt_install install-postfix postfix
fi

SINK="$(find_tool smtp-sink /usr/sbin)"
SOURCE="$(find_tool smtp-source /usr/sbin)"
if [ -z "$SINK" ] || [ -z "$SOURCE" ]; then
  echo "install-postfix: postfix installed but smtp-sink/smtp-source not found" >&2
  exit 1
fi
echo "smtp-sink:   $SINK"
echo "smtp-source: $SOURCE"
