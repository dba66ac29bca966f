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

"""The catalogue is the single source of truth: check what derives from it."""

import configparser
import importlib.metadata
import os

from ceilometer_perf import stats
from ceilometer_perf import catalogue
from ceilometer_perf import kinds
from ceilometer_perf.ops import doctables
from ceilometer_perf import pollsters

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

# The 22 perf.* keys of `virsh domstats --perf` (libvirt docs/manpages).
LIBVIRT_PERF_KEYS = {
    'perf.' + e for e in (
        'cmt mbmt mbml cpu_cycles instructions cache_references '
        'cache_misses branch_instructions branch_misses bus_cycles '
        'stalled_cycles_frontend stalled_cycles_backend ref_cpu_cycles '
        'cpu_clock task_clock page_faults context_switches cpu_migrations '
        'page_faults_min page_faults_maj alignment_faults '
        'emulation_faults').split()}


def test_every_libvirt_perf_key_has_exactly_one_meter():
    keys = [m.key for m in catalogue.METERS if m.key]
    assert sorted(keys) == sorted(LIBVIRT_PERF_KEYS)


def test_perf_event_meters_are_counters_with_units():
    events = [m for m in catalogue.METERS if m.name.startswith('perf.event.')]
    assert len(events) == 19
    for meter in events:
        assert meter.type == catalogue.CUMULATIVE
        assert meter.unit
        assert meter.key == 'perf.' + meter.name[len('perf.event.'):]
    assert catalogue.BY_NAME['perf.event.cpu_clock'].unit == 'ns'
    assert catalogue.BY_NAME['perf.event.task_clock'].unit == 'ns'


def test_rdt_and_vpmu_meters():
    expect = {'cpu_l3_cache': ('gauge', 'B', 'perf.cmt'),
              'memory.bandwidth.total': ('gauge', 'B/s', 'perf.mbmt'),
              'memory.bandwidth.local': ('gauge', 'B/s', 'perf.mbml'),
              'perf.vpmu': ('gauge', 'state', None)}
    for name, (type_, unit, key) in expect.items():
        meter = catalogue.BY_NAME[name]
        assert (meter.type, meter.unit, meter.key) == (type_, unit, key)


def test_derived_meters():
    ratios = {'perf.ipc': ('perf.instructions', 'perf.cpu_cycles', 16.0),
              'perf.cache_miss_ratio': ('perf.cache_misses',
                                        'perf.cache_references', 1.0),
              'perf.branch_miss_ratio': ('perf.branch_misses',
                                         'perf.branch_instructions', 1.0)}
    for name, (numerator, denominator, ceiling) in ratios.items():
        meter = catalogue.BY_NAME[name]
        assert meter.kind == catalogue.KIND_RATIO
        assert meter.type == catalogue.GAUGE
        assert meter.inputs == (numerator, denominator)
        assert set(meter.inputs) <= LIBVIRT_PERF_KEYS
        assert meter.ceiling == ceiling
        # Cheap and never waits on QEMU: the perf counters' own group.
        assert meter.groups == (stats.PERF,)
        assert set(meter.events) <= catalogue.HARDWARE_EVENTS
    overhead = catalogue.BY_NAME['cpu.overhead']
    assert (overhead.type, overhead.unit) == (catalogue.CUMULATIVE, 'ns')
    assert overhead.groups == (stats.CPU_TOTAL,
                               stats.VCPU)
    assert overhead.events == ()
    assert {m.kind for m in catalogue.METERS} == set(kinds.kind_classes())


def test_setup_cfg_entry_points_match_catalogue():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    raw = parser.get('entry_points', catalogue.ENTRY_POINT_NAMESPACE)
    lines = sorted(' '.join(x.split()) for x in raw.strip().splitlines())
    assert lines == sorted(catalogue.entry_points())


def test_installed_entry_points_load_the_right_classes():
    ours = [ep for ep in importlib.metadata.entry_points(
        group=catalogue.ENTRY_POINT_NAMESPACE)
        if ep.value.startswith(catalogue.POLLSTER_MODULE + ':')]
    assert {ep.name for ep in ours} == set(catalogue.BY_NAME)
    for ep in ours:
        assert ep.load().meter is catalogue.BY_NAME[ep.name]


def test_no_meter_name_is_registered_by_ceilometer():
    taken = set()
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group.startswith('ceilometer.') and not ep.value.startswith(
                    'ceilometer_perf'):
                taken.add(ep.name)
    # ceilometer's own, so the check bites
    assert {'perf.cpu.cycles', 'cpu', 'vcpus'} <= taken
    assert not taken & set(catalogue.BY_NAME)


def test_pollster_classes_are_thin():
    assert set(pollsters.POLLSTERS) == {m.class_name
                                        for m in catalogue.METERS}
    for name, cls in pollsters.POLLSTERS.items():
        assert getattr(pollsters, name) is cls
        assert cls.meter.class_name == name
        assert 'get_samples' not in cls.__dict__


def test_docs_meter_table_has_one_row_per_meter():
    """admin/meters.rst's table, as doc/source/_exts renders it."""
    table = doctables.meter_table()
    assert doctables.first_column(table) == [m.name for m in
                                             catalogue.METERS]
    assert doctables.missing_meters(table) == []
    for meter, row in zip(catalogue.METERS, doctables.meter_rows(),
                          strict=True):
        assert meter.unit in row and meter.help in row
        assert meter.type in row


def test_docs_meter_table_check_can_fail():
    table = doctables.meter_table(catalogue.METERS[:-1])
    assert doctables.missing_meters(table) == [catalogue.METERS[-1].name]
    twice = doctables.meter_table(catalogue.METERS + catalogue.METERS[:1])
    assert doctables.missing_meters(twice) == [catalogue.METERS[0].name]


def test_every_hardware_event_is_named():
    # Offering nova an event the host cannot count makes guests fail to
    # start: the event class is a column, checked here by name.
    assert catalogue.HARDWARE_EVENTS == {
        'cpu_cycles', 'instructions', 'cache_references', 'cache_misses',
        'branch_instructions', 'branch_misses', 'bus_cycles',
        'stalled_cycles_frontend', 'stalled_cycles_backend',
        'ref_cpu_cycles'}
    assert catalogue.RDT_EVENTS == {'cmt', 'mbmt', 'mbml'}
    assert len(catalogue.SOFTWARE_EVENTS) == 9
    for meter in catalogue.METERS:
        assert (meter.event is None) == (meter.event_class is None)
        for event in meter.events:
            assert event in catalogue.EVENT_CLASS, (meter.name, event)
