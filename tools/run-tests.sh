#!/bin/bash
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

# The project's test command (README, .ci/run): installs what the tests
# need on a Debian machine, then runs lint (with the docs build), unit and
# functional tests, and then, as separate stages, the end-to-end tests and
# the Ceilometer release matrix.  The functional and end-to-end tests
# start libvirtd (and the Gnocchi chain) themselves and stop what they
# start.
#
#   tools/run-tests.sh              everything
#   tools/run-tests.sh unit         lint + unit tests only (seconds)
#   tools/run-tests.sh functional   lint + functional tests
#   tools/run-tests.sh e2e          lint + end-to-end tests (Gnocchi chain)
#   tools/run-tests.sh matrix       lint + the core functional tests and the
#                                   demo's poll under every Ceilometer
#                                   release requirements.txt admits
#                                   (tools/matrix.sh)
set -eu

cd "$(dirname "$0")/.."
SUITE=${1:-all}
VENV=${CEILOMETER_PERF_VENV:-.venv}

tools/install.sh

consumers_pid=""
case "$SUITE" in
    all|functional|e2e)
        # Watcher's and Aodh's venvs (tools/consumers.sh, cached per
        # machine), built meanwhile; the tests using them wait for it.
        consumers_log=$(mktemp)
        tools/consumers.sh install >"$consumers_log" 2>&1 &
        consumers_pid=$!
        ;;
esac

echo "== lint"
"$VENV/bin/ruff" check ceilometer_perf tests tools doc
"$VENV/bin/bashate" -i E006 tools/*.sh tools/lib/*.sh .ci/run devstack/plugin.sh
"$VENV/bin/python" tools/sync-catalogue --check
echo "== docs: doc/source -> doc/build/html"
"$VENV/bin/python" -m sphinx -W --keep-going -q -b html doc/source \
    doc/build/html

case "$SUITE" in
    unit) paths="tests/unit tests/devstack" ;;
    functional) paths="tests/functional" ;;
    e2e|matrix) paths="" ;;
    all) paths="tests/unit tests/devstack tests/functional" ;;
    *) echo "unknown suite: $SUITE" >&2; exit 2 ;;
esac
if [ -n "$paths" ]; then
    echo "== tests: $paths"
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pytest -p no:cacheprovider -ra $paths
fi
case "$SUITE" in
    all|e2e)
        # PostgreSQL, RabbitMQ, Keystone, Gnocchi + uWSGI and Aodh (their
        # own venvs, built once).
        CEILOMETER_PERF_VENV=$VENV tools/services.sh install
        echo "== tests: tests/e2e"
        CEILOMETER_PERF_VENV=$VENV "$VENV/bin/python" -m pytest \
            -p no:cacheprovider -ra tests/e2e
        ;;
esac
case "$SUITE" in
    all|matrix)
        echo "== matrix: Ceilometer releases (tools/matrix.sh)"
        start=$(date +%s)
        tools/matrix.sh run
        echo "== matrix: $(( $(date +%s) - start )) s"
        ;;
esac
if [ -n "$consumers_pid" ]; then
    if ! wait "$consumers_pid"; then
        cat "$consumers_log" >&2
        exit 1
    fi
    rm -f "$consumers_log"
fi
