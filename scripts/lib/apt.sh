# Sourced by the scripts that install a tool from Debian's packages when it is missing.

# find_tool NAME DIR: the tool's path (on the PATH, or in DIR, where Debian puts it), or nothing.
find_tool() {
  command -v "$1" 2>/dev/null || { [ -x "$2/$1" ] && echo "$2/$1"; } || true
}

# apt_install WHO PACKAGE: installs PACKAGE without recommends, as root (or with sudo), and without
# letting its service start: policy-rc.d refuses every start while it runs (only written when there
# is none, and removed after). WHO names the script in errors.
apt_install() {
  local who="$1" package="$2" sudo="" policy=/usr/sbin/policy-rc.d added=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "$who: needs root or sudo" >&2; exit 1; }
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || { echo "$who: no apt-get here; install $package by hand" >&2; exit 1; }
  echo "installing $package..."
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    added=1
  fi
  $sudo apt-get update -qq
  local status=0
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null || status=$?
  [ -n "$added" ] && $sudo rm -f "$policy"
  return $status
}

# as_root COMMAND...: runs it as root, with sudo when this is not root.
as_root() {
  if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi
}
