#!/usr/bin/env bash
# Set up (idempotent) and run every check: ruff, then the whole pytest suite, headless.
# The suite runs inside a private D-Bus session with an unlocked gnome-keyring, so keyring code is
# tested against a real Secret Service, and Qt draws offscreen. HOME is a throwaway for the keyring.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check app tests packaging
export QT_QPA_PLATFORM=offscreen OPENCV_LOG_LEVEL=OFF PYTHONDONTWRITEBYTECODE=1
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN || true
KEYRING_HOME=$(mktemp -d)
trap 'rm -rf "$KEYRING_HOME"' EXIT
run_pytest='echo -n kvs-studio-ci | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || true
.venv/bin/python -m pytest "$@"'
set +e
HOME="$KEYRING_HOME" XDG_DATA_HOME="$KEYRING_HOME/.local/share" dbus-run-session -- sh -c "$run_pytest" sh "$@"
rc=$?
set -e
# pytest's "no tests collected" (5) is a failure here too: the suite must run something.
exit $rc
