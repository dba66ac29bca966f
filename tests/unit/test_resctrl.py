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

"""Cache occupancy and memory bandwidth from resctrl monitors.

Records: the real published ones (tests/unit/records/published-*.json, both
partial or in a format never released, used as they are), a real record of
this project's TCG guests without monitors, and records BUILT from
libvirt's documented key format (documented-resctrl-monitors.json) because
no complete real output of cpu.cache.monitor.* / memory.bandwidth.monitor.*
has been published.  Each record file's "source" says which is which.
"""

import json
import logging
import os

import pytest
import yaml
from ceilometer.polling import manager as polling_manager

from ceilometer_perf import stats
from ceilometer_perf import catalogue
from ceilometer_perf.resctrl import monitors as resctrl
from tests.unit import fakes
from tests.unit.conftest import poll

BUILT = 'documented-resctrl-monitors.json'
MBM_PARTIAL = 'published-mbm-cover-letter-partial.json'
CMT_OLD_FORMAT = 'published-cmt-rfcv2-old-format.json'
REAL_NO_MONITORS = 'real-tcg-guests-no-resctrl-monitors.json'
RDT_METERS = ('cpu_l3_cache', 'memory.bandwidth.total',
              'memory.bandwidth.local')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _record(name):
    with open(os.path.join(fakes.RECORDS, name)) as f:
        return json.load(f)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def built_host(make_host):
    """A host serving the BUILT record, with a clock the test moves."""
    record = _record(BUILT)
    host = make_host(record['domains'])
    host.reader.source.clock = Clock()
    host.record = record
    host.instances = fakes.instances_for(record['domains'])
    return host


def _next_poll(host):
    later = host.record['next_poll']
    host.reader.source.clock.now += later['after_seconds']
    for dom in host.fake.domains:
        entry = dom.entry
        entry['id'] = later['id'].get(entry['uuid'], entry['id'])
        entry['stats'].update(later['stats'].get(entry['uuid'], {}))


def _by_name(samples):
    return {s.resource_metadata['display_name']: s for s in samples}


def _volumes(samples):
    return {name: s.volume for name, s in _by_name(samples).items()}


# Cache occupancy is a level: a value from the first poll on.  Bandwidth is
# a rate: nothing on the first poll, B/s over the 10 s to the next one.
FIRST_POLL = {
    'cpu_l3_cache': {
        # 53796864 + 1048576 + 7839744 + 0 + 4415488 + 524288
        'cache-three-monitors': 67624960,
        # Only the default monitor: it already counts vcpus_1.
        'cache-nested-monitors': 20971520 + 4194304,
        # perf.cmt wins over the monitor when both are present.
        'perf-cmt-and-monitor': 53796864},
    'memory.bandwidth.total': {},
    'memory.bandwidth.local': {},
}
SECOND_POLL = {
    'cpu_l3_cache': FIRST_POLL['cpu_l3_cache'],
    # (1500000000 + 500000000) B / 10 s; restarted and counter-down: none.
    'memory.bandwidth.total': {'bandwidth-two-nodes': 200000000.0,
                               'bandwidth-total-only': 100000000.0},
    # The total-only host has no mbm_local_bytes: no local sample.
    'memory.bandwidth.local': {'bandwidth-two-nodes': 125000000.0},
}


@pytest.mark.parametrize('meter_name', RDT_METERS)
def test_built_record_two_polls(built_host, meter_name):
    host = built_host
    first = poll(host, meter_name, host.instances)
    assert _volumes(first) == FIRST_POLL[meter_name]
    _next_poll(host)
    second = poll(host, meter_name, host.instances)
    assert _volumes(second) == SECOND_POLL[meter_name]
    meter = catalogue.BY_NAME[meter_name]
    for sample in second:
        assert (sample.type, sample.unit) == (meter.type, meter.unit)


def test_cache_metadata_breaks_down_per_monitor_and_bank(built_host):
    samples = _by_name(poll(built_host, 'cpu_l3_cache',
                            built_host.instances))
    meta = samples['cache-three-monitors'].resource_metadata
    assert meta['monitoring_source'] == 'resctrl'
    assert meta['resctrl_monitors'][0] == {
        'name': 'vcpus_0,3', 'vcpus': '0,3', 'counted': True,
        'bytes': 53796864 + 1048576,
        'banks': [{'id': 0, 'bytes': 53796864}, {'id': 1, 'bytes': 1048576}]}
    assert [m['name'] for m in meta['resctrl_monitors']] == [
        'vcpus_0,3', 'vcpus_1', 'vcpus_2']
    nested = samples['cache-nested-monitors'].resource_metadata
    assert [(m['name'], m['counted']) for m in nested['resctrl_monitors']] \
        == [('vcpus_0-3', True), ('vcpus_1', False)]
    perf = samples['perf-cmt-and-monitor'].resource_metadata
    assert perf['monitoring_source'] == 'perf'
    assert 'resctrl_monitors' not in perf


def test_bandwidth_metadata_breaks_down_per_node(built_host):
    poll(built_host, 'memory.bandwidth.total', built_host.instances)
    _next_poll(built_host)
    samples = _by_name(poll(built_host, 'memory.bandwidth.total',
                            built_host.instances))
    meta = samples['bandwidth-two-nodes'].resource_metadata
    assert meta['monitoring_source'] == 'resctrl'
    assert meta['rate_interval_seconds'] == 10.0
    assert meta['resctrl_monitors'] == [{
        'name': 'vcpus_0-4', 'vcpus': '0-4', 'counted': True,
        'bytes_per_second': 200000000.0,
        'nodes': [{'id': 0, 'bytes_per_second': 150000000.0},
                  {'id': 1, 'bytes_per_second': 50000000.0}]}]


def test_perf_source_is_named_in_metadata(make_host):
    entries = fakes.load('documented-all-perf-events.json')
    host = make_host(entries)
    for name in RDT_METERS:
        [sample] = poll(host, name, fakes.instances_for(entries))
        assert sample.resource_metadata['monitoring_source'] == 'perf'
    [clock] = poll(host, 'perf.event.cpu_clock', fakes.instances_for(entries))
    assert 'monitoring_source' not in clock.resource_metadata


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING]


def test_published_mbm_sample_is_partial_so_no_sample(make_host, caplog):
    # The only real --memory output announces 4 monitors and 2 nodes but
    # was cut after node 0's bytes.total: it stays cut, and the plugin must
    # neither invent the rest nor fail.
    entries = fakes.load(MBM_PARTIAL)
    record = entries[0]['stats']
    with pytest.raises(resctrl.Incomplete):
        resctrl.read_monitors(record, stats.MBM_TOTAL)
    host = make_host(entries)
    host.reader.source.clock = Clock()
    instances = fakes.instances_for(entries)
    with caplog.at_level(logging.DEBUG, logger='ceilometer_perf'):
        for _ in range(2):
            host.reader.source.clock.now += 60
            for name in RDT_METERS:
                assert poll(host, name, instances) == []
    lines = _warnings(caplog)
    assert len(lines) == 2, lines
    assert any('incomplete (monitor 0 node 1 has no id)' in line
               for line in lines)
    # CPU_TOTAL's count is absent from this --memory record: no monitor.
    assert any('cpu_l3_cache' in line and 'cachetune' in line
               for line in lines)
    assert not any('Traceback' in r.getMessage() or r.exc_info
                   for r in caplog.records)


def test_published_cmt_old_format_is_not_read(make_host, caplog):
    entries = fakes.load(CMT_OLD_FORMAT)
    assert resctrl.read_monitors(entries[0]['stats'],
                                 stats.LLC_OCCUPANCY) == ()
    host = make_host(entries)
    with caplog.at_level(logging.WARNING, logger='ceilometer_perf'):
        assert poll(host, 'cpu_l3_cache', fakes.instances_for(entries)) == []
    [line] = _warnings(caplog)
    assert 'no sample' in line


def test_real_guests_without_monitors_one_line(make_host, caplog):
    entries = fakes.load(REAL_NO_MONITORS)
    assert all(e['stats']['cpu.cache.monitor.count'] == 0 for e in entries)
    assert not any(k.startswith('memory.') for e in entries
                   for k in e['stats'])
    host = make_host(entries)
    host.reader.source.clock = Clock()
    instances = fakes.instances_for(entries)
    with caplog.at_level(logging.DEBUG, logger='ceilometer_perf'):
        for _ in range(3):
            host.reader.source.clock.now += 60
            cache = {}
            for name in RDT_METERS:
                assert poll(host, name, instances, cache) == []
            assert len(poll(host, 'perf.event.cpu_clock', instances,
                            cache)) == 3
    [line] = _warnings(caplog)
    for words in ('nova does not configure resctrl monitors', '<cachetune>',
                  '<memorytune>', 'Cache and memory bandwidth',
                  'This host:'):
        assert words in line


MEMORY_ONLY = {'memory.bandwidth.monitor.count': 1,
               'memory.bandwidth.monitor.0.name': 'vcpus_0',
               'memory.bandwidth.monitor.0.vcpus': '0',
               'memory.bandwidth.monitor.0.node.count': 1,
               'memory.bandwidth.monitor.0.node.0.id': 0,
               'memory.bandwidth.monitor.0.node.0.bytes.total': 5}


@pytest.mark.parametrize('record,feature,expected', [
    ({}, stats.LLC_OCCUPANCY, ()),
    ({'cpu.cache.monitor.count': 0}, stats.LLC_OCCUPANCY, ()),
    (MEMORY_ONLY, stats.MBM_TOTAL,
     (resctrl.Monitor('vcpus_0', '0', ((0, 5),)),)),
    # The host has no mbm_local_bytes: libvirt reports no such key.
    (MEMORY_ONLY, stats.MBM_LOCAL, ()),
    (MEMORY_ONLY, stats.LLC_OCCUPANCY, ()),
    # No name or vcpus: still counted, named by position.
    ({'cpu.cache.monitor.count': 1, 'cpu.cache.monitor.0.bank.count': 1,
      'cpu.cache.monitor.0.bank.0.id': 3,
      'cpu.cache.monitor.0.bank.0.bytes': 7},
     stats.LLC_OCCUPANCY, (resctrl.Monitor('monitor0', None, ((3, 7),)),)),
])
def test_read_monitors(record, feature, expected):
    assert resctrl.read_monitors(record, feature) == expected


@pytest.mark.parametrize('record', [
    {'cpu.cache.monitor.count': 2, 'cpu.cache.monitor.0.bank.count': 0},
    {'cpu.cache.monitor.count': 1, 'cpu.cache.monitor.0.bank.count': 2,
     'cpu.cache.monitor.0.bank.0.id': 0,
     'cpu.cache.monitor.0.bank.0.bytes': 1},
    {'cpu.cache.monitor.count': 1, 'cpu.cache.monitor.0.bank.count': 2,
     'cpu.cache.monitor.0.bank.0.id': 0,
     'cpu.cache.monitor.0.bank.0.bytes': 1,
     'cpu.cache.monitor.0.bank.1.id': 1},
], ids=['missing-monitor', 'missing-bank', 'bank-without-bytes'])
def test_missing_banks_are_incomplete(record):
    with pytest.raises(resctrl.Incomplete):
        resctrl.read_monitors(record, stats.LLC_OCCUPANCY)


@pytest.mark.parametrize('text,expected', [
    ('0-4', {0, 1, 2, 3, 4}), ('0,3', {0, 3}), ('1', {1}),
    ('0-1,4,6-7', {0, 1, 4, 6, 7}), ('', None), (None, None),
    ('0-x', None),
])
def test_parse_vcpus(text, expected):
    got = resctrl.parse_vcpus(text)
    assert got == (None if expected is None else frozenset(expected))


def test_same_vcpus_twice_counted_once():
    record = {'cpu.cache.monitor.count': 2}
    for n in range(2):
        record.update({'cpu.cache.monitor.%d.name' % n: 'm%d' % n,
                      'cpu.cache.monitor.%d.vcpus' % n: '0-1',
                      'cpu.cache.monitor.%d.bank.count' % n: 1,
                      'cpu.cache.monitor.%d.bank.0.id' % n: 0,
                      'cpu.cache.monitor.%d.bank.0.bytes' % n: 10})
    monitors = resctrl.read_monitors(record, stats.LLC_OCCUPANCY)
    assert [m.counted for m in monitors] == [True, False]


def test_rate_state_is_pruned_with_the_domains(built_host):
    host = built_host
    for name in ('memory.bandwidth.total', 'memory.bandwidth.local'):
        poll(host, name, host.instances)
    # total: 4 bandwidth domains; local: 3 (total-only has none).
    assert len(host.monitors.rates) == 7
    host.fake.domains[:] = [d for d in host.fake.domains
                            if d.entry['name'] == 'bandwidth-two-nodes']
    poll(host, 'memory.bandwidth.total', host.instances)
    assert len(host.monitors.rates) == 2
    host.fake.domains[:] = []
    poll(host, 'memory.bandwidth.total', host.instances)
    assert len(host.monitors.rates) == 0


# Which stats groups a polling task asks for.

class _Manager:
    def __init__(self, sources):
        self.polling_manager = type('P', (), {'sources': [
            polling_manager.PollingSource(s) for s in sources]})()


@pytest.mark.parametrize('meters,expected', [
    (['perf.event.*'], {'perf'}),
    (['cpu_l3_cache'], {'perf', 'cpu_total'}),
    (['memory.bandwidth.*'], {'perf', 'memory'}),
    # With cheap meters in its task, never CPU_TOTAL (it waits on QEMU).
    (['perf.event.*', 'memory.bandwidth.*', 'cpu_l3_cache'],
     {'perf', 'memory'}),
    (['cpu_l3_cache', 'memory.bandwidth.*'], {'perf', 'memory',
                                              'cpu_total'}),
])
def test_cpu_total_only_when_cache_occupancy_is_polled(make_host, meters,
                                                       expected):
    host = make_host([])
    manager = _Manager([{'name': 's', 'interval': 60, 'meters': meters}])
    for name in catalogue.BY_NAME:
        if manager.polling_manager.sources[0].support_meter(name):
            assert host.groups_for(manager, catalogue.BY_NAME[name]) \
                == expected


def test_sample_polling_yaml_keeps_cpu_total_out_of_the_counters(make_host):
    with open(os.path.join(ROOT, 'etc', 'ceilometer', 'polling.yaml')) as f:
        sources = yaml.safe_load(f)['sources']
    host = make_host([])
    manager = _Manager(sources)
    plans = {name: host.groups_for(manager, catalogue.BY_NAME[name])
             for name in ('perf.event.cpu_clock', 'memory.bandwidth.total',
                          'cpu_l3_cache', 'perf.vpmu')}
    assert plans['perf.event.cpu_clock'] == {'perf', 'memory'}
    assert plans['memory.bandwidth.total'] == {'perf', 'memory'}
    # cpu_l3_cache rides in the cheap task (from our resctrl groups or
    # the perf event) and never makes it wait on QEMU.
    assert plans['cpu_l3_cache'] == {'perf', 'memory'}
    assert plans['perf.vpmu'] == {'state'}


@pytest.mark.parametrize('task,own,expected', [
    # Alone, or with the slow meters: libvirt's <cachetune> monitors.
    (['cpu_l3_cache'], False, {'perf', 'cpu_total'}),
    (['cpu_l3_cache', 'cpu.overhead'], False,
     {'perf', 'cpu_total', 'vcpu'}),
    # With cheap meters: never CPU_TOTAL.
    (['cpu_l3_cache', 'perf.event.cpu_clock'], False, {'perf'}),
    # Our own groups: never CPU_TOTAL for it.
    (['cpu_l3_cache'], True, {'perf'}),
    (['cpu_l3_cache', 'memory.bandwidth.local'], True, {'perf', 'memory'}),
])
def test_cache_meter_groups_by_task(task, own, expected):
    from ceilometer_perf import plan

    class Source:
        def get_interval(self):
            return 60

        def support_meter(self, name):
            return name in task
    got = plan.task_groups([Source()], catalogue.BY_NAME[task[0]], own)
    assert got == expected


def test_group_flags_match_libvirt():
    import libvirt
    assert stats.FLAGS['cpu_total'] == \
        libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    assert stats.FLAGS['memory'] == libvirt.VIR_DOMAIN_STATS_MEMORY
