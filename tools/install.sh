#!/bin/bash
# Install what the project needs on a Debian machine, idempotently: the
# hypervisor packages and a virtualenv (.venv, or $CEILOMETER_PERF_VENV)
# with ceilometer-perf (editable), Ceilometer and the test tools.
set -eu

cd "$(dirname "$0")/.."
VENV=${CEILOMETER_PERF_VENV:-.venv}

tools/hypervisor.sh install
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(cat setup.cfg requirements.txt \
    test-requirements.txt | md5sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    echo "install: Python packages into $VENV (a few minutes the first time)"
    "$VENV/bin/pip" install -q -e . -r test-requirements.txt 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import ceilometer_perf.pollsters, libvirt"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
