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

# The Ceilometer release matrix: the core functional tests and the demo's
# poll under every Ceilometer release requirements.txt admits, each in its
# own venv (.venv-ceilometer-<version>/, git-ignored, kept as a cache and
# rebuilt only when the requirements change, like tools/install.sh does).
# Ceilometer < 27 asks the Nova API during discovery: the tests give it a
# local Keystone + Nova stand-in (tests/emulators/openstack_api.py).
#
#   tools/matrix.sh install     build the venvs that are missing or stale
#   tools/matrix.sh run         install, then run the matrix, one summary
#                               line per release
#
# CEILOMETER_PERF_MATRIX overrides the releases (space separated).
set -eu

cd "$(dirname "$0")/.."
RELEASES=${CEILOMETER_PERF_MATRIX:-24.0.2 25.0.0 26.0.0 27.0.0}
# The core functional tests: nova 31 and nova 34 shaped guests, the polling
# agent on them, and the demo's `ceilometer-perf poll` / `check`.
DEFAULT_TESTS="tests/functional/test_nova_shapes.py"
DEFAULT_TESTS="$DEFAULT_TESTS tests/functional/test_polling_agent.py"
TESTS=${CEILOMETER_PERF_MATRIX_TESTS:-$DEFAULT_TESTS}

log() {
    echo "matrix: $*" >&2
}

venv_of() {
    echo "${CEILOMETER_PERF_MATRIX_VENVS:-.}/.venv-ceilometer-$1"
}

stamp_of() {
    echo "$1/.installed-$( (cat setup.cfg requirements.txt \
        test-requirements.txt; echo "$2") | md5sum | cut -c1-12)"
}

# Step 1, for every stale venv at once (downloads and builds dominate, two
# cores are enough): Ceilometer and the requirements.
install_deps() {
    local release=$1 venv
    venv=$(venv_of "$release")
    rm -f "$venv"/.installed-*
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q "ceilometer==$release" -r requirements.txt \
        -r test-requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
}

# Step 2, one venv after the other (the editable install writes into the
# checkout): ceilometer-perf itself, a check, the stamp.
install_self() {
    local release=$1 venv
    venv=$(venv_of "$release")
    "$venv/bin/pip" install -q --no-deps -e . 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$venv/bin/python" -c "
import importlib.metadata as m, ceilometer_perf.pollsters, libvirt
assert m.version('ceilometer') == '$release', m.version('ceilometer')"
    touch "$(stamp_of "$venv" "$release")"
}

install_all() {
    local release stale="" pids=""
    for release in $RELEASES; do
        if [ ! -f "$(stamp_of "$(venv_of "$release")" "$release")" ]; then
            stale="$stale $release"
        fi
    done
    if [ -z "$stale" ]; then
        return 0
    fi
    log "Ceilometer$stale into their venvs (a few minutes the first time)"
    for release in $stale; do
        install_deps "$release" &
        pids="$pids $!"
    done
    for pid in $pids; do
        wait "$pid"
    done
    for release in $stale; do
        install_self "$release"
    done
}

ACTION=${1:-run}
case "$ACTION" in
    install|run) ;;
    *) echo "usage: $0 [install|run]" >&2; exit 2 ;;
esac
install_all
if [ "$ACTION" = install ]; then
    exit 0
fi

failed=0
summary=""
for release in $RELEASES; do
    venv=$(venv_of "$release")
    start=$(date +%s)
    log "Ceilometer $release: $TESTS"
    # shellcheck disable=SC2086
    if "$venv/bin/python" -m pytest -p no:cacheprovider -ra -q $TESTS; then
        result=passed
    else
        result=FAILED
        failed=1
    fi
    line="Ceilometer $release: $result in $(( $(date +%s) - start )) s"
    summary="$summary$line;"
done
echo "== matrix"
echo "$summary" | tr ';' '\n' | sed '/^$/d; s/^/  /'
exit $failed
