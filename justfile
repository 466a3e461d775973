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

# Lint, then every suite: pytest (+PostgreSQL when LATCHKEY_TEST_POSTGRES_URL is set), eslint, tsc, vitest, e2e
test *args: lint
    {{bin}}/pytest {{args}}
    npm run lint
    npm run typecheck
    npm run test:unit
    {{just_executable()}} e2e

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

# Production-like: build the SPA, then core :8001 and the BFF :8000 serving it at / (accounts as in `dev`)
serve: setup
    #!/usr/bin/env bash
    set -euo pipefail
    npm run build
    mkdir -p var
    if [ ! -f var/dev.env ]; then
        {{bin}}/python -m latchkey.devenv init var/dev.env
    fi
    set -a; source var/dev.env; set +a
    {{bin}}/latchkey db upgrade all
    {{bin}}/python -m latchkey.devenv seed var/dev.env
    set -a; source var/dev.env; set +a
    echo "app: http://127.0.0.1:8000   core: http://127.0.0.1:8001   (Ctrl-C stops both)"
    exec {{bin}}/python -m latchkey.devenv serve

# SPEC §9 side by side with nginx and a bare Python hop; writes docs/benchmarks.{md,svg,json}. `just bench --quick`: < 2 min, into var/bench/
bench *args: setup _load_tools
    PYTHONPATH=. {{py}} -m tests.benchmarks.run {{args}}

# wrk and nginx from Debian's packages (the benchmarks' load generator and the plain proxy_pass hop)
[private]
_load_tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if command -v wrk >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; }; then exit 0; fi
    sudo=""; if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends wrk nginx >/dev/null

# Playwright alone: build the SPA, then drive Chromium against fresh servers on :18000-18020, e.g. `just e2e -g CSRF`
e2e *args: setup _chromium
    npm run build
    npm run typecheck --workspace e2e
    cd e2e && npx playwright test {{args}}

# Retake docs/screenshots/*.png (Login, Projects, Developer Settings, My Profile) shown in the README
screenshots: setup _chromium
    npm run build
    cd e2e && LATCHKEY_SCREENSHOTS_DIR=../docs/screenshots npx playwright test screenshots.spec.ts

# Playwright drives Debian's Chromium (never a downloaded browser build); say how to get it when missing
[private]
_chromium:
    #!/usr/bin/env bash
    set -euo pipefail
    browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
    if [ ! -x "$browser" ]; then
        echo "Chromium not found at $browser: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH" >&2
        exit 1
    fi
