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

# The Gnocchi chain for the end-to-end test and the demo, started by hand
# on loopback with its data in one directory, as a cloud runs it:
# PostgreSQL 15, RabbitMQ, Keystone 30 (tools/lib/keystone.sh; projects
# alpha and beta with a member user each, the ceilometer and gnocchi
# service users: tools/keystone_setup.py), Gnocchi 4.7 (auth_mode
# keystone, file storage, gnocchi-api + gnocchi-metricd), Aodh 23 (its
# API behind Keystone and aodh-evaluator: tools/lib/aodh.sh),
# ceilometer-agent-notification with the gnocchi publisher (through
# Keystone, filtering the service project as by default), and
# ceilometer-polling with the ceilometer-perf pollsters.
#
#   tools/services.sh install      apt packages, the Gnocchi, Keystone
#                                  and Aodh venvs
#   tools/services.sh start DIR    start everything, state and logs in DIR
#   tools/services.sh stop DIR     stop everything `start DIR` started
#   tools/services.sh status DIR
#
# `start` writes DIR/services.env (URLs, ports, the Keystone users'
# passwords and the projects' and users' ids; mode 600).  The polling agent reads
# DIR/polling.yaml if the caller wrote one, else etc/ceilometer/
# polling.yaml.  The gnocchi_resources.yaml is Ceilometer's packaged one
# merged with `ceilometer-perf gnocchi merge`, the operator's path.
#
# Each daemon runs in its own session under `tini -s` (PID 1 here reaps no
# orphans); `stop` ends each session, whatever happened before.
set -eu

# shellcheck source=tools/lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tools/lib/keystone.sh
. "$ROOT/tools/lib/keystone.sh"
# shellcheck source=tools/lib/aodh.sh
. "$ROOT/tools/lib/aodh.sh"
VENV=${CEILOMETER_PERF_VENV:-$ROOT/.venv}
GNOCCHI_VENV=${CEILOMETER_PERF_GNOCCHI_VENV:-$ROOT/.venv-gnocchi}
GNOCCHI_VERSION=4.7.1
E2E_HOST=${CEILOMETER_PERF_E2E_HOST:-e2e-compute}
LIBVIRT_URI=${LIBVIRT_URI:-qemu:///system}
PG_BIN=/usr/lib/postgresql/15/bin
RABBIT_BIN=/usr/lib/rabbitmq/bin
PACKAGES="postgresql-15 rabbitmq-server tini curl"
# Stopped last to first.
SERVICES="postgres epmd rabbitmq keystone gnocchi-api gnocchi-metricd
aodh-api aodh-evaluator ceilometer-notification ceilometer-polling"

log() {
    echo "services: $*" >&2
}

die() {
    log "$*"
    exit 1
}

# --- install

install_packages() {
    # shellcheck disable=SC2086 # one word per package
    apt_install_missing $PACKAGES
}

install_gnocchi() {
    if [ -x "$GNOCCHI_VENV/bin/uwsgi" ] && "$GNOCCHI_VENV/bin/python" -c \
            "import gnocchi, keystonemiddleware
assert gnocchi.__version__ == '$GNOCCHI_VERSION'" 2>/dev/null; then
        return 0
    fi
    log "installing Gnocchi $GNOCCHI_VERSION and uWSGI in $GNOCCHI_VENV"
    # Its own venv: Gnocchi's pins need not agree with Ceilometer's.
    python3 -m venv "$GNOCCHI_VENV"
    "$GNOCCHI_VENV/bin/pip" install -q -c "$ROOT/tools/gnocchi-constraints.txt" \
        "gnocchi[postgresql,keystone]==$GNOCCHI_VERSION" uwsgi 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$GNOCCHI_VENV/bin/python" -c \
        "import gnocchi, psycopg2, keystonemiddleware" \
        || die "Gnocchi did not install"
}

do_install() {
    install_packages
    install_gnocchi
    install_keystone
    install_aodh
    [ -x "$VENV/bin/ceilometer-agent-notification" ] \
        || die "no Ceilometer in $VENV: run tools/run-tests.sh unit first"
}

# --- processes

# A process that has exited but was not reaped (PID 1 reaps nothing here)
# counts as gone.
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != "Z" ]
}

session_pids() {
    ps -e -o pid=,sid=,stat= | awk -v sid="$1" \
        '$2 == sid && $3 !~ /^Z/ {print $1}'
}

start_daemon() {
    local name=$1
    shift
    setsid tini -s -- "$@" >"$DIR/log/$name.out" 2>&1 </dev/null &
    echo $! >"$DIR/run/$name.pid"
}

stop_daemon() {
    local name=$1
    local signal=${2:-TERM}
    local pidfile=$DIR/run/$name.pid
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if alive "$pid"; then
        # tini passes the signal on to the service.
        kill "-$signal" "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 60); do
            [ -z "$(session_pids "$pid")" ] && break
            sleep 0.25
        done
    fi
    local left
    left=$(session_pids "$pid")
    if [ -n "$left" ]; then
        log "$name did not stop on SIG$signal: killing $left"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

wait_for() {
    local what=$1
    local tries=$2
    shift 2
    local i
    for i in $(seq 1 "$tries"); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.25
    done
    log "$what did not come up; the end of its log:"
    tail -n 30 "$DIR/log/$what.out" >&2 || true
    return 1
}

tcp_open() {
    timeout 1 bash -c "echo >/dev/tcp/127.0.0.1/$1"
}

free_ports() {
    python3 - "$1" <<'EOF'
import socket
import sys

socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    socks.append(s)
print(' '.join(str(s.getsockname()[1]) for s in socks))
EOF
}

# --- the services

start_postgres() {
    mkdir -p "$DIR/postgres"
    chown postgres: "$DIR/postgres"
    setpriv --reuid=postgres --regid=postgres --init-groups -- \
        "$PG_BIN/initdb" -D "$DIR/postgres/data" -A trust -U postgres \
        -E UTF8 --no-sync >"$DIR/log/initdb.out" 2>&1 \
        || die "initdb failed: $(tail -n 5 "$DIR/log/initdb.out")"
    start_daemon postgres setpriv --reuid=postgres --regid=postgres \
        --init-groups -- "$PG_BIN/postgres" -D "$DIR/postgres/data" \
        -c listen_addresses=127.0.0.1 -p "$PG_PORT" \
        -c unix_socket_directories="$DIR/postgres" -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off
}

rabbitmq_env() {
    export HOME=$DIR/rabbitmq
    export RABBITMQ_NODENAME=cperf-e2e-$AMQP_PORT@localhost
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$AMQP_PORT
    export RABBITMQ_DIST_PORT=$DIST_PORT
    export ERL_EPMD_ADDRESS=127.0.0.1
    export ERL_EPMD_PORT=$EPMD_PORT
    export RABBITMQ_MNESIA_BASE=$DIR/rabbitmq/mnesia
    export RABBITMQ_LOG_BASE=$DIR/rabbitmq/log
    export RABBITMQ_ENABLED_PLUGINS_FILE=$DIR/rabbitmq/enabled_plugins
    export RABBITMQ_CONF_ENV_FILE=$DIR/rabbitmq/rabbitmq-env.conf
    export RABBITMQ_CONFIG_FILE=$DIR/rabbitmq/rabbitmq
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

start_rabbitmq() {
    mkdir -p "$DIR/rabbitmq"
    echo '[].' >"$DIR/rabbitmq/enabled_plugins"
    : >"$DIR/rabbitmq/rabbitmq-env.conf"
    echo "listeners.tcp.default = 127.0.0.1:$AMQP_PORT" \
        >"$DIR/rabbitmq/rabbitmq.conf"
    (
        rabbitmq_env
        # Our own epmd, on loopback, stopped with the rest.
        start_daemon epmd epmd -port "$EPMD_PORT" -address 127.0.0.1
        wait_for epmd 40 tcp_open "$EPMD_PORT"
        start_daemon rabbitmq "$RABBIT_BIN/rabbitmq-server"
    )
}

gnocchi_answers() {
    # The version document needs no token.
    curl -sf "$GNOCCHI_URL/" >/dev/null
}

# paste_reading_conf PYTHON PACKAGE FILTER CONF: the api-paste.ini
# PACKAGE ships, with keystonemiddleware (paste filter FILTER) reading
# CONF: by default it reads /etc/<project>.
paste_reading_conf() {
    local packaged
    packaged=$("$1" -c "import $2, os
print(os.path.join(os.path.dirname($2.__file__), 'api-paste.ini'))")
    sed "/^\[filter:$3\]/a oslo_config_file = $4" "$packaged"
}

# start_uwsgi NAME VENV PORT APP-OPTION...: a WSGI API on loopback under
# uWSGI (Keystone's build) in VENV.  Connection: close, else
# keystonemiddleware's kept-alive connections to uWSGI's plain HTTP socket
# get 503s.
start_uwsgi() {
    local name=$1
    local venv=$2
    local port=$3
    shift 3
    start_daemon "$name" "$KEYSTONE_VENV/bin/uwsgi" \
        --http-socket "127.0.0.1:$port" --add-header 'Connection: close' \
        "$@" --virtualenv "$venv" --master --processes 1 --threads 4 \
        --die-on-term --need-app --lazy-apps
}

start_gnocchi() {
    mkdir -p "$DIR/gnocchi/data"
    # No log_dir: Gnocchi logs to stderr, kept in $DIR/log/gnocchi-*.out.
    cat >"$DIR/gnocchi/gnocchi.conf" <<EOF
[api]
auth_mode = keystone
paste_config = $DIR/gnocchi/api-paste.ini
host = 127.0.0.1
port = $GNOCCHI_PORT
uwsgi_mode = http
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL/v3
auth_url = $KEYSTONE_URL/v3
auth_type = password
username = gnocchi
password = $GNOCCHI_PASSWORD
project_name = service
user_domain_id = default
project_domain_id = default
region_name = RegionOne
interface = internal
[indexer]
url = postgresql://postgres@127.0.0.1:$PG_PORT/gnocchi
[storage]
driver = file
file_basepath = $DIR/gnocchi/data
[metricd]
workers = 1
metric_processing_delay = 1
EOF
    paste_reading_conf "$GNOCCHI_VENV/bin/python" gnocchi.rest \
        keystone_authtoken "$DIR/gnocchi/gnocchi.conf" \
        >"$DIR/gnocchi/api-paste.ini"
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres gnocchi
    "$GNOCCHI_VENV/bin/gnocchi-upgrade" \
        --config-file "$DIR/gnocchi/gnocchi.conf" \
        >"$DIR/log/gnocchi-upgrade.out" 2>&1 \
        || die "gnocchi-upgrade failed: $(tail -n 5 \
            "$DIR/log/gnocchi-upgrade.out")"
    (
        export VIRTUAL_ENV=$GNOCCHI_VENV
        export PATH=$GNOCCHI_VENV/bin:$PATH
        start_daemon gnocchi-api gnocchi-api \
            --config-file "$DIR/gnocchi/gnocchi.conf"
        start_daemon gnocchi-metricd gnocchi-metricd \
            --config-file "$DIR/gnocchi/gnocchi.conf"
    )
}

configure_ceilometer() {
    local etc=$DIR/ceilometer
    mkdir -p "$etc"
    if [ -f "$DIR/polling.yaml" ]; then
        cp "$DIR/polling.yaml" "$etc/polling.yaml"
    else
        cp "$ROOT/etc/ceilometer/polling.yaml" "$etc/polling.yaml"
    fi
    # The operator's step: merge our mapping into the file the publisher
    # reads (here created from Ceilometer's packaged one).
    "$VENV/bin/ceilometer-perf" gnocchi merge \
        "$etc/gnocchi_resources.yaml" >"$DIR/log/merge.out"
    cat >"$etc/pipeline.yaml" <<EOF
---
sources:
    - name: meter_source
      meters:
          - "*"
      sinks:
          - meter_sink
sinks:
    - name: meter_sink
      publishers:
          - gnocchi://?resources_definition_file=$etc/gnocchi_resources.yaml
EOF
    cat >"$etc/ceilometer.conf" <<EOF
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:$AMQP_PORT/
host = $E2E_HOST
libvirt_type = qemu
libvirt_uri = $LIBVIRT_URI
log_dir = $DIR/log
pipeline_cfg_file = $etc/pipeline.yaml
[compute]
instance_discovery_method = libvirt_metadata
[polling]
cfg_file = $etc/polling.yaml
[notification]
pipelines = meter
workers = 1
[service_credentials]
auth_type = password
auth_url = $KEYSTONE_URL/v3
username = ceilometer
password = $CEILOMETER_PASSWORD
project_name = service
user_domain_id = default
project_domain_id = default
region_name = RegionOne
interface = internal
EOF
}

start_ceilometer() {
    local conf=$DIR/ceilometer/ceilometer.conf
    # Creates the resource types (instance, ...) in Gnocchi.
    "$VENV/bin/ceilometer-upgrade" --config-file "$conf" \
        >"$DIR/log/ceilometer-upgrade.out" 2>&1 \
        || die "ceilometer-upgrade failed: $(tail -n 5 \
            "$DIR/log/ceilometer-upgrade.out")"
    start_daemon ceilometer-notification \
        "$VENV/bin/ceilometer-agent-notification" --config-file "$conf"
    start_daemon ceilometer-polling "$VENV/bin/ceilometer-polling" \
        --polling-namespaces compute --config-file "$conf"
}

start_all() {
    mkdir -p "$DIR/log" "$DIR/run"
    # PostgreSQL runs as user postgres and must reach its data directory.
    chmod 711 "$DIR"
    local ports
    read -r -a ports <<<"$(free_ports 7)"
    PG_PORT=${ports[0]}
    AMQP_PORT=${ports[1]}
    DIST_PORT=${ports[2]}
    EPMD_PORT=${ports[3]}
    GNOCCHI_PORT=${ports[4]}
    KEYSTONE_PORT=${ports[5]}
    AODH_PORT=${ports[6]}
    GNOCCHI_URL=http://127.0.0.1:$GNOCCHI_PORT
    KEYSTONE_URL=http://127.0.0.1:$KEYSTONE_PORT
    AODH_URL=http://127.0.0.1:$AODH_PORT
    new_passwords
    TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:$AMQP_PORT/
    CEILOMETER_CONF=$DIR/ceilometer/ceilometer.conf
    # Passwords in it: readable by root only.
    (umask 077 && : >"$DIR/services.env")
    local var
    for var in PG_PORT AMQP_PORT DIST_PORT EPMD_PORT GNOCCHI_PORT \
            GNOCCHI_URL KEYSTONE_PORT KEYSTONE_URL AODH_PORT AODH_URL \
            TRANSPORT_URL E2E_HOST CEILOMETER_CONF ADMIN_PASSWORD \
            ALPHA_PASSWORD BETA_PASSWORD CEILOMETER_PASSWORD AODH_PASSWORD \
            GNOCCHI_PASSWORD; do
        echo "$var=${!var}"
    done >>"$DIR/services.env"
    local t0=$SECONDS
    # RabbitMQ and Keystone boot slowest: start them first, the rest
    # meanwhile.
    start_rabbitmq
    start_keystone
    start_postgres
    wait_for postgres 120 "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
    start_gnocchi
    configure_ceilometer
    wait_for gnocchi-api 240 gnocchi_answers
    provision_keystone "$GNOCCHI_URL"
    start_aodh
    wait_for rabbitmq 240 tcp_open "$AMQP_PORT"
    start_ceilometer
    wait_for aodh-api 240 aodh_answers
    log "up in $((SECONDS - t0)) s: Keystone $KEYSTONE_URL, Gnocchi" \
        "$GNOCCHI_URL, Aodh $AODH_URL, RabbitMQ 127.0.0.1:$AMQP_PORT, state in $DIR"
}

do_start() {
    [ -n "$DIR" ] || die "usage: $0 start DIR"
    [ -x "$GNOCCHI_VENV/bin/gnocchi-api" ] \
        || die "no Gnocchi in $GNOCCHI_VENV: run $0 install"
    # Not `if ! (start_all)`: bash ignores set -e in a tested command, and
    # a step that fails must stop the start.
    local rc=0
    set +e
    (
        set -e
        start_all
    )
    rc=$?
    set -e
    if [ "$rc" != 0 ]; then
        log "start failed: stopping what was started (logs in $DIR/log)"
        do_stop
        exit 1
    fi
}

do_stop() {
    [ -n "$DIR" ] || die "usage: $0 stop DIR"
    [ -d "$DIR/run" ] || return 0
    local name
    for name in $(echo "$SERVICES" | tr ' ' '\n' | tac); do
        case "$name" in
            # Fast shutdown: it would wait for clients on TERM.
            postgres) stop_daemon "$name" INT ;;
            *) stop_daemon "$name" TERM ;;
        esac
    done
}

do_status() {
    [ -n "$DIR" ] || die "usage: $0 status DIR"
    local name
    local down=0
    for name in $SERVICES; do
        local pidfile=$DIR/run/$name.pid
        local pid=""
        [ -f "$pidfile" ] && pid=$(cat "$pidfile")
        if [ -n "$pid" ] && [ -n "$(session_pids "$pid")" ]; then
            echo "$name up"
        else
            echo "$name down"
            down=1
        fi
    done
    return $down
}

DIR=${2:-}
case "${1:-}" in
    install) do_install ;;
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *)
        echo "usage: $0 install|start DIR|stop DIR|status DIR" >&2
        exit 2
        ;;
esac
