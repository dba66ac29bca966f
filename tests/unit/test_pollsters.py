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

"""Table-driven: raw bulk stats records -> the samples the pollsters emit."""

import concurrent.futures
import json
import logging

import pytest

from ceilometer_perf import stats
from ceilometer_perf import catalogue
from ceilometer_perf import opts
from tests.unit import fakes
from tests.unit.conftest import poll

DOCUMENTED = 'documented-all-perf-events.json'
REAL_TCG = 'real-tcg-guests-perf-state.json'


def _stat_rows():
    return [m for m in catalogue.METERS if m.kind == catalogue.KIND_STAT]


@pytest.mark.parametrize('meter', _stat_rows(), ids=lambda m: m.name)
def test_every_stat_row_from_documented_record(make_host, meter):
    entries = fakes.load(DOCUMENTED)
    host = make_host(entries)
    [sample] = poll(host, meter.name, fakes.instances_for(entries))
    assert sample.name == meter.name
    assert sample.type == meter.type
    assert sample.unit == meter.unit
    assert sample.volume == entries[0]['stats'][meter.key]
    assert sample.resource_id == entries[0]['uuid']
    assert sample.resource_metadata['display_name'] == entries[0]['name']


# Recorded from real TCG guests: pmu-on and pmu-unset count all nine
# software events, pmu-off only four; no guest counts hardware events.
REAL_CASES = [
    ('perf.event.cpu_clock', {'cperf-pmu-on': 467772844,
                              'cperf-pmu-off': 481599665,
                              'cperf-pmu-unset': 428631924}),
    ('perf.event.context_switches', {'cperf-pmu-on': 2498,
                                     'cperf-pmu-off': 2510,
                                     'cperf-pmu-unset': 2679}),
    ('perf.event.page_faults_maj', {'cperf-pmu-on': 9,
                                    'cperf-pmu-unset': 0}),
    ('perf.event.cpu_migrations', {'cperf-pmu-on': 2,
                                   'cperf-pmu-unset': 2}),
    ('perf.event.cpu_cycles', {}),
    ('perf.event.cache_misses', {}),
    ('cpu_l3_cache', {}),
    ('memory.bandwidth.total', {}),
    ('perf.vpmu', {'cperf-pmu-on': 1, 'cperf-pmu-off': 0,
                   'cperf-pmu-unset': 1}),
]


@pytest.mark.parametrize('meter_name,expected', REAL_CASES,
                         ids=[c[0] for c in REAL_CASES])
def test_real_tcg_record(make_host, meter_name, expected):
    entries = fakes.load(REAL_TCG)
    host = make_host(entries)
    samples = poll(host, meter_name, fakes.instances_for(entries))
    got = {s.resource_metadata['display_name']: s.volume for s in samples}
    assert got == expected


def test_zero_is_a_value_absent_is_not(make_host):
    entries = fakes.load(REAL_TCG)
    host = make_host(entries)
    samples = poll(host, 'perf.event.alignment_faults',
                   fakes.instances_for(entries))
    # Counted and zero on two guests; not enabled on pmu-off: no sample.
    assert sorted(s.volume for s in samples) == [0, 0]


def test_missing_event_logged_once_per_event_per_host(make_host, caplog):
    entries = fakes.load(REAL_TCG)
    host = make_host(entries)
    instances = fakes.instances_for(entries)
    with caplog.at_level(logging.WARNING, logger='ceilometer_perf'):
        for _ in range(3):
            poll(host, 'perf.event.cpu_cycles', instances)
            poll(host, 'perf.event.cpu_migrations', instances)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert any('cpu_cycles' in m and 'hardware PMU' in m for m in lines)
    assert any('cpu_migrations' in m and 'enabled_perf_events' in m
               for m in lines)


def test_instance_without_domain_and_domain_without_instance(make_host):
    entries = fakes.load(REAL_TCG)
    host = make_host(entries[:2])
    # The third instance is discovered but its domain is not running (shut
    # off) or gone; a running domain nova does not know is ignored.
    instances = fakes.instances_for(entries[1:])
    samples = poll(host, 'perf.event.task_clock', instances)
    assert [s.resource_id for s in samples] == [entries[1]['uuid']]


@pytest.mark.parametrize('name', ['vm "quoted" <b>', 'ünïcødé-θ', '',
                                  'x' * 255, 'spaces  and\ttabs'])
def test_odd_instance_names_pass_through(make_host, name):
    entries = fakes.load(REAL_TCG)
    host = make_host(entries[:1])
    inst = fakes.instance(entries[0]['uuid'], name=name)
    [sample] = poll(host, 'perf.event.cpu_clock', [inst])
    assert sample.resource_metadata['display_name'] == name
    json.dumps(sample.as_dict())


def test_empty_host(make_host):
    host = make_host([])
    assert poll(host, 'perf.event.cpu_clock', []) == []
    assert poll(host, 'perf.vpmu', [fakes.instance('nope')]) == []


class _Source:
    def __init__(self, interval, meters):
        self.interval = interval
        self.meters = meters

    def get_interval(self):
        return self.interval

    def support_meter(self, name):
        return name in self.meters


class _Manager:
    def __init__(self, *sources):
        self.polling_manager = type('P', (), {'sources': list(sources)})()


def test_one_bulk_call_for_all_pollsters_of_a_cycle(make_host):
    entries = fakes.load(REAL_TCG) * 1
    host = make_host(entries)
    instances = fakes.instances_for(entries)
    names = [m.name for m in catalogue.METERS]
    manager = _Manager(_Source(60, names))
    for cycle in range(3):
        cache = {}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(poll, [host] * len(names), names,
                          [instances] * len(names), [cache] * len(names),
                          [manager] * len(names)))
        assert len(host.fake.calls) == cycle + 1
    stats_flags, flags = host.fake.calls[0]
    assert stats_flags == (stats.FLAGS['perf'] | stats.FLAGS['state']
                     | stats.FLAGS['cpu_total']
                     | stats.FLAGS['memory']
                     | stats.FLAGS['vcpu'])
    assert flags & stats.NOWAIT and flags & stats.LIST_ACTIVE


def test_groups_follow_the_polling_interval(make_host):
    host = make_host([])
    vpmu = catalogue.BY_NAME['perf.vpmu']
    cycles = catalogue.BY_NAME['perf.event.cpu_cycles']
    apart = _Manager(_Source(600, ['perf.vpmu']),
                     _Source(60, ['perf.event.cpu_cycles']))
    assert host.groups_for(apart, vpmu) == {'state'}
    assert host.groups_for(apart, cycles) == {'perf'}
    together = _Manager(_Source(60, ['perf.vpmu', 'perf.event.cpu_cycles']))
    assert host.groups_for(together, vpmu) == {'state', 'perf'}
    # Without a polling manager (e.g. a bare call) only its own group.
    assert host.groups_for(None, cycles) == {'perf'}


def test_missing_group_is_read_once_more(make_host):
    entries = fakes.load(REAL_TCG)
    host = make_host(entries)
    instances = fakes.instances_for(entries)
    cache = {}
    assert poll(host, 'perf.vpmu', instances, cache)
    assert poll(host, 'perf.event.cpu_clock', instances, cache)
    assert poll(host, 'perf.event.task_clock', instances, cache)
    assert [c[0] for c in host.fake.calls] == [stats.FLAGS['state'],
                                               stats.FLAGS['perf']]


def test_nowait_can_be_turned_off(conf, make_host):
    opts.register_opts(conf)
    conf.set_override('stats_nowait', False, group='ceilometer_perf')
    host = make_host([])
    poll(host, 'perf.event.cpu_clock', [])
    assert not host.fake.calls[0][1] & stats.NOWAIT
