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

# Bring up (or take down) a local libvirt hypervisor for the demo and the
# functional tests: libvirtd + virtlogd under tini, QEMU in TCG mode.
#
#   tools/hypervisor.sh install   apt packages (idempotent)
#   tools/hypervisor.sh start     start the daemons unless libvirt already answers
#   tools/hypervisor.sh stop      stop only the daemons this script started
#   tools/hypervisor.sh restart-libvirtd
#                                 libvirtd down and up, guests keep running
#   tools/hypervisor.sh stop-libvirtd
#                                 libvirtd down, guests keep running (start
#                                 brings it back)
#                                 (tests of counter resets; run it under
#                                 the shared lock /var/tmp/cperf-hv.lock)
#   tools/hypervisor.sh status
#
# PID 1 in our containers reaps no orphans, so each daemon runs under
# `tini -s` or libvirtd hangs on zombie QEMU processes.
set -eu

# shellcheck source=tools/lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

STATE_DIR=${CEILOMETER_PERF_STATE_DIR:-/var/tmp/ceilometer-perf}
LIBVIRT_URI=${LIBVIRT_URI:-qemu:///system}
PACKAGES="libvirt-daemon-system qemu-system-x86 libvirt-dev tini pkg-config"

log() {
    echo "hypervisor: $*" >&2
}

libvirt_answers() {
    timeout 10 virsh -r -c "$LIBVIRT_URI" version >/dev/null 2>&1
}

do_install() {
    # shellcheck disable=SC2086 # one word per package
    apt_install_missing $PACKAGES
}

start_daemon() {
    local name=$1
    shift
    local pidfile=$STATE_DIR/$name.pid
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        return 0
    fi
    (
        # Pass on no descriptor but 0-2: a daemon started under the shared
        # `flock /var/tmp/cperf-hv.lock` would hold the lock for life.
        local fd
        for fd in $(ls "/proc/$BASHPID/fd"); do
            if [ "$fd" -gt 2 ]; then
                eval "exec $fd>&-"
            fi
        done
        exec setsid tini -s -- "$@" >"$STATE_DIR/$name.log" 2>&1 </dev/null
    ) &
    echo $! >"$pidfile"
}

do_start() {
    mkdir -p "$STATE_DIR"
    if libvirt_answers; then
        log "libvirt already answers at $LIBVIRT_URI"
        return 0
    fi
    if [ -e /dev/kvm ]; then
        # Without group access every libvirt call re-probes QEMU (0.7 s).
        chgrp kvm /dev/kvm 2>/dev/null || true
        chmod 0660 /dev/kvm 2>/dev/null || true
    fi
    mkdir -p /run/libvirt /var/lib/libvirt/qemu /var/log/libvirt/qemu
    start_daemon virtlogd /usr/sbin/virtlogd
    start_daemon libvirtd /usr/sbin/libvirtd
    local i
    for i in $(seq 1 60); do
        if libvirt_answers; then
            log "libvirtd up ($LIBVIRT_URI) after ${i}x0.5s"
            return 0
        fi
        sleep 0.5
    done
    log "libvirtd did not answer; its log:"
    tail -n 20 "$STATE_DIR/libvirtd.log" >&2 || true
    return 1
}

stop_daemon() {
    local name=$1
    local pidfile=$STATE_DIR/$name.pid
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

do_stop_libvirtd() {
    # The guests run on; virtlogd is left alone: they write their logs
    # through it.
    if [ -f "$STATE_DIR/libvirtd.pid" ]; then
        stop_daemon libvirtd
    else
        # A libvirtd this script did not start: end it the same way.
        local pid
        local i
        for pid in $(pidof libvirtd); do
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 1 40); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.25
            done
        done
    fi
}

do_restart_libvirtd() {
    # The perf counters of every running guest restart from zero; the QEMU
    # processes and their domain ids stay.
    do_stop_libvirtd
    do_start
}

do_stop() {
    stop_daemon libvirtd
    stop_daemon virtlogd
}

case "${1:-}" in
    install) do_install ;;
    start) do_start ;;
    stop) do_stop ;;
    restart-libvirtd) do_restart_libvirtd ;;
    stop-libvirtd) do_stop_libvirtd ;;
    status)
        if libvirt_answers; then
            echo "up"
        else
            echo "down"
            exit 1
        fi
        ;;
    *)
        echo "usage: $0 install|start|stop|restart-libvirtd|stop-libvirtd|status" >&2
        exit 2
        ;;
esac
