#!/usr/bin/env bash
# Set up (idempotent; only what running the app needs) and run KVS Studio. With no arguments: the window,
# or the headless demo (local endpoint + test pattern) when there is no display. Arguments go to
# `kvs-studio`, e.g. `./scripts/run-app.sh stream --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/kvs-studio "$@"
