#!/usr/bin/env bash
# Make headless Chromium available for the report-rendering test (tests/report). Idempotent:
# does nothing when a Chromium is on PATH; installs Debian's `chromium` with apt-get only when
# running as root on a machine that has apt-get. Never fails: without Chromium that test skips
# and says why.
for browser in chromium chromium-browser google-chrome; do
    command -v "$browser" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "[datarax] chromium not found and cannot be installed here (needs root and apt-get); the report rendering test will skip" >&2
    exit 0
fi
log="${TMPDIR:-/tmp}/datarax-chromium-install.log"
echo "[datarax] installing chromium with apt-get for the report rendering test (log: $log)" >&2
if ! { apt-get -o DPkg::Lock::Timeout=300 update &&
       DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium; } >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    echo "[datarax] chromium install failed; the report rendering test will skip" >&2
fi
exit 0
