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

"""The fake libvirt of the unit tests: tools/fakelibvirt.py, plus faults.

Only for unit tests of parsing and edge cases; the functional tests run the
same code against a real libvirtd.  The benchmark's simulated domains use
the same fake (tools/fakelibvirt.py); what only the tests need is here:
libvirt errors, a libvirtd that restarts, instances for records.
"""

import errno
import types

import libvirt
from novaclient import exceptions as nova_exceptions

from tools.fakelibvirt import RECORDS
from tools.fakelibvirt import FakeConnection
from tools.fakelibvirt import FakeDomain
from tools.fakelibvirt import instance
from tools.fakelibvirt import libvirt_error
from tools.fakelibvirt import load
from tools.fakelibvirt import load_cycles

__all__ = ['RECORDS', 'FakeConnection', 'FakeNova', 'Hypervisor',
           'broken_pipe', 'instance', 'instances_for', 'libvirt_error', 'load',
           'load_cycles']


def broken_pipe():
    """What a call on a connection to a restarted libvirtd raises."""
    return libvirt_error(errno.EPIPE, libvirt.VIR_FROM_RPC,
                         'Cannot write data: Broken pipe')


class Hypervisor:
    """A libvirtd serving successive bulk reads, and restarting.

    Pass `opener` to a HostState; show() sets what the next read returns;
    restart_libvirtd() breaks the current connection, as a real restart
    does, so the plugin reconnects to a fresh one.
    """

    def __init__(self, entries=()):
        self.connections = [FakeConnection(entries)]

    def opener(self, uri):
        return self.connections[-1]

    def show(self, entries):
        self.connections[-1].domains = [FakeDomain(e) for e in entries]

    def restart_libvirtd(self, entries):
        self.connections[-1].fail_with = broken_pipe()
        self.connections.append(FakeConnection(entries))


def instances_for(entries):
    return [instance(e['uuid'], name=e['name']) for e in entries]


class FakeNova:
    """novaclient as both discoveries call it: nova_cli.nova_client.X."""

    def __init__(self, failing=(), missing=()):
        self.calls = []
        self.failing = set(failing)
        self.missing = set(missing)
        self.nova_client = self
        self.flavors = types.SimpleNamespace(find=self._find)
        self.servers = types.SimpleNamespace(get=self._get)

    def _find(self, name, is_public=None):
        self.calls.append(('flavor', name))
        if name in self.failing:
            raise ConnectionError('Nova unreachable')
        if name in self.missing:
            raise nova_exceptions.NotFound(404)
        return types.SimpleNamespace(id='id-of-' + name)

    def _get(self, uuid):
        self.calls.append(('server', uuid))
        if uuid in self.failing:
            raise ConnectionError('Nova unreachable')
        return types.SimpleNamespace(metadata={'group': uuid[:8]},
                                     flavor={'id': 'server-flavor'})
