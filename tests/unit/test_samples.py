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

"""Samples are the ones Ceilometer's own construction makes, only cheaper."""

import concurrent.futures
import logging
import uuid

import pytest
from ceilometer.compute.pollsters import util

from ceilometer_perf import catalogue
from ceilometer_perf import reader
from ceilometer_perf import samples
from tests.unit import fakes
from tests.unit.conftest import poll

RECORDS = ['documented-all-perf-events.json',
           'real-tcg-guests-perf-state.json',
           'documented-resctrl-monitors.json']
ALL_METERS = [m.name for m in catalogue.METERS]


def _instances(entries):
    """The shapes discovery produces: with and without image, image_meta,
    flavor extra specs and reserved (metering.) user metadata."""
    shapes = []
    for i, entry in enumerate(entries):
        inst = fakes.instance(
            entry['uuid'], name=entry['name'],
            extra_specs={'hw:pmu': 'true'} if i % 2 else None,
            image_meta={'hw_pmu': 'false', 'base_image_ref': 'img'}
            if i % 3 == 0 else None)
        if i % 2 == 0:
            inst.image = {'id': 'img-%d' % i,
                          'links': [{'href': 'http://glance/img-%d' % i}]}
            inst.metadata = {'metering.stack': 'web', 'other': 'x'}
        shapes.append(inst)
    return shapes


def _cycle(make_host, entries, instances):
    host = make_host(entries)
    cache = {}
    made = [s for name in ALL_METERS
            for s in poll(host, name, instances, cache)]
    # Both ways stamp each sample with the time of the cycle's bulk read.
    assert {s.monotonic_time for s in made} <= {
        cache[reader.CACHE_KEY].read_at}
    return made


def _comparable(sample):
    fields = sample.as_dict()
    del fields['id'], fields['monotonic_time']
    return fields


@pytest.mark.parametrize('record', RECORDS)
def test_samples_unchanged_from_ceilometers_construction(
        make_host, monkeypatch, record):
    entries = fakes.load(record)
    instances = _instances(entries)
    ours = _cycle(make_host, entries, instances)
    with monkeypatch.context() as m:
        m.setattr(samples.SampleMaker, '__call__',
                  samples.SampleMaker.ceilometer_way)
        theirs = _cycle(make_host, entries, instances)
    assert ours and len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs, strict=True):
        assert _comparable(mine) == _comparable(reference)
    # The shapes above are all exercised.
    metas = [s.resource_metadata for s in ours]
    assert any(m.get('user_metadata') == {'stack': 'web'} for m in metas)
    assert any(m['image_ref_url'] for m in metas)
    assert any('vpmu_decided_by' in m for m in metas)
    if record == 'documented-resctrl-monitors.json':
        assert any('resctrl_monitors' in m for m in metas)


@pytest.fixture
def built(monkeypatch):
    """Ids of the instances whose metadata Ceilometer's function built."""
    seen = []
    real = util._get_metadata_from_object

    def spy(conf, instance):
        seen.append(instance.id)
        return real(conf, instance)
    monkeypatch.setattr(util, '_get_metadata_from_object', spy)
    return seen


def test_metadata_built_once_per_instance_and_cycle(make_host, built):
    entries = fakes.load('real-tcg-guests-perf-state.json')
    instances = _instances(entries)
    made = _cycle(make_host, entries, instances)
    assert len(made) > len(instances)
    assert sorted(built) == sorted(i.id for i in instances)
    _cycle(make_host, entries, instances)  # a new cycle, a new cache
    assert len(built) == 2 * len(instances)


def test_samples_do_not_share_their_metadata(make_host):
    entries = fakes.load('documented-all-perf-events.json')
    made = _cycle(make_host, entries, _instances(entries))
    first, second = made[0], made[1]
    assert first.resource_id == second.resource_id
    first.resource_metadata['display_name'] = 'changed'
    assert second.resource_metadata['display_name'] == entries[0]['name']


def test_failure_midway_is_logged_and_ends_the_meter(make_host, monkeypatch,
                                                     caplog):
    entries = fakes.load('real-tcg-guests-perf-state.json')
    instances = fakes.instances_for(entries)
    host = make_host(entries)
    real = samples.SampleMaker.__call__

    def fail_on_second(self, instance, volume, additional_metadata=None):
        if instance is instances[1]:
            raise RuntimeError('boom')
        return real(self, instance, volume, additional_metadata)
    monkeypatch.setattr(samples.SampleMaker, '__call__', fail_on_second)
    with caplog.at_level(logging.ERROR, logger='ceilometer_perf'):
        made = poll(host, 'perf.event.cpu_clock', instances)
    assert [s.resource_id for s in made] == [entries[0]['uuid']]
    assert 'perf.event.cpu_clock failed this cycle' in caplog.text


def _uuid1(stamp, clock_seq, node):
    return str(uuid.UUID(fields=(
        stamp & 0xffffffff, (stamp >> 32) & 0xffff, 0x1000 | (stamp >> 48),
        0x80 | clock_seq >> 8, clock_seq & 0xff, node)))


# 100 ns ticks since 1582-10-15: 2026-11-25, and the last tick before
# time_mid changes.
NOW_STAMP = 1795651200 * 10**7 + 1234567 + 0x01b21dd213814000
EDGE_STAMP = (NOW_STAMP | 0xffffffff)


@pytest.mark.parametrize('stamp', [NOW_STAMP, EDGE_STAMP],
                         ids=['now', 'time_mid-rollover'])
def test_sample_id_is_the_rfc4122_version1_uuid(monkeypatch, stamp):
    node, clock_seq = 0x0242ac110002, 0x1234
    unix_ns = (stamp - 0x01b21dd213814000) * 100
    monkeypatch.setattr(samples.time, 'time_ns', lambda: unix_ns)
    source = samples.Uuid1Source(node=node, clock_seq=clock_seq)
    first, second = source(), source()
    assert first == _uuid1(stamp, clock_seq, node)
    # Same clock reading: the next id still has a later timestamp.
    assert second == _uuid1(stamp + 1, clock_seq, node)
    parsed = uuid.UUID(second)
    assert parsed.version == 1 and parsed.variant == uuid.RFC_4122
    assert (parsed.node, parsed.clock_seq, parsed.time) == (
        node, clock_seq, stamp + 1)


def test_sample_ids_unique_across_threads(monkeypatch):
    monkeypatch.setattr(samples.time, 'time_ns', lambda: 17 * 10**17)
    source = samples.Uuid1Source()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [source() for _ in range(2000)],
                                range(4)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids) == 8000
    for batch in batches:
        stamps = [uuid.UUID(i).time for i in batch]
        assert stamps == sorted(set(stamps))


def test_reserved_blocks_never_overlap_single_ids(monkeypatch, conf):
    # Pollsters reserve one timestamp per instance up front; a maker that
    # makes more falls back to one id at a time.  All stay unique.
    monkeypatch.setattr(samples.time, 'time_ns', lambda: 17 * 10**17)
    monkeypatch.setattr(samples, 'new_sample_id', samples.Uuid1Source())
    inst = fakes.instance('u-1')

    def pollster(expected):
        make = samples.SampleMaker(conf, {}, 'm', 'gauge', 'B', 1.0,
                                   expected=expected)
        return [make(inst, 1).id for _ in range(300)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(pollster, [1, 50, 300, 1000] * 3))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids) == 12 * 300
    for batch in batches:
        stamps = [uuid.UUID(i).time for i in batch]
        assert stamps == sorted(set(stamps))


def test_process_ids_carry_this_host_and_now():
    parsed = uuid.UUID(samples.new_sample_id())
    reference = uuid.uuid1()
    assert parsed.version == 1 and parsed.node == uuid.getnode()
    # Same clock, 100 ns ticks: within a minute of libuuid's own reading.
    assert abs(parsed.time - reference.time) < 60 * 10**7


def test_metadata_reused_across_cycles_until_the_instance_changes(
        make_host, built):
    entries = fakes.load('real-tcg-guests-perf-state.json')
    host = make_host(entries)

    def cycle(instances):
        # Discovery makes new instance objects every cycle.
        cache = {}
        return [s for name in ('perf.event.cpu_clock', 'perf.vpmu')
                for s in poll(host, name, instances, cache)]
    first = cycle(_instances(entries))
    assert sorted(built) == sorted(e['uuid'] for e in entries)
    again = cycle(_instances(entries))
    assert len(built) == len(entries)
    assert [_comparable(s)['resource_metadata'] for s in again] == \
        [_comparable(s)['resource_metadata'] for s in first]
    # Renamed and resized: its metadata is built again, and only its.
    changed = _instances(entries)
    changed[1].name = 'renamed'
    changed[1].flavor = dict(changed[1].flavor, name='m1.large', vcpus=4)
    made = cycle(changed)
    assert built[len(entries):] == [entries[1]['uuid']]
    meta = {s.resource_id: s.resource_metadata for s in made}
    assert meta[entries[1]['uuid']]['display_name'] == 'renamed'
    assert meta[entries[1]['uuid']]['instance_type'] == 'm1.large'
    assert meta[entries[1]['uuid']]['vcpus'] == 4
    # Gone from the hypervisor: forgotten.
    host.fake.domains = host.fake.domains[:1]
    cycle(_instances(entries))
    assert len(host.metadata) == 1
