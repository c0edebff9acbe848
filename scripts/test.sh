#!/usr/bin/env bash
# The test command: set up everything (scripts/setup.sh), then run the whole suite. Each
# integration test session starts its own private Kafka + MongoDB-wire stack on free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/pytest "$@"
