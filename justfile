# Latchkey — every developer command. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
py := venv / "bin/python"
bin := venv / "bin"

# List the recipes
default:
    @just --list

# Create ./.venv with the project and its dev tools, and install npm packages (fast when nothing changed)
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{py}} ]; then python3 -m venv {{venv}}; fi
    stamp={{venv}}/.latchkey-installed
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        {{py}} -m pip install -q --upgrade pip
        {{py}} -m pip install -q -e '.[dev]'
        echo "$want" > "$stamp"
    fi
    if [ -f package-lock.json ]; then
        lockhash=$(sha256sum package-lock.json | cut -d' ' -f1)
        if [ ! -f node_modules/.latchkey-installed ] || [ "$(cat node_modules/.latchkey-installed)" != "$lockhash" ]; then
            npm ci --no-audit --no-fund --loglevel=error
            mkdir -p node_modules && echo "$lockhash" > node_modules/.latchkey-installed
        fi
    fi

# Lint and type-check (ruff, ruff format --check, mypy --strict)
lint: setup
    {{bin}}/ruff check backend tests
    {{bin}}/ruff format --check backend tests
    {{bin}}/mypy

# Format the Python code
fmt: setup
    {{bin}}/ruff check --fix backend tests
    {{bin}}/ruff format backend tests

# Lint, then the whole test suite (SQLite; PostgreSQL too when LATCHKEY_TEST_POSTGRES_URL is set)
test *args: lint
    {{bin}}/pytest {{args}}

# Run pytest alone, e.g. `just pytest tests/core/test_pats.py -x`
pytest *args: setup
    {{bin}}/pytest {{args}}

# Apply migrations to the configured databases (core|all)
migrate target="all": setup
    {{bin}}/latchkey db upgrade {{target}}

# The local stack on SQLite under var/: keys, seeded accounts, core :8001 and BFF :8000 with prefixed logs
dev: setup
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p var
    if [ ! -f var/dev.env ]; then
        {{bin}}/python -m latchkey.devenv init var/dev.env
    fi
    set -a; source var/dev.env; set +a
    {{bin}}/latchkey db upgrade all
    {{bin}}/python -m latchkey.devenv seed var/dev.env
    set -a; source var/dev.env; set +a
    echo "core: http://127.0.0.1:8001   BFF: http://127.0.0.1:8000   (Ctrl-C stops all)"
    exec {{bin}}/python -m latchkey.devenv run
