#!/usr/bin/env bash
# Puts promtool and prometheus in .cache/prometheus/bin/ (git-ignored) for the test suite:
# tests/deploy checks the alert rules with `promtool check|test rules`, a scrape of
# /metrics with `promtool check metrics`, and runs a real Prometheus against a real Alice.
#
# Idempotent. In order: use ALICE_PROMTOOL and ALICE_PROMETHEUS when both are set (the
# tests read them first); keep working binaries already there; link the ones on PATH (a
# developer's own install); else take them out of Debian's `prometheus` package without
# installing it (`apt-get download` needs no root, `dpkg-deb -x` unpacks it here).
# Otherwise say what to install and exit 1: the tests fail without them, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=.cache/prometheus/bin
TOOLS=(promtool prometheus)

works() {
    "$DEST/promtool" --version >/dev/null 2>&1 && "$DEST/prometheus" --version >/dev/null 2>&1
}

if [[ -n "${ALICE_PROMTOOL:-}" && -n "${ALICE_PROMETHEUS:-}" ]]; then
    "$ALICE_PROMTOOL" --version >/dev/null 2>&1 && "$ALICE_PROMETHEUS" --version >/dev/null 2>&1 ||
        { echo "ALICE_PROMTOOL or ALICE_PROMETHEUS does not run: $ALICE_PROMTOOL, $ALICE_PROMETHEUS" >&2; exit 1; }
    exit 0
fi
if works; then
    exit 0
fi
mkdir -p "$DEST"

if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
    for tool in "${TOOLS[@]}"; do
        ln -sf "$(command -v "$tool")" "$DEST/$tool"
    done
    works && { echo "linked promtool and prometheus from PATH into $DEST"; exit 0; }
fi

if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # Lets apt's sandbox user (_apt) reach the folder; otherwise apt warns and downloads as root.
    chmod 0755 "$work"
    download() { (cd "$work" && apt-get download prometheus >/dev/null 2>&1); }
    # A fresh machine may have no package lists yet; root can fetch them.
    if ! download && [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq >/dev/null 2>&1 || true
    fi
    if ls "$work"/prometheus_*.deb >/dev/null 2>&1 || download; then
        dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
        for tool in "${TOOLS[@]}"; do
            rm -f "$DEST/$tool"
            install -m 0755 "$work/root/usr/bin/$tool" "$DEST/$tool"
        done
        works && { echo "unpacked $("$DEST/promtool" --version | head -1) into $DEST"; exit 0; }
    fi
fi

cat >&2 <<'HINT'
promtool and prometheus are needed by the test suite (tests/deploy) and none could be found
or downloaded. Install them with one of:
  sudo apt-get install prometheus          # Debian/Ubuntu (2.42 or newer)
  brew install prometheus                  # macOS
or put both binaries on PATH (https://prometheus.io/download/), or point ALICE_PROMTOOL and
ALICE_PROMETHEUS at them, then run `make tools` again.
HINT
exit 1
