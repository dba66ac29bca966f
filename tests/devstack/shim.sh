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

# The few devstack functions the plugin calls, for running its phases
# against a temporary directory.  Calls are logged to $SHIM_LOG.

function trueorfalse {
    local default=$1
    local name=$2
    local value=${!name:-$default}
    case "$value" in
        1|[Tt]rue|[Yy]es|[Oo]n) echo True ;;
        *) echo False ;;
    esac
}

function iniset {
    python3 - "$@" <<'PYEOF'
import configparser
import sys
path, section, option, value = sys.argv[1:5]
parser = configparser.RawConfigParser()
parser.optionxform = str
parser.read(path)
if section != 'DEFAULT' and not parser.has_section(section):
    parser.add_section(section)
parser.set(section, option, value)
with open(path, 'w') as f:
    parser.write(f)
PYEOF
}

function setup_develop {
    echo "setup_develop $*" >>"$SHIM_LOG"
}

function get_python_exec_prefix {
    echo "$SHIM_BIN"
}

function is_service_enabled {
    [[ ",$ENABLED_SERVICES," == *",$1,"* ]]
}

function echo_summary {
    echo "summary: $*" >>"$SHIM_LOG"
}

function die {
    echo "die: $*" >&2
    exit 1
}
