#!/bin/bash
# The project's test command (README, .ci/run): installs what the tests
# need on a Debian machine, then runs lint, unit and functional tests.
# The functional tests start libvirtd themselves and stop what they start.
#
#   tools/run-tests.sh              everything
#   tools/run-tests.sh unit         lint + unit tests only (seconds)
set -eu

cd "$(dirname "$0")/.."
SUITE=${1:-all}
VENV=${CEILOMETER_PERF_VENV:-.venv}

tools/install.sh

echo "== lint"
"$VENV/bin/ruff" check ceilometer_perf tests tools
"$VENV/bin/bashate" -i E006 tools/*.sh .ci/run devstack/plugin.sh
"$VENV/bin/python" tools/sync-catalogue --check

case "$SUITE" in
    unit) paths="tests/unit tests/devstack" ;;
    functional) paths="tests/functional" ;;
    all) paths="tests/unit tests/devstack tests/functional" ;;
    *) echo "unknown suite: $SUITE" >&2; exit 2 ;;
esac
echo "== tests: $paths"
# shellcheck disable=SC2086
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -ra $paths
