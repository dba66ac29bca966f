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

"""Helpers for driving the plugin through Ceilometer's polling agent."""

import importlib.metadata

from ceilometer_perf.ops import localagent

# The Ceilometer release under test (tools/matrix.sh runs several).
CEILOMETER = tuple(int(x) for x in importlib.metadata.version(
    'ceilometer').split('.')[:2])
# From Ceilometer 25 on, discovery reads <nova:extraSpecs> and <nova:image>
# (which nova writes from nova 32 on) into the instance.
READS_EXTRA_SPECS = CEILOMETER >= (25, 0)

# Read by every Agent before its own files: the Keystone + Nova stand-in's
# [service_credentials] (set by the session fixture in conftest.py).
CONFIG_FILES = []


def Agent(sources, uri='qemu:///system', config_files=(), overrides=None):
    """A LocalAgent on the given URI, with libvirt_metadata discovery."""
    return localagent.on_libvirt(sources, uri, 'functional-test',
                                 CONFIG_FILES + list(config_files),
                                 overrides)


def by_meter(samples):
    """{meter: {display_name: volume}} of our samples."""
    table = {}
    for s in samples:
        name = s['resource_metadata'].get('display_name')
        table.setdefault(s['counter_name'], {})[name] = s['counter_volume']
    return table
