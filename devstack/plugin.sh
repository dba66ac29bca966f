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

# devstack plugin for ceilometer-perf: install next to Ceilometer, tell
# nova which perf events to count, merge our polling sources (and Gnocchi
# mapping) into Ceilometer's files without clobbering them.

function ceilometer_perf_bin {
    echo "$(get_python_exec_prefix)/ceilometer-perf"
}

function install_ceilometer_perf {
    setup_develop "$CEILOMETER_PERF_DIR"
}

function configure_ceilometer_perf_nova {
    local events=$CEILOMETER_PERF_ENABLED_PERF_EVENTS
    local conf=${NOVA_CPU_CONF:-$NOVA_CONF}
    if [[ -z "$events" ]]; then
        return 0
    fi
    if [[ "$events" == "auto" ]]; then
        events=$("$(ceilometer_perf_bin)" perf-events) \
            || die $LINENO "ceilometer-perf perf-events failed"
    fi
    # nova drops cmt, mbmt and mbml on every kernel: never write them.
    local kept
    kept=$(echo "$events" | tr ',' '\n' | grep -vxE 'cmt|mbmt|mbml' \
        | paste -sd, -)
    if [[ "$kept" != "$events" ]]; then
        echo "ceilometer-perf: not giving nova cmt, mbmt, mbml (nova" \
            "drops them; use resctrl monitors)" >&2
    fi
    iniset "$conf" libvirt enabled_perf_events "$kept"
}

function configure_ceilometer_perf_polling {
    if [[ "$CEILOMETER_PERF_POLLING" != "True" ]]; then
        return 0
    fi
    "$(ceilometer_perf_bin)" merge-polling \
        "$CEILOMETER_CONF_DIR/polling.yaml" \
        || die $LINENO "merging polling.yaml failed"
}

function configure_ceilometer_perf_gnocchi {
    if [[ "$CEILOMETER_PERF_GNOCCHI" != "True" ]]; then
        return 0
    fi
    if ! is_service_enabled gnocchi-api; then
        return 0
    fi
    "$(ceilometer_perf_bin)" gnocchi merge \
        "$CEILOMETER_CONF_DIR/gnocchi_resources.yaml" \
        || die $LINENO "merging gnocchi_resources.yaml failed"
}

function clean_ceilometer_perf {
    rm -f "$CEILOMETER_CONF_DIR"/polling.yaml.*.bak
    rm -f "$CEILOMETER_CONF_DIR"/gnocchi_resources.yaml.*.bak
}

if [[ "$1" == "stack" && "$2" == "install" ]]; then
    echo_summary "Installing ceilometer-perf"
    install_ceilometer_perf
elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring ceilometer-perf"
    configure_ceilometer_perf_nova
    configure_ceilometer_perf_polling
    configure_ceilometer_perf_gnocchi
elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    echo_summary "ceilometer-perf: what this host can produce"
    "$(ceilometer_perf_bin)" check || true
fi

if [[ "$1" == "unstack" ]]; then
    # Nothing runs on its own: the pollsters live in ceilometer-polling.
    :
fi

if [[ "$1" == "clean" ]]; then
    clean_ceilometer_perf
fi
