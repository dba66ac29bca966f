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

"""local_instances_cached and Ceilometer's local_instances, real guests.

Both discoveries run inside Ceilometer's polling manager over the same
libvirtd: a TCG guest per metadata shape (tools/localguests.py
metadata_shapes(): nova 31 and 34's own XML from tests/fixtures/nova, the
hand-written nova 32+ shape, the 1.0 namespace, no metadata, no owner),
some running, some shut off, one transient, and then churn: start, stop,
destroy, redefine with new metadata (shut off and running), live
metadata change, undefine, metadata added, libvirtd restart.  After each
step the two must return the same instances, field for field.
"""

import time

import libvirt
import pytest

from ceilometer_perf import discovery
from tests.functional import agent as agent_mod
from tests.unit import fakes
from tools import fakelibvirt
from tools import localguests

SOURCES = [{'name': 'discovery', 'interval': 600,
            'meters': ['perf.event.cpu_clock']}]


class Discoveries:
    def __init__(self, manager):
        self.manager = manager
        objects = {d.name: d.obj for d in manager.discoveries}
        self.theirs = objects['local_instances']
        self.ours = objects['local_instances_cached']
        assert isinstance(self.ours, discovery.CachedInstanceDiscovery)
        # Nova 31 metadata has no flavor id: both ask the "Nova API".
        self.theirs.nova_cli = fakes.FakeNova()
        self.ours.nova_cli = fakes.FakeNova()
        self.steps = []

    def same(self, step):
        ours = [vars(s) for s in self.manager.discover(
            ['local_instances_cached'])]
        theirs = [vars(s) for s in self.manager.discover(
            ['local_instances'])]
        assert ours == theirs, step
        self.steps.append((step, len(ours)))
        return {s['id']: s for s in ours}

    def after_events(self, before, count=1, timeout=10.0):
        """Wait until libvirt delivered `count` events since `before`."""
        deadline = time.monotonic() + timeout
        while self.ours.events < before + count:
            assert time.monotonic() < deadline, 'no libvirt event came'
            time.sleep(0.05)


def _define(conn, guest):
    return conn.defineXML(localguests.domain_xml(guest))


def _set_live_metadata(conn, guest, name):
    """Give a running domain nova's metadata of another display name, as
    nova updates a running instance's metadata (setMetadata, live)."""
    metadata = fakelibvirt.metadata_of(
        localguests.domain_xml(localguests.Guest(name)), localguests.NOVA_NS)
    conn.lookupByName(guest.domain_name).setMetadata(
        libvirt.VIR_DOMAIN_METADATA_ELEMENT, metadata, 'nova',
        localguests.NOVA_NS, libvirt.VIR_DOMAIN_AFFECT_LIVE)


@pytest.fixture
def shaped(hypervisor):
    guests = localguests.metadata_shapes()
    assert len(guests) > 20, 'nova fixtures missing'
    domains = {}
    try:
        for i, guest in enumerate(guests):
            domains[guest.name] = _define(hypervisor, guest)
            if i % 4 == 0 or guest.name in ('no-metadata', 'hand-nova32'):
                domains[guest.name].create()
        transient = localguests.Guest('transient', flavor_pmu='false')
        localguests.start(hypervisor, [transient])
        yield guests, transient
    finally:
        for guest in guests + [localguests.Guest('transient')]:
            try:
                dom = hypervisor.lookupByName(guest.domain_name)
            except libvirt.libvirtError:
                continue
            if dom.isActive():
                dom.destroy()
            if dom.isPersistent():
                dom.undefine()


def test_same_instances_through_churn(hypervisor, shaped):
    guests, transient = shaped
    by_name = {g.name: g for g in guests}
    agent = agent_mod.Agent(SOURCES)
    both = Discoveries(agent.manager)
    ours = both.ours
    conn = hypervisor

    found = both.same('initial')
    states = {s['status'] for s in found.values()}
    assert {'active', 'stopped'} <= states
    assert by_name['no-metadata'].uuid not in found
    assert by_name['no-owner'].uuid not in found
    assert transient.uuid in found
    nova31 = [g for g in guests if g.name.startswith('nova31-')]
    assert nova31 and all(
        found[g.uuid]['flavor']['id'].startswith('id-of-') for g in nova31)

    parsed = ours.parsed
    both.same('steady')
    assert ours.parsed == parsed, 'a steady cycle parsed again'

    # Start a shut-off domain: a new boot.
    off = next(g for g in guests
               if not conn.lookupByName(g.domain_name).isActive()
               and g.uuid in found)
    events = ours.events
    conn.lookupByName(off.domain_name).create()
    both.after_events(events)
    assert both.same('start')[off.uuid]['status'] == 'active'

    # Stop it again: shut off, still listed.
    events = ours.events
    conn.lookupByName(off.domain_name).destroy()
    both.after_events(events)
    assert both.same('stop')[off.uuid]['status'] == 'stopped'

    # Destroy the transient one: gone.
    events = ours.events
    conn.lookupByName(transient.domain_name).destroy()
    both.after_events(events)
    assert transient.uuid not in both.same('destroy transient')

    # Redefine the shut-off domain with new metadata (id stays -1).
    renamed = localguests.Guest('redefined-off', uuid=off.uuid,
                                memory_mib=48)
    renamed_xml = localguests.domain_xml(renamed).replace(
        renamed.domain_name, off.domain_name)
    events = ours.events
    conn.defineXML(renamed_xml)
    both.after_events(events)
    now = both.same('redefine shut off')[off.uuid]
    assert (now['name'], now['flavor']['ram']) == ('redefined-off', 48)

    # Live metadata change of a running domain (nova does it on some
    # operations): same boot, same domain id.
    running = by_name['hand-nova32']
    events = ours.events
    _set_live_metadata(conn, running, 'renamed-live')
    both.after_events(events)
    assert both.same('live metadata')[running.uuid]['name'] == 'renamed-live'

    # Redefine a running persistent domain: the live metadata stays until
    # the next boot, which shows the new one.
    events = ours.events
    conn.defineXML(localguests.domain_xml(localguests.Guest(
        'redefined-running', uuid=running.uuid)).replace(
            'cperf-redefined-running', running.domain_name))
    both.after_events(events)
    assert both.same('redefine running')[running.uuid]['name'] == (
        'renamed-live')
    events = ours.events
    dom = conn.lookupByName(running.domain_name)
    dom.destroy()
    dom.create()
    both.after_events(events, 2)
    assert both.same('reboot')[running.uuid]['name'] == 'redefined-running'

    # Metadata added to a domain without any: an instance now.
    bare = by_name['no-metadata']
    events = ours.events
    _set_live_metadata(conn, bare, 'was-bare')
    both.after_events(events)
    assert both.same('metadata added')[bare.uuid]['name'] == 'was-bare'

    # Undefine the shut-off domain: gone.
    events = ours.events
    conn.lookupByName(off.domain_name).undefine()
    both.after_events(events)
    assert off.uuid not in both.same('undefine')

    # libvirtd restart: the cache goes, the answers stay the same.
    parsed = ours.parsed
    count = len(both.same('before restart'))
    assert ours.parsed == parsed
    hypervisor.restart_libvirtd()
    assert len(both.same('libvirtd restart')) == count
    # Every domain with metadata parsed again (no-owner's is unusable).
    assert ours.parsed == parsed + count + 1
    # And events come again on the new connection.
    events = ours.events
    conn = hypervisor.conn
    _set_live_metadata(conn, bare, 'after-restart')
    both.after_events(events)
    assert both.same('metadata after restart')[bare.uuid]['name'] == (
        'after-restart')
    print('differential steps: %s' % both.steps)
    agent.close()
