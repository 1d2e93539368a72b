#!/usr/bin/env bash
# What the test tiers need from the system, checked before anything else runs: Chromium for the browser
# tiers (a CORS rule never tried in a browser is not proven) and curl for the serve snippets. Installed with
# apt-get when this user may (root, or sudo without a password); otherwise `make test` stops here, in its
# first second, with the one command to run.
set -euo pipefail

have_chromium() {
  [ -n "${CHROMIUM:-}" ] && command -v "$CHROMIUM" >/dev/null && return 0
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null
}

missing=()
have_chromium || missing+=(chromium)
command -v curl >/dev/null || missing+=(curl)
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n DEBIAN_FRONTEND=noninteractive)
  else
    echo "error: the tests need ${missing[*]} from the system's packages; install them, then rerun make test:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    echo "(or set CHROMIUM to a Chromium binary you already have)" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "error: the tests need ${missing[*]}; this system has no apt-get: install them with its package manager" >&2
  exit 1
fi
echo "Installing ${missing[*]} from the system's packages (the browser tiers drive Chromium)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq "${missing[@]}"
