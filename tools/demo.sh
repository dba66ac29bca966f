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
#   tools/demo.sh --resctrl-emulator
#                           also show cpu_l3_cache and memory.bandwidth.*
#                           from the resctrl EMULATOR (tests/emulators: an
#                           imitation of the kernel's resctrl filesystem
#                           with made-up counters, for hosts without RDT)
#
# With no hypervisor or no instance here it brings up a small local one:
# libvirtd and three TCG guests with nova metadata, software perf events
# and vPMU on / off / unset.  Re-runnable; it removes only what it started.
set -eu

cd "$(dirname "$0")/.."
VENV=${CEILOMETER_PERF_VENV:-.venv}
KEEP=0
EMULATOR=0
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        --resctrl-emulator) EMULATOR=1 ;;
        *) echo "usage: $0 [--keep] [--resctrl-emulator]" >&2; exit 2 ;;
    esac
done
CONF_ARGS=()
emulator_pid=
CLI="$VENV/bin/ceilometer-perf"
started_hypervisor=0
started_guests=0

cleanup() {
    if [ -n "$emulator_pid" ]; then
        kill -TERM "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
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

if [ "$EMULATOR" = 1 ]; then
    mnt=$(mktemp -d /tmp/resctrl-emulator.XXXXXX)
    "$VENV/bin/python" -m tests.emulators.demo "$mnt" &
    emulator_pid=$!
    for _ in $(seq 50); do
        [ -d "$mnt/info/L3_MON" ] && break
        sleep 0.2
    done
    conf="$mnt.conf"
    printf '[ceilometer_perf]\nresctrl_root = %s\nresctrl_manage_groups = true\n' \
        "$mnt" >"$conf"
    if [ -f /etc/ceilometer/ceilometer.conf ]; then
        CONF_ARGS+=(--config-file /etc/ceilometer/ceilometer.conf)
    fi
    CONF_ARGS+=(--config-file "$conf")
    echo "demo: cache and bandwidth come from the resctrl EMULATOR at $mnt"
    echo "      (made-up counters: this host has no RDT)"
fi

echo
echo "== ceilometer-perf check: what this host can produce, and why not"
"$CLI" check "${CONF_ARGS[@]}" || true
echo
echo "== ceilometer-perf poll: three cycles, 5 s apart, every meter check" \
    "says this host produces"
meters=()
for meter in $("$CLI" check --format json "${CONF_ARGS[@]}" 2>/dev/null \
        | "$VENV/bin/python" -c 'import json, sys
print(" ".join(m["meter"] for m in json.load(sys.stdin)["meters"] if m["ok"]))'
        ); do
    meters+=(--meter "$meter")
done
if [ "${#meters[@]}" = 0 ]; then
    meters=(--meter 'perf.event.*' --meter perf.vpmu)
fi
"$CLI" poll "${meters[@]}" "${CONF_ARGS[@]}" --interval 5 --count 3
