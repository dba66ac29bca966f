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

"""The agent path loads only what it runs.

ceilometer-polling imports our pollsters on every compute node; operator
tooling (ceilometer_perf.ops, ceilometer_perf.cmd) and what it needs
(YAML, diffs, ctypes probes, argument parsing, the Prometheus client) must
never come with them.  Each check runs in a fresh interpreter, so nothing
a test imported before can hide an import.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, 'ceilometer_perf')

# What operator tooling needs and the agent must not load.
TOOLING_LIBRARIES = ('yaml', 'difflib', 'ctypes', 'argparse',
                     'prometheus_client')
TOOLING_PACKAGES = ('ceilometer_perf.ops', 'ceilometer_perf.cmd', 'tools',
                    'tests')
# Ceilometer's own modules our pollsters build on: what they load is
# Ceilometer's weight, not ours (oslo.config brings argparse).
CEILOMETER_BASE = ('ceilometer.polling.plugin_base',
                   'ceilometer.compute.pollsters.util', 'ceilometer.sample')
# Our discovery subclasses Ceilometer's InstanceDiscovery, which the agent
# loads anyway (its local_instances entry point); through nova_client and
# the polling manager it brings yaml, difflib and prometheus_client.
DISCOVERY = 'ceilometer_perf.discovery'
CEILOMETER_DISCOVERY = 'ceilometer.compute.discovery'


def agent_modules():
    """Every module of the package outside the operator tooling."""
    found = []
    for directory, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d not in ('ops', 'cmd', '__pycache__')]
        package = os.path.relpath(directory, ROOT).replace(os.sep, '.')
        for name in files:
            if name.endswith('.py'):
                module = name[:-3]
                found.append(package if module == '__init__'
                             else package + '.' + module)
    return sorted(found)


def loaded_by(modules):
    """sys.modules after importing `modules` in a fresh interpreter."""
    code = ('import importlib, json, sys\n'
            'for name in %r:\n'
            '    importlib.import_module(name)\n'
            'print(json.dumps(sorted(sys.modules)))' % (list(modules),))
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def tooling_in(modules, baseline=frozenset()):
    return sorted(
        m for m in modules - baseline
        if m.split('.')[0] in TOOLING_LIBRARIES
        or any(m == p or m.startswith(p + '.') for p in TOOLING_PACKAGES))


@pytest.fixture(scope='module')
def baseline():
    return loaded_by(CEILOMETER_BASE)


def test_agent_modules_are_found():
    modules = agent_modules()
    assert 'ceilometer_perf.pollsters' in modules
    assert 'ceilometer_perf.kinds.stat' in modules
    assert not [m for m in modules if '.ops' in m or '.cmd' in m]


def test_agent_path_loads_no_operator_tooling(baseline):
    modules = [m for m in agent_modules() if m != DISCOVERY]
    assert tooling_in(loaded_by(modules), baseline) == []


def test_discovery_loads_nothing_ceilometers_discovery_does_not():
    ceilometer = loaded_by(CEILOMETER_BASE + (CEILOMETER_DISCOVERY,))
    assert DISCOVERY in agent_modules()
    assert tooling_in(loaded_by([DISCOVERY]), ceilometer) == []
    # ... and the pollsters do not import it (it comes by entry point).
    assert DISCOVERY not in loaded_by(['ceilometer_perf.pollsters'])


def test_the_check_sees_tooling_when_it_is_there(baseline):
    # The same check on an operator module must fail, or it proves nothing.
    loaded = loaded_by(['ceilometer_perf.ops.polling_yaml',
                        'ceilometer_perf.ops.hostprobe'])
    found = tooling_in(loaded, baseline)
    assert 'yaml' in found and 'ctypes' in found
    assert 'ceilometer_perf.ops.polling_yaml' in found


def test_the_opts_entry_point_loads_only_options(baseline):
    # oslo-config-generator and the agent load it through its entry point.
    loaded = loaded_by(['ceilometer_perf.opts'])
    assert tooling_in(loaded, baseline) == []
    assert 'ceilometer_perf.pollsters' not in loaded
