#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian, for tests/test_viewer_html.py (the HTML
# viewer in a real browser). Idempotent: does nothing when both are already installed.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  # Not root (a user's machine): everything else still runs, and the browser tests skip
  # naming this command (tests/browser.py). CI runs as root and installs them.
  echo "install-browser.sh: chromium/chromedriver missing and not root: the browser tests will be skipped; to run them: sudo apt-get install -y chromium chromium-driver" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver
