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

# The consumers of our meters, each in its own venv, for the end-to-end
# tests that run their own code against the e2e Gnocchi: OpenStack Watcher
# (its Gnocchi datasource) and Aodh (its threshold evaluators).  Built once
# per machine and kept outside the checkout (CI clones afresh), in
# $CEILOMETER_PERF_CACHE (default ~/.cache/ceilometer-perf), one venv per
# version: a stamp file names what was installed, so a second run costs
# nothing, and a lock lets the test runner build them in the background
# while the tests that need them wait.
#
#   tools/consumers.sh install           both venvs
#   tools/consumers.sh install watcher   one of them
#   tools/consumers.sh python watcher    print the venv's python
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WATCHER_VERSION=17.0.0
AODH_VERSION=23.0.0
CACHE=${CEILOMETER_PERF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ceilometer-perf}
WATCHER_VENV=${CEILOMETER_PERF_WATCHER_VENV:-$CACHE/venv-watcher-$WATCHER_VERSION}
AODH_VENV=${CEILOMETER_PERF_AODH_VENV:-$CACHE/venv-aodh-$AODH_VERSION}

log() {
    echo "consumers: $*" >&2
}

die() {
    log "$*"
    exit 1
}

# install_venv DIR STAMP IMPORT PACKAGE...: a venv with PACKAGEs, unless
# DIR/.stamp already says STAMP.
install_venv() {
    local dir=$1
    local stamp=$2
    local check=$3
    shift 3
    mkdir -p "$(dirname "$dir")"
    (
        # One builder at a time; the others wait, then find the stamp.
        flock 9
        if [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp" ]; then
            exit 0
        fi
        log "installing $stamp in $dir"
        [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
        "$dir/bin/python" -m pip install -q "$@" 2>&1 \
            | grep -v "^WARNING: Location" || true
        "$dir/bin/python" -c "$check" 2>/dev/null \
            || die "$stamp did not install in $dir"
        echo "$stamp" >"$dir/.stamp"
    ) 9>"$dir.lock"
}

install_watcher() {
    install_venv "$WATCHER_VENV" "python-watcher==$WATCHER_VERSION" \
        "import watcher.decision_engine.datasources.gnocchi, gnocchiclient" \
        "python-watcher==$WATCHER_VERSION" gnocchiclient
}

install_aodh() {
    # SQLite storage: the evaluators read and write alarms through it.
    install_venv "$AODH_VENV" "aodh==$AODH_VERSION" \
        "import aodh.evaluator.gnocchi, aodh.evaluator.prometheus" \
        "aodh==$AODH_VERSION" gnocchiclient python-observabilityclient
}

venv_of() {
    case "$1" in
        watcher) echo "$WATCHER_VENV" ;;
        aodh) echo "$AODH_VENV" ;;
        *) die "unknown consumer: $1 (watcher or aodh)" ;;
    esac
}

case "${1:-}" in
    install)
        case "${2:-all}" in
            all) install_watcher; install_aodh ;;
            watcher) install_watcher ;;
            aodh) install_aodh ;;
            *) die "unknown consumer: $2 (watcher or aodh)" ;;
        esac
        ;;
    python) echo "$(venv_of "${2:-}")/bin/python" ;;
    *)
        echo "usage: $0 install [watcher|aodh] | python watcher|aodh" >&2
        exit 2
        ;;
esac
