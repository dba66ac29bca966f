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

# The README's main command: poll the instances of this host with the
# plugin's real pollsters and show the samples.
#
#   tools/demo.sh           poll, then clean up what it started
#   tools/demo.sh --keep    leave the demo guests (and libvirtd) running
#
# With no hypervisor or no instance here it brings up a small local one:
# libvirtd and three TCG guests with nova metadata, software perf events
# and vPMU on / off / unset.  Re-runnable; it removes only what it started.
set -eu

cd "$(dirname "$0")/.."
VENV=${CEILOMETER_PERF_VENV:-.venv}
KEEP=0
if [ "${1:-}" = "--keep" ]; then
    KEEP=1
fi
CLI="$VENV/bin/ceilometer-perf"
started_hypervisor=0
started_guests=0

cleanup() {
    if [ "$KEEP" = 1 ]; then
        if [ "$started_guests" = 1 ]; then
            echo "demo: guests left running; remove them with:"
            echo "  $VENV/bin/python tools/localguests.py down"
        fi
        if [ "$started_hypervisor" = 1 ]; then
            echo "  tools/hypervisor.sh stop"
        fi
        return
    fi
    if [ "$started_guests" = 1 ]; then
        "$VENV/bin/python" tools/localguests.py down >/dev/null || true
    fi
    if [ "$started_hypervisor" = 1 ]; then
        tools/hypervisor.sh stop || true
    fi
}
trap cleanup EXIT

tools/install.sh
if ! tools/hypervisor.sh status >/dev/null 2>&1; then
    tools/hypervisor.sh start
    started_hypervisor=1
fi
if ! "$CLI" poll --meter perf.vpmu --format json 2>/dev/null \
        | grep -q instance_id; then
    echo "demo: no instance here; starting three small TCG guests"
    "$VENV/bin/python" tools/localguests.py up
    started_guests=1
fi

echo
echo "== ceilometer-perf check: what this host can produce, and why not"
"$CLI" check || true
echo
echo "== ceilometer-perf poll: three cycles, 5 s apart"
"$CLI" poll --meter 'perf.event.*' --meter perf.vpmu --interval 5 --count 3
