#!/usr/bin/env bash
# The main job on the embedded default: set up everything (scripts/setup.sh), then run the
# demo (local Kafka + MongoDB-wire server, Spark in local mode). Extra arguments go to
# `playlist2vec demo` (e.g. --once).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/playlist2vec demo "$@"
