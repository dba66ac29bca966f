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

"""Functional harness: a real libvirtd, real TCG guests, real Ceilometer.

The session starts libvirtd + virtlogd (tools/hypervisor.sh) unless a
hypervisor already answers, boots the guests of tools/localguests.py (nova's
own XML, made bootable under TCG) and stops everything it started.  A
loopback Keystone + Nova stand-in (tests/emulators/openstack_api.py) serves
the Nova API calls Ceilometer's discovery makes (always before Ceilometer
27, for instances without a flavor id from 27 on); every agent of these
tests is configured to use it, and it knows the guests it boots.  Under
CI=true a hypervisor that cannot be started fails the run instead of
skipping it.
"""

import os
import subprocess
import time

import pytest

from ceilometer_perf import reader
from tests.emulators import openstack_api
from tests.functional import agent as agent_mod
from tools import ROOT
from tools import libvirtcalls
from tools import localguests

HYPERVISOR = os.path.join(ROOT, 'tools', 'hypervisor.sh')
URI = 'qemu:///system'


class Hypervisor:
    """The session's read-write connection, reopened after a restart.

    A test that restarts libvirtd calls restart_libvirtd(); every other
    test keeps using this object as a libvirt connection.
    """

    def __init__(self, uri):
        self.uri = uri
        self.conn = localguests.connect(uri)

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def restart_libvirtd(self):
        """libvirtd down and up; the guests run on (perf counters reset)."""
        self.stop_libvirtd()
        self.start_libvirtd()

    def stop_libvirtd(self):
        """libvirtd down, the guests running on; start_libvirtd() next."""
        try:
            self.conn.close()
        except Exception:  # noqa: S110 - about to be broken anyway
            pass
        subprocess.run([HYPERVISOR, 'stop-libvirtd'], check=True,
                       stdout=subprocess.DEVNULL)

    def start_libvirtd(self):
        subprocess.run([HYPERVISOR, 'start'], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.conn = localguests.connect(self.uri)


def _unavailable(reason):
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail('real hypervisor needed in CI: %s' % reason)
    pytest.skip('no hypervisor: %s' % reason)


@pytest.fixture(scope='session')
def hypervisor():
    was_up = subprocess.call([HYPERVISOR, 'status'],
                             stdout=subprocess.DEVNULL) == 0
    if not was_up:
        for action in ('install', 'start'):
            proc = subprocess.run([HYPERVISOR, action], capture_output=True,
                                  text=True)
            if proc.returncode:
                _unavailable('tools/hypervisor.sh %s: %s' % (
                    action, proc.stderr.strip()[-2000:]))
    conn = Hypervisor(URI)
    yield conn
    localguests.stop_all(conn)
    conn.close()
    if not was_up:
        subprocess.call([HYPERVISOR, 'stop'])


@pytest.fixture(scope='session', autouse=True)
def openstack_api_stand_in(tmp_path_factory):
    """The Keystone + Nova stand-in, and a ceilometer.conf pointing at it
    that every agent of the functional tests reads (agent.CONFIG_FILES)."""
    api = openstack_api.OpenStackStandIn().start()
    for guest in localguests.DEFAULT_GUESTS:
        register(api, guest)
    path = tmp_path_factory.mktemp('stand-in') / 'ceilometer.conf'
    path.write_text('\n'.join(api.config_lines()) + '\n')
    api.config_file = str(path)
    agent_mod.CONFIG_FILES[:] = [api.config_file]
    yield api
    agent_mod.CONFIG_FILES[:] = []
    api.stop()


def register(api, guest):
    """Make the Nova stand-in know a guest (and its flavor)."""
    api.add_flavor(guest.flavor_id, guest.flavor_name, ram=guest.memory_mib)
    api.add_server(guest.uuid, guest.display_name or guest.name,
                   guest.flavor_id)


@pytest.fixture(scope='session')
def guests(hypervisor):
    """The default guests, running; a dict display name -> Guest."""
    localguests.stop_all(hypervisor)
    localguests.start(hypervisor)
    time.sleep(1.0)
    yield {g.name: g for g in localguests.DEFAULT_GUESTS}
    localguests.stop_all(hypervisor)


class FaultLedger:
    """What the fault tests did and saw; printed and saved at the end."""

    def __init__(self):
        self.faults = []
        self.cycles = 0
        self.samples = 0
        self.lost = 0
        self.agent_exceptions = 0

    def as_dict(self):
        return {'faults_injected': len(self.faults), 'faults': self.faults,
                'cycles_polled': self.cycles, 'samples': self.samples,
                'samples_lost_outside_faulted': self.lost,
                'agent_exceptions': self.agent_exceptions}


LEDGER = FaultLedger()


@pytest.fixture(scope='session')
def ledger():
    return LEDGER


def pytest_terminal_summary(terminalreporter):
    if not LEDGER.cycles:
        return
    import json
    report = LEDGER.as_dict()
    path = os.path.join(os.environ.get('CEILOMETER_PERF_REPORT_DIR', '/tmp'),
                        'ceilometer-perf-faults.json')
    with open(path, 'w') as f:
        json.dump(report, f, indent=1)
    terminalreporter.write_sep('-', 'ceilometer-perf fault summary')
    terminalreporter.write_line(
        'faults injected: %(faults_injected)d, cycles polled: '
        '%(cycles_polled)d, samples: %(samples)d, samples lost outside the '
        'faulted instance: %(samples_lost_outside_faulted)d, agent '
        'exceptions: %(agent_exceptions)d' % report)
    for fault in report['faults']:
        terminalreporter.write_line('  - %s' % fault)
    terminalreporter.write_line('(saved to %s)' % path)


@pytest.fixture
def reads(monkeypatch):
    """Every bulk read the plugin makes: (groups, snapshot)."""
    seen = []
    real = reader.BulkReader._read

    def spy(self, groups):
        snap = real(self, groups)
        seen.append((frozenset(groups), snap))
        return snap
    monkeypatch.setattr(reader.BulkReader, '_read', spy)
    return seen


@pytest.fixture
def libvirt_calls():
    """{libvirt API function: calls} during the test, from every caller;
    opening a read-write libvirt connection fails the test."""
    counter = libvirtcalls.CallCounter(
        refuse=libvirtcalls.READ_WRITE_OPENS)
    yield counter.start()
    counter.stop()


@pytest.fixture
def root_only_socket(tmp_path):
    """A listening unix socket only root may connect to (mode 0600)."""
    import socket
    path = str(tmp_path / 'libvirt-sock-ro')
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)
    os.chmod(path, 0o600)
    os.chmod(str(tmp_path), 0o755)
    yield path
    listener.close()
