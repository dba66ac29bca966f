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

# Install what the project needs on a Debian machine, idempotently: the
# hypervisor packages, a virtualenv (.venv, or $CEILOMETER_PERF_VENV)
# with ceilometer-perf (editable), Ceilometer, the test tools and what
# the docs build needs, Prometheus' binaries for the rule tests, and
# libfuse2 for the resctrl emulator (tests/emulators/resctrlfs.py).
set -eu

# shellcheck source=tools/lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

log() {
    echo "install: $*" >&2
}

cd "$(dirname "$0")/.."
VENV=${CEILOMETER_PERF_VENV:-.venv}

tools/hypervisor.sh install
apt_install_missing libfuse2
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat setup.cfg requirements.txt \
    test-requirements.txt doc/requirements.txt | md5sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "install: Python packages into $VENV (a few minutes the first time)"
    "$VENV/bin/pip" install -q -e . -r test-requirements.txt \
        -r doc/requirements.txt 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import ceilometer_perf.pollsters, libvirt"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi

# promtool and prometheus (rule checks, unit tests and the end-to-end
# scrape test): the binaries of Debian's package, unpacked into the venv,
# so no service is installed or started.
if [ ! -x "$VENV/bin/promtool" ] || [ ! -x "$VENV/bin/prometheus" ]; then
    echo "install: prometheus and promtool into $VENV/bin"
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1); then
        apt-get update -q >/dev/null
        (cd "$tmp" && apt-get download -q prometheus >/dev/null 2>&1)
    fi
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
    cp "$tmp/root/usr/bin/promtool" "$tmp/root/usr/bin/prometheus" \
        "$VENV/bin/"
    rm -rf "$tmp"
fi
