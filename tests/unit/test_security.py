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

"""What the polling path may not do: write to libvirt or run commands."""

import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'ceilometer_perf')
MODULES = sorted(f for f in os.listdir(PACKAGE) if f.endswith('.py'))

# Calls that run a command or open a read-write libvirt connection.
FORBIDDEN_CALLS = {'os.system', 'os.popen', 'os.execv', 'os.execvp',
                   'os.spawnv', 'libvirt.open', 'libvirt.openAuth'}
FORBIDDEN_IMPORTS = {'subprocess', 'pty', 'commands'}


def _dotted(node):
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return base and '%s.%s' % (base, node.attr)
    if isinstance(node, ast.Name):
        return node.id
    return None


@pytest.mark.parametrize('module', MODULES)
def test_no_commands_and_no_read_write_libvirt(module):
    with open(os.path.join(PACKAGE, module)) as f:
        tree = ast.parse(f.read(), module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split('.')[0] for alias in node.names}
            assert not names & FORBIDDEN_IMPORTS, (module, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or '').split('.')[0] \
                not in FORBIDDEN_IMPORTS, (module, node.lineno)
        elif isinstance(node, ast.Call):
            assert _dotted(node.func) not in FORBIDDEN_CALLS, (
                module, node.lineno, _dotted(node.func))


def test_the_only_libvirt_opener_is_read_only():
    with open(os.path.join(PACKAGE, 'reader.py')) as f:
        tree = ast.parse(f.read())
    calls = {_dotted(n.func) for n in ast.walk(tree)
             if isinstance(n, ast.Call)}
    assert 'libvirt.openReadOnly' in calls
