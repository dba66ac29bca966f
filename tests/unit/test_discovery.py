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

"""local_instances_cached against Ceilometer's own local_instances.

Both discoveries read the same fake libvirt (tools/fakelibvirt.py) serving
the domain XML of every metadata shape we have: nova's own (the fixtures
of tests/fixtures/nova, nova 31 and 34), tools/localguests.py's hand-made
nova 32+ shape, the older 1.0 namespace, no metadata, metadata without an
owner.  tests/functional/test_discovery.py does the same on real guests.
"""

import logging
import types

import pytest
from ceilometer.compute import discovery as ceilometer_discovery

from ceilometer_perf import discovery
from tests.unit import fakes
from tools import localguests

RUNNING, SHUTOFF, PAUSED = 1, 5, 3


def entry(guest, domain_id=1, state=RUNNING):
    return {'uuid': guest.uuid, 'name': guest.domain_name,
            'id': domain_id if state != SHUTOFF else -1,
            'stats': {'state.state': state, 'state.reason': 1},
            'xml': localguests.domain_xml(guest)}


class Pair:
    """Ceilometer's discovery and ours over one fake libvirtd."""

    def __init__(self, conf, entries, nova=None, events=True):
        self.hypervisor = fakes.Hypervisor(entries)
        self.theirs = ceilometer_discovery.InstanceDiscovery(conf)
        self.ours = discovery.CachedInstanceDiscovery(
            conf, opener=self.hypervisor.opener, events=events)
        self.nova = nova or fakes.FakeNova()
        self.theirs_nova = fakes.FakeNova(self.nova.failing, self.nova.missing)
        self.ours.nova_cli = self.nova
        self.theirs.nova_cli = self.theirs_nova

    @property
    def fake(self):
        return self.hypervisor.connections[-1]

    def show(self, entries):
        self.hypervisor.show(entries)

    def theirs_now(self):
        self.theirs._libvirt_connection = self.fake
        return [vars(s) for s in self.theirs.discover(None)]

    def ours_now(self):
        return [vars(s) for s in self.ours.discover(None)]

    def both(self):
        ours, theirs = self.ours_now(), self.theirs_now()
        assert ours == theirs
        return ours

    def fire(self, uuid, event_id=discovery.EVENT_ID_METADATA_CHANGE):
        for registered, callback, opaque in self.fake.callbacks:
            if registered == event_id:
                callback(self.fake, types.SimpleNamespace(
                    UUIDString=lambda: uuid), 0, 0, opaque)


@pytest.fixture
def every_shape():
    guests = localguests.metadata_shapes()
    entries = [entry(g, i + 1, SHUTOFF if i % 3 == 2 else RUNNING)
               for i, g in enumerate(guests)]
    entries[1]['stats']['state.state'] = PAUSED
    return guests, entries


def test_same_instances_as_ceilometer_for_every_shape(conf, every_shape):
    guests, entries = every_shape
    pair = Pair(conf, entries)
    found = pair.both()
    # Everything but the domain without metadata and the one without an
    # owner; shut-off and paused domains included.
    assert len(found) == len(guests) - 2
    names = {f['name'] for f in found}
    assert 'no-metadata' not in names
    assert {f['status'] for f in found} == {'active', 'paused', 'stopped'}
    flavors = {f['flavor']['id'] for f in found}
    assert 'id-of-m1.small' in flavors      # nova 31: from the Nova API
    assert '42' in flavors                  # nova 34: from the metadata
    assert any('image_meta' in f for f in found)
    assert any('extra_specs' in f['flavor'] for f in found)


def test_fetch_extra_metadata_same_as_ceilometer(conf, every_shape):
    conf.set_override('fetch_extra_metadata', True, group='compute')
    pair = Pair(conf, every_shape[1])
    found = pair.both()
    assert found[0]['metadata'] == {'group': found[0]['id'][:8]}
    pair.both()
    # Ceilometer's LRU caches answer the second cycle of both.
    assert len(pair.nova.calls) == len(pair.theirs_nova.calls)


def test_one_bulk_call_and_no_parse_in_a_steady_cycle(conf, every_shape):
    pair = Pair(conf, every_shape[1])
    pair.both()
    parsed, calls = pair.ours.parsed, len(pair.fake.calls)
    xml_reads = sum(d.xml_reads for d in pair.fake.domains)
    pair.both()
    assert pair.ours.parsed == parsed
    # Ceilometer reads every XML again; we made one listing call.
    assert (sum(d.xml_reads for d in pair.fake.domains) - xml_reads ==
            len(every_shape[0]) - 1)
    ours_calls = [c for c in pair.fake.calls[calls:]
                  if c[0] != 'listAllDomains']
    assert ours_calls == [(discovery.STATS_STATE, 0)]


def test_new_boot_state_change_and_removal(conf, every_shape):
    guests, entries = every_shape
    pair = Pair(conf, entries)
    pair.both()
    parsed = pair.ours.parsed
    entries[0]['id'] = 100                      # rebooted: new domain id
    entries[3]['stats']['state.state'] = PAUSED  # state only
    del entries[4]                              # destroyed
    pair.show(entries)
    found = pair.both()
    assert pair.ours.parsed == parsed + 1
    assert found[3]['status'] == 'paused'


def test_metadata_change_event_reparses_that_domain(conf, every_shape):
    guests, entries = every_shape
    pair = Pair(conf, entries)
    pair.both()
    parsed = pair.ours.parsed
    changed = localguests.Guest(guests[0].name, uuid=guests[0].uuid,
                                memory_mib=80)
    entries[0]['xml'] = localguests.domain_xml(changed)
    entries[0].pop('_metadata', None)
    pair.show(entries)
    # Before the event, a cached boot is what it was.
    assert pair.ours_now()[0]['flavor']['ram'] != 80
    pair.fire(guests[0].uuid)
    found = pair.both()
    assert found[0]['flavor']['ram'] == 80
    assert pair.ours.parsed == parsed + 1


def test_lifecycle_event_on_a_shut_off_domain(conf, every_shape):
    # Redefined while shut off: the id stays -1, the event says it.
    guests, entries = every_shape
    pair = Pair(conf, entries)
    pair.both()
    index = 2
    assert entries[index]['id'] == -1
    entries[index]['xml'] = localguests.domain_xml(localguests.Guest(
        'renamed', uuid=guests[index].uuid))
    entries[index].pop('_metadata', None)
    pair.show(entries)
    pair.fire(guests[index].uuid, discovery.EVENT_ID_LIFECYCLE)
    assert pair.both()[index]['name'] == 'renamed'


def test_without_events_metadata_is_compared_each_cycle(conf, every_shape):
    guests, entries = every_shape
    pair = Pair(conf, entries, events=False)
    pair.both()
    parsed = pair.ours.parsed
    pair.both()
    assert pair.ours.parsed == parsed
    entries[0]['xml'] = localguests.domain_xml(localguests.Guest(
        'changed', uuid=guests[0].uuid))
    entries[0].pop('_metadata', None)
    pair.show(entries)
    assert pair.both()[0]['name'] == 'changed'
    assert pair.ours.parsed == parsed + 1


def test_libvirtd_restart_drops_the_cache(conf, every_shape):
    guests, entries = every_shape
    pair = Pair(conf, entries)
    pair.both()
    parsed = pair.ours.parsed
    pair.hypervisor.restart_libvirtd(entries)
    assert pair.both()
    assert pair.ours.parsed == 2 * parsed
    # And the close callback of a connection does the same.
    closed = pair.fake
    pair.hypervisor.connections.append(fakes.FakeConnection(entries))
    closed.close_callback[0](closed, 0, None)
    pair.both()
    assert pair.ours.parsed == 3 * parsed


def test_failed_lookup_loses_only_that_instance(conf, every_shape, caplog):
    guests, entries = every_shape
    pair = Pair(conf, entries, nova=fakes.FakeNova(failing={'m1.pétit'}))
    # Ceilometer loses the whole host's discovery to one failed lookup.
    with pytest.raises(ConnectionError):
        pair.theirs_now()
    caplog.set_level(logging.ERROR, 'ceilometer_perf')
    ours = pair.ours_now()
    lost = [g for g in guests if g.name.endswith('non-ascii-names')
            and g.name.startswith('nova31')]
    assert len(lost) == 1
    assert {o['id'] for o in ours} == (
        {g.uuid for g in guests} - {lost[0].uuid} -
        {g.uuid for g in guests if g.name in ('no-metadata', 'no-owner')})
    lookups = len(pair.nova.calls)
    pair.ours_now()
    # Retried next cycle (only the failed one), logged once.
    assert pair.nova.calls[lookups:] == [('flavor', 'm1.pétit')]
    said = [r for r in caplog.records if 'Nova API' in r.getMessage()]
    assert len(said) == 1 and lost[0].uuid in said[0].getMessage()
    pair.nova.failing.clear()
    pair.theirs_nova.failing.clear()
    assert len(pair.both()) == len(ours) + 1


def test_flavor_not_found_is_cached_like_ceilometer(conf, every_shape):
    pair = Pair(conf, every_shape[1],
                nova=fakes.FakeNova(missing={'m1.small'}))
    found = pair.both()
    assert 'm1.small' in {f['flavor']['id'] for f in found}
    pair.both()
    assert pair.nova.calls.count(('flavor', 'm1.small')) == 1


def test_nova_lookups_never_more_than_ceilometer(conf, every_shape):
    guests, entries = every_shape
    pair = Pair(conf, entries)
    for domain_id in (1, 50, 100):
        for e in entries:
            if e['id'] != -1:
                e['id'] += domain_id
        pair.show(entries)
        pair.both()
    assert 0 < len(pair.nova.calls) <= len(pair.theirs_nova.calls)


def test_unusable_metadata_loses_that_domain_and_says_it_once(
        conf, every_shape, caplog):
    guests, entries = every_shape
    bad = localguests.Guest('bad-int', metadata=localguests.metadata_text(
        localguests.Guest('x')).replace('<nova:vcpus>1', '<nova:vcpus>one'))
    entries.append(entry(bad, 999))
    pair = Pair(conf, entries)
    caplog.set_level(logging.ERROR, 'ceilometer_perf')
    first = pair.ours_now()
    assert pair.ours_now() == first
    assert bad.uuid not in {f['id'] for f in first}
    assert len(first) == len(guests) - 2
    said = [r for r in caplog.records if bad.uuid in r.getMessage()]
    assert len(said) == 1
    # Ceilometer fails the whole host on it.
    with pytest.raises(ValueError):
        pair.theirs_now()


def test_libvirt_down_is_one_log_line_and_no_instances(conf, caplog):
    def refuse(uri):
        raise fakes.libvirt_error(38, 7, 'Failed to connect socket')
    ours = discovery.CachedInstanceDiscovery(conf, opener=refuse)
    caplog.set_level(logging.INFO, 'ceilometer_perf')
    assert ours.discover(None) == []
    assert ours.discover(None) == []
    said = [r for r in caplog.records if 'cannot list' in r.getMessage()]
    assert len(said) == 1


def test_cache_is_bounded_by_the_listed_domains(conf, every_shape):
    guests, entries = every_shape
    pair = Pair(conf, entries)
    pair.both()
    for i in range(200):
        churned = [entry(localguests.Guest('churn-%d' % i), 1000 + i)]
        pair.show(entries[:5] + churned)
        pair.both()
    assert len(pair.ours._entries) == 6


def test_pollsters_default_to_it_when_installed(monkeypatch):
    from importlib import metadata

    from ceilometer_perf import pollsters
    monkeypatch.setattr(pollsters, '_DEFAULT_DISCOVERY', [])
    assert pollsters.default_discovery() == 'local_instances_cached'
    # An install older than the entry point: Ceilometer's, not nothing.
    monkeypatch.setattr(pollsters, '_DEFAULT_DISCOVERY', [])
    monkeypatch.setattr(metadata, 'entry_points', lambda **kw: [])
    assert pollsters.default_discovery() == 'local_instances'
