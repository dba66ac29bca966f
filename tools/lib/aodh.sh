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

# Aodh for tools/services.sh (sourced, not run), as a cloud runs it: its
# API behind Keystone (keystonemiddleware, served by uWSGI) and
# aodh-evaluator, both as the `aodh` service user, sharing one SQLite
# database in $DIR/aodh.  The venv is tools/consumers.sh's (cached per
# machine).  Uses the caller's log, die, start_daemon, start_uwsgi,
# paste_reading_conf, $ROOT, $DIR, $KEYSTONE_URL, $AODH_PORT,
# $AODH_PASSWORD and $TRANSPORT_URL.

# Seconds between evaluation cycles: the tests wait for a cycle.
AODH_EVALUATION_INTERVAL=5

aodh_venv() {
    dirname "$(dirname "$("$ROOT/tools/consumers.sh" python aodh)")"
}

install_aodh() {
    "$ROOT/tools/consumers.sh" install aodh
}

aodh_answers() {
    # The versions document needs no token.
    curl -sf "$AODH_URL/" >/dev/null
}

aodh_conf() {
    local auth
    auth="auth_type = password
auth_url = $KEYSTONE_URL/v3
username = aodh
password = $AODH_PASSWORD
project_name = service
user_domain_id = default
project_domain_id = default
region_name = RegionOne
interface = internal"
    cat <<EOF
[DEFAULT]
transport_url = $TRANSPORT_URL
[api]
auth_mode = keystone
paste_config = $DIR/aodh/api-paste.ini
# The project Ceilometer's service user writes resources in: a tenant's
# resource-query alarms are scoped to its own project's resources.
gnocchi_external_project_owner = service
[database]
connection = sqlite:///$DIR/aodh/aodh.db
[evaluator]
evaluation_interval = $AODH_EVALUATION_INTERVAL
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL/v3
$auth
[service_credentials]
$auth
EOF
}

# start_aodh: configure, create the schema and start the API and the
# evaluator (after Keystone has the aodh user).
start_aodh() {
    local venv
    venv=$(aodh_venv)
    [ -x "$venv/bin/python" ] || die "no Aodh venv: run $0 install"
    mkdir -p "$DIR/aodh"
    local conf=$DIR/aodh/aodh.conf
    aodh_conf >"$conf"
    paste_reading_conf "$venv/bin/python" aodh.api authtoken "$conf" \
        >"$DIR/aodh/api-paste.ini"
    # Through the venv's python: a venv built elsewhere and copied keeps
    # its scripts' #! lines.
    "$venv/bin/python" "$venv/bin/aodh-dbsync" --config-file "$conf" \
        >"$DIR/log/aodh-dbsync.out" 2>&1 \
        || die "aodh-dbsync failed: $(tail -n 5 "$DIR/log/aodh-dbsync.out")"
    start_uwsgi aodh-api "$venv" "$AODH_PORT" \
        --wsgi-file "$venv/bin/aodh-api" --pyargv "--config-file $conf"
    start_daemon aodh-evaluator "$venv/bin/python" \
        "$venv/bin/aodh-evaluator" --config-file "$conf"
}
