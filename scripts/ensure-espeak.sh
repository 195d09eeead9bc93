#!/usr/bin/env bash
# espeak-ng: the fallback voice (and a Swedish one). Installed from the system's packages
# when this runs as root with apt-get; otherwise it says what to install.
# Usage: scripts/ensure-espeak.sh [--required]
set -euo pipefail
command -v espeak-ng >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing espeak-ng (the fallback voice) with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng >/dev/null; }
    exit 0
fi
msg="espeak-ng is not installed: Debian/Ubuntu 'sudo apt-get install espeak-ng', Fedora 'sudo dnf install espeak-ng', macOS 'brew install espeak-ng'"
if [ "${1:-}" = "--required" ]; then
    echo "$msg (the test suite needs it)" >&2
    exit 1
fi
echo "note: $msg; Alice speaks with piper only until then" >&2
