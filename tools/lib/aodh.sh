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
# machine).  Uses the caller's log, die, start_daemon, $ROOT, $DIR,
# $KEYSTONE_VENV (its uWSGI), $KEYSTONE_URL, $AODH_PORT, $AODH_PASSWORD
# and $TRANSPORT_URL.

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

# Aodh's paste pipeline with keystonemiddleware reading aodh.conf (by
# default it reads /etc/aodh).
aodh_paste() {
    local packaged
    packaged=$("$1/bin/python" -c "import aodh.api, os
print(os.path.join(os.path.dirname(aodh.api.__file__), 'api-paste.ini'))")
    sed "/^\[filter:authtoken\]/a oslo_config_file = $2" "$packaged"
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
# The project Ceilometer writes resources as: a tenant's resource-query
# alarms are scoped to resources of its own project created there.
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
    aodh_paste "$venv" "$conf" >"$DIR/aodh/api-paste.ini"
    # Through the venv's python: the scripts' #! names the path the venv
    # was built at.
    "$venv/bin/python" "$venv/bin/aodh-dbsync" --config-file "$conf" \
        >"$DIR/log/aodh-dbsync.out" 2>&1 \
        || die "aodh-dbsync failed: $(tail -n 5 "$DIR/log/aodh-dbsync.out")"
    # Connection: close, as for Keystone (keystonemiddleware's kept-alive
    # connections and uWSGI's plain HTTP socket).
    start_daemon aodh-api "$KEYSTONE_VENV/bin/uwsgi" \
        --http-socket "127.0.0.1:$AODH_PORT" \
        --add-header 'Connection: close' \
        --wsgi-file "$venv/bin/aodh-api" --pyargv "--config-file $conf" \
        --virtualenv "$venv" --master --processes 1 --threads 4 \
        --die-on-term --need-app --lazy-apps
    start_daemon aodh-evaluator "$venv/bin/python" \
        "$venv/bin/aodh-evaluator" --config-file "$conf"
}
