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

# Debian packages for the tools/ scripts (sourced, not run).

# apt_install_missing PKG...: install those dpkg does not have, without
# letting their maintainer scripts start services (the scripts start what
# they need themselves, under tini).  Logs through the caller's log().
apt_install_missing() {
    local missing=""
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
                | grep -q "install ok installed"; then
            missing="$missing $pkg"
        fi
    done
    if [ -z "$missing" ]; then
        return 0
    fi
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    local own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        own_policy=yes
    fi
    local status=0
    apt-get update -q >/dev/null || status=$?
    if [ "$status" -eq 0 ]; then
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing \
            >/dev/null || status=$?
    fi
    if [ -n "$own_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    return "$status"
}
