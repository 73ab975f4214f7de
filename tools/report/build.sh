#!/usr/bin/env bash
# Single-file offline HTML report from allure-results folders (see build.mjs):
#   tools/report/build.sh [-o OUT_DIR] [--name NAME] RESULTS_DIR [RESULTS_DIR ...]
# Installs the pinned Allure CLI and playwright-core into tools/report/node_modules on first use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x "$here/node_modules/.bin/allure" ]; then
  npm ci --prefix "$here" --no-audit --no-fund
fi
exec node "$here/build.mjs" "$@"
