#!/usr/bin/env bash
# Set up (idempotent) and run KVS Studio. With no arguments it starts the local KVS-compatible
# endpoint, the offline default that needs no AWS account; any arguments go to `kvs-studio`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then
  :
fi
exec .venv/bin/kvs-studio "$@"
