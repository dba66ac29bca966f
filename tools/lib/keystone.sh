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

# Keystone for tools/services.sh (sourced, not run): its venv, and one
# Keystone on loopback with its data in $DIR/keystone (SQLite, fernet and
# credential keys), served by uWSGI.  Uses the caller's log, die,
# start_uwsgi, $ROOT and $DIR.

KEYSTONE_VENV=${CEILOMETER_PERF_KEYSTONE_VENV:-$ROOT/.venv-keystone}
KEYSTONE_VERSION=30.0.0
# The schema `keystone-manage db_sync` makes, built once per venv: a copy
# per start saves the migrations (most of Keystone's start-up).
KEYSTONE_SCHEMA=$KEYSTONE_VENV/cperf-keystone-schema.db

install_keystone() {
    local stamp
    stamp="$KEYSTONE_VENV/.installed-$(echo "$KEYSTONE_VERSION" \
        | cat - "$ROOT/tools/keystone-constraints.txt" | md5sum \
        | cut -c1-12)"
    if [ -f "$stamp" ] && [ -f "$KEYSTONE_SCHEMA" ]; then
        return 0
    fi
    log "installing Keystone $KEYSTONE_VERSION and uWSGI in $KEYSTONE_VENV"
    # Its own venv, like Gnocchi's: its pins are its own.
    python3 -m venv "$KEYSTONE_VENV"
    "$KEYSTONE_VENV/bin/pip" install -q \
        -c "$ROOT/tools/keystone-constraints.txt" \
        "keystone==$KEYSTONE_VERSION" uwsgi 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$KEYSTONE_VENV/bin/python" -c "import keystone.server.wsgi" \
        || die "Keystone did not install"
    local tmp
    tmp=$(mktemp -d)
    keystone_conf "$tmp" "sqlite:///$tmp/keystone.db" >"$tmp/keystone.conf"
    "$KEYSTONE_VENV/bin/keystone-manage" --config-file "$tmp/keystone.conf" \
        db_sync >"$tmp/db_sync.out" 2>&1 \
        || die "keystone-manage db_sync failed: $(tail -n 5 \
            "$tmp/db_sync.out")"
    cp "$tmp/keystone.db" "$KEYSTONE_SCHEMA"
    rm -rf "$tmp"
    rm -f "$KEYSTONE_VENV"/.installed-*
    touch "$stamp"
}

# keystone_conf STATE_DIR DB_URL: the configuration, on stdout.
keystone_conf() {
    cat <<EOF
[DEFAULT]
# Logs to stderr, kept in \$DIR/log/keystone.out.
use_stderr = true
[database]
connection = $2
[token]
provider = fernet
# Longer than a test session: the tests keep their tokens.
expiration = 14400
[fernet_tokens]
key_repository = $1/fernet-keys
[fernet_receipts]
key_repository = $1/fernet-keys
[credential]
key_repository = $1/credential-keys
[cache]
enabled = false
[identity]
# bcrypt's cheapest cost: seconds per token request on a busy test host
# otherwise.  A test Keystone only.
password_hash_rounds = 4
EOF
}

# start_keystone: configure, bootstrap and start it; it answers about a
# minute later (tools/keystone_setup.py waits for a token).
start_keystone() {
    local state=$DIR/keystone
    mkdir -p "$state"
    keystone_conf "$state" "sqlite:///$state/keystone.db" \
        >"$state/keystone.conf"
    cp "$KEYSTONE_SCHEMA" "$state/keystone.db"
    local manage=("$KEYSTONE_VENV/bin/keystone-manage" --config-file
        "$state/keystone.conf")
    {
        "${manage[@]}" db_sync &&
        "${manage[@]}" fernet_setup --keystone-user root \
            --keystone-group root &&
        "${manage[@]}" credential_setup --keystone-user root \
            --keystone-group root &&
        "${manage[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
            --bootstrap-username admin --bootstrap-project-name admin \
            --bootstrap-role-name admin --bootstrap-service-name keystone \
            --bootstrap-region-id RegionOne \
            --bootstrap-admin-url "$KEYSTONE_URL" \
            --bootstrap-internal-url "$KEYSTONE_URL" \
            --bootstrap-public-url "$KEYSTONE_URL"
    } >"$DIR/log/keystone-manage.out" 2>&1 \
        || die "keystone-manage failed: $(tail -n 5 \
            "$DIR/log/keystone-manage.out")"
    OS_KEYSTONE_CONFIG_DIR=$state \
        OS_KEYSTONE_CONFIG_FILES=keystone.conf \
        start_uwsgi keystone "$KEYSTONE_VENV" "$KEYSTONE_PORT" \
        --module keystone.wsgi.api:application
}

# provision_keystone GNOCCHI_URL: projects, users, roles and Gnocchi's
# endpoint (tools/keystone_setup.py); appends their ids to services.env.
provision_keystone() {
    env ADMIN_PASSWORD="$ADMIN_PASSWORD" ALPHA_PASSWORD="$ALPHA_PASSWORD" \
        BETA_PASSWORD="$BETA_PASSWORD" \
        CEILOMETER_PASSWORD="$CEILOMETER_PASSWORD" \
        AODH_PASSWORD="$AODH_PASSWORD" GNOCCHI_PASSWORD="$GNOCCHI_PASSWORD" \
        python3 "$ROOT/tools/keystone_setup.py" "$KEYSTONE_URL" "$1" \
        >>"$DIR/services.env" 2>"$DIR/log/keystone-setup.out" || {
        log "Keystone setup failed: $(tail -n 5 \
            "$DIR/log/keystone-setup.out")"
        tail -n 30 "$DIR/log/keystone.out" >&2 || true
        return 1
    }
}

# new_passwords: ADMIN_PASSWORD, ALPHA_PASSWORD, BETA_PASSWORD,
# CEILOMETER_PASSWORD, AODH_PASSWORD and GNOCCHI_PASSWORD, random, for
# this start.
new_passwords() {
    local user
    for user in ADMIN ALPHA BETA CEILOMETER AODH GNOCCHI; do
        printf -v "${user}_PASSWORD" '%s' "$(head -c 18 /dev/urandom \
            | base64 | tr -d '+/=')"
    done
}
