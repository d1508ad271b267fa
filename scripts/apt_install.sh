#!/usr/bin/env bash
# apt_install.sh BINARY PACKAGE WHY: install Debian's PACKAGE unless BINARY is already on PATH.
# Never fails: without apt-get or root (or password-less sudo) it prints what is lost (WHY) and goes on.
set -uo pipefail
binary=$1 package=$2 why=$3
command -v "$binary" >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(false); fi
  if "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$package" >/dev/null; then
    exit 0
  fi
fi
echo "warning: could not install Debian's $package; $why" >&2
exit 0
