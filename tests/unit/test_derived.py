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

"""Derived meters: ratios over the interval, cpu.overhead, counter resets.

Properties (hypothesis) of ceilometer_perf.kinds.derived over random counter
sequences with every kind of reset, then table-driven cases through the
pollsters from records: BUILT hardware counters (no host here has a PMU)
and a REAL libvirtd restart recorded from TCG guests.
"""

import dataclasses
import logging

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ceilometer_perf import state
from ceilometer_perf import catalogue
from ceilometer_perf.kinds import derived
from ceilometer_perf import pollsters
from tests.unit import fakes

RATIOS = [m for m in catalogue.METERS if m.kind == catalogue.KIND_RATIO]
TICK = derived.VCPU_TICK_NS
RESTART = 'real-tcg-libvirtd-restart.json'

# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

COUNT = st.integers(0, 2 ** 40)
# One step of a domain's life between two polls.
STEP = st.one_of(
    st.tuples(st.just('grow'), COUNT, COUNT),
    # Counters restart from small values: libvirtd restart (new
    # connection), domain restart (new id), or unnoticed (same both).
    st.tuples(st.sampled_from(['libvirtd', 'domain', 'silent']),
              st.integers(0, 2 ** 20), st.integers(0, 2 ** 20)),
    st.tuples(st.just('gone'), st.just(0), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(STEP, max_size=40),
       ceiling=st.sampled_from([1.0, 16.0]))
def test_ratio_never_across_a_reset_never_absurd(steps, ceiling):
    state = derived.DerivedState()
    domain_id, epoch, counters = 1, 1, (0, 0)
    previous = None        # the reading the plugin saw last, if any
    for kind, a, b in steps:
        if kind == 'gone':
            state.prune([])
            assert len(state) == 0
            previous = None
            continue
        if kind == 'grow':
            counters = (counters[0] + a, counters[1] + b)
        else:
            counters = (a, b)
            domain_id += kind == 'domain'
            epoch += kind == 'libvirtd'
        reading = derived.Reading(domain_id, epoch, counters)
        value, reset = derived.interval_ratio(state, 'perf.x', 'u-1',
                                              reading, ceiling)
        assert value is None or 0 <= value <= ceiling
        went_down = previous is not None and any(
            now < before for before, now in zip(previous.counters,
                                                counters, strict=True))
        if previous is None or kind in ('libvirtd', 'domain') or went_down:
            assert value is None
        if kind in ('libvirtd', 'domain') and previous is not None:
            assert reset is not None
        elif went_down:
            assert reset == derived.RESET_COUNTER
        if kind == 'grow' and previous is not None:
            if b and a / b <= ceiling:
                assert value == a / b
            else:
                assert value is None
        assert len(state) == 1
        previous = reading


@settings(max_examples=200, deadline=None)
@given(cycles=st.lists(st.sets(st.sampled_from('abcdef')), max_size=20),
       meters=st.lists(st.sampled_from(['m1', 'm2', 'm3']), min_size=1,
                       max_size=3, unique=True))
def test_state_holds_only_domains_of_the_latest_read(cycles, meters):
    state = derived.DerivedState()
    for cycle, live in enumerate(cycles):
        state.prune(live)           # what every bulk read does first
        for uuid in live:
            for meter in meters:
                derived.interval_ratio(state, meter, uuid, derived.Reading(
                    1, 1, (cycle, cycle)), 16.0)
        assert len(state) == len(live) * len(meters)
    state.prune(set())
    assert len(state) == 0


# One step of a running domain for cpu.overhead: each vCPU thread and the
# rest of QEMU get CPU time; vcpu.N.time is read a little after cpu.time
# (skew, < 1 ms) and truncated to 10 ms ticks, as /proc gives it.
OVERHEAD_STEP = st.one_of(
    st.tuples(st.just('run'), st.integers(0, 3 * TICK),
              st.lists(st.integers(0, 5 * TICK), min_size=1, max_size=8),
              st.integers(0, 10 ** 6)),
    st.tuples(st.just('reboot'), st.just(0), st.just([]), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(vcpus=st.integers(1, 8),
       steps=st.lists(OVERHEAD_STEP, min_size=1, max_size=40))
def test_overhead_is_a_counter_never_negative_never_above_cpu_time(
        vcpus, steps):
    state = derived.DerivedState()
    domain_id, qemu, vcpu_true = 1, 0, [0] * vcpus
    last = None
    for kind, qemu_growth, vcpu_growth, skew in steps:
        if kind == 'reboot':
            domain_id, qemu, vcpu_true = domain_id + 1, 0, [0] * vcpus
            last = None
            continue
        qemu += qemu_growth
        vcpu_true = [t + vcpu_growth[i % len(vcpu_growth)]
                     for i, t in enumerate(vcpu_true)]
        stats = {'cpu.time': qemu + sum(vcpu_true), 'vcpu.current': vcpus}
        for i, t in enumerate(vcpu_true):
            stats['vcpu.%d.time' % i] = (t + skew) // TICK * TICK
        overhead = derived.vcpu_overhead(stats)
        raw = overhead[0]
        value = derived.steady_overhead(state, 'cpu.overhead', 'u-1',
                                        domain_id, overhead)
        assert 0 <= value <= stats['cpu.time']
        assert max(raw, 0) <= value <= max(raw, 0) + TICK * (vcpus + 1)
        if last is not None:
            assert value >= last            # same boot: never backwards
        last = value


@pytest.mark.parametrize('stats,expected', [
    ({'cpu.time': 500, 'vcpu.current': 2, 'vcpu.0.time': 100,
      'vcpu.1.time': 150, 'vcpu.0.wait': 7, 'vcpu.maximum': 4},
     (250, 2, 500)),
    # Hot-unplugged vCPU 1: numbering has a gap, the count still matches.
    ({'cpu.time': 500, 'vcpu.current': 2, 'vcpu.0.time': 100,
      'vcpu.2.time': 150}, (250, 2, 500)),
    # A vCPU without its time would pass it off as overhead.
    ({'cpu.time': 500, 'vcpu.current': 2, 'vcpu.0.time': 100}, None),
    ({'vcpu.current': 1, 'vcpu.0.time': 100}, None),
    ({'cpu.time': 500}, None),
])
def test_vcpu_overhead(stats, expected):
    assert derived.vcpu_overhead(stats) == expected


@pytest.mark.parametrize('previous,raw,expected', [
    (None, 5 * TICK, 5 * TICK),
    (5 * TICK, 6 * TICK, 6 * TICK),
    (5 * TICK, 5 * TICK - TICK, 5 * TICK),        # tick jitter: held
    (5 * TICK, 5 * TICK - 2 * TICK, 5 * TICK),    # 1 vCPU: 2 ticks allowed
    (50 * TICK, 3 * TICK, 3 * TICK),              # restarted counter
    (None, -TICK, 0),                             # jitter below zero
    (None, -3 * TICK, None),                      # inconsistent record
])
def test_steady_overhead_table(previous, raw, expected):
    state = derived.DerivedState()
    if previous is not None:
        derived.steady_overhead(state, 'o', 'u', 7,
                                (previous, 1, 100 * TICK))
    assert derived.steady_overhead(state, 'o', 'u', 7,
                                   (raw, 1, 100 * TICK)) == expected


# --------------------------------------------------------------------------
# Through the pollsters, from records
# --------------------------------------------------------------------------

# BUILT, not recorded: the documented record (every perf key libvirt
# documents, made-up counts) grown by these amounts per polling interval.
GROWTH = {'perf.instructions': 4_100_000_000, 'perf.cpu_cycles': 3_000_000_000,
          'perf.cache_misses': 9_000_000, 'perf.cache_references': 80_000_000,
          'perf.branch_misses': 12_000_000,
          'perf.branch_instructions': 700_000_000}
STEADY = {'perf.ipc': 4.1 / 3.0, 'perf.cache_miss_ratio': 9 / 80,
          'perf.branch_miss_ratio': 12 / 700}


def _grown(entry, times=1, **override):
    entry = dict(entry, stats=dict(entry['stats']))
    for key, growth in GROWTH.items():
        entry['stats'][key] += growth * times
    entry.update(override)
    return entry


def _poll_ratio(host, meter_name, entries):
    cls = pollsters.POLLSTERS[catalogue.BY_NAME[meter_name].class_name]
    pollster = cls(host.conf)
    pollster.host = host
    samples = pollster.get_samples(None, {}, fakes.instances_for(entries))
    return {s.resource_id: s for s in samples}


@pytest.fixture
def hypervisor():
    return fakes.Hypervisor()


@pytest.fixture
def host(conf, hypervisor):
    return state.HostState(conf, opener=hypervisor.opener)


@pytest.mark.parametrize('meter', RATIOS, ids=lambda m: m.name)
def test_steady_growth(host, hypervisor, meter):
    base = fakes.load('documented-all-perf-events.json')[0]
    uuid = base['uuid']
    got = []
    for cycle in range(4):
        entries = [_grown(base, cycle)]
        hypervisor.show(entries)
        got.append(_poll_ratio(host, meter.name, entries).get(uuid))
    assert got[0] is None                    # no baseline yet
    for sample in got[1:]:
        assert sample.volume == pytest.approx(STEADY[meter.name])
        assert (sample.name, sample.type, sample.unit) == (
            meter.name, 'gauge', meter.unit)


def _cycles_of(base, steps, hypervisor):
    """Apply table steps; yield the entries each poll sees."""
    stats = dict(base['stats'])
    domain_id = base['id']
    for step in steps:
        entry = dict(base, id=domain_id, stats=stats)
        if step == 'grow':
            stats = {k: v + GROWTH.get(k, 0) for k, v in stats.items()}
        elif step == 'idle':
            pass
        elif step == 'cycles only':
            stats = dict(stats, **{
                'perf.cpu_cycles': stats['perf.cpu_cycles'] + 10 ** 9})
        elif step == 'instructions only':
            stats = dict(stats, **{
                'perf.instructions': stats['perf.instructions'] + 10 ** 9})
        elif step in ('libvirtd restart', 'domain restart',
                      'unseen reset'):
            # Counters restart and count a little; for the libvirtd
            # restart they grow as usual first, so only the reconnect
            # can tell.
            stats = {k: (v + GROWTH.get(k, 0) if step == 'libvirtd restart'
                         else GROWTH.get(k, 0) // 10)
                     for k, v in stats.items()}
            domain_id += step == 'domain restart'
        elif step == 'not counted':
            stats = {k: v for k, v in stats.items()
                     if k != 'perf.instructions'}
        elif step == 'counted again':
            stats = dict(stats, **{'perf.instructions': 1000})
        elif step == 'gone':
            hypervisor.show([])
            yield []
            continue
        entry = dict(base, id=domain_id, stats=stats)
        if step == 'libvirtd restart':
            hypervisor.restart_libvirtd([entry])
        else:
            hypervisor.show([entry])
        yield [entry]


IPC = STEADY['perf.ipc']
# (steps between polls, perf.ipc of each poll after the first; None: no
# sample).  Each case starts with one poll of the documented record.
IPC_CASES = [
    ('steady', ['grow', 'grow'], [IPC, IPC]),
    ('idle interval: nothing to divide by', ['idle', 'grow'], [None, IPC]),
    ('stalled: cycles, no instructions', ['cycles only'], [0.0]),
    ('instructions without cycles: absurd', ['instructions only', 'grow'],
     [None, IPC]),
    ('libvirtd restart, counters grew anyway',
     ['libvirtd restart', 'grow'], [None, IPC]),
    ('domain restart (new id)', ['domain restart', 'grow'], [None, IPC]),
    ('reset seen only as counters going down', ['unseen reset', 'grow'],
     [None, IPC]),
    ('event disabled, then counted again',
     ['not counted', 'counted again', 'grow'], [None, None, IPC]),
    ('domain gone and back', ['gone', 'grow', 'grow'], [None, None, IPC]),
]


@pytest.mark.parametrize('steps,expected', [c[1:] for c in IPC_CASES],
                         ids=[c[0] for c in IPC_CASES])
def test_ipc_table(host, hypervisor, steps, expected):
    base = fakes.load('documented-all-perf-events.json')[0]
    hypervisor.show([base])
    assert _poll_ratio(host, 'perf.ipc', [base]) == {}
    got = []
    for entries in _cycles_of(base, steps, hypervisor):
        sample = _poll_ratio(host, 'perf.ipc', [base]).get(base['uuid'])
        got.append(None if sample is None else sample.volume)
        assert len(host.derived) <= len(entries)     # bounded
    assert [g is None for g in got] == [e is None for e in expected]
    for g, e in zip(got, expected, strict=True):
        if e is not None:
            assert g == pytest.approx(e)


def test_miss_ratio_above_one_is_not_reported(host, hypervisor):
    base = fakes.load('documented-all-perf-events.json')[0]
    hypervisor.show([base])
    _poll_ratio(host, 'perf.cache_miss_ratio', [base])
    later = dict(base, stats=dict(base['stats']))
    later['stats']['perf.cache_misses'] += 2000
    later['stats']['perf.cache_references'] += 1000
    hypervisor.show([later])
    assert _poll_ratio(host, 'perf.cache_miss_ratio', [base]) == {}


def test_missing_input_logged_once_per_event(host, hypervisor, caplog):
    entries = fakes.load('real-tcg-guests-perf-state.json')
    hypervisor.show(entries)
    with caplog.at_level(logging.WARNING, logger='ceilometer_perf'):
        for _ in range(3):
            for meter in RATIOS:
                assert _poll_ratio(host, meter.name, entries) == {}
    events = sorted(r.getMessage().split()[3] for r in caplog.records)
    # One line per missing event, each naming the first meter needing it.
    assert events == ['branch_misses', 'cache_misses', 'instructions']
    assert len(host.derived) == 0


def test_meters_keep_separate_baselines(host, hypervisor):
    """perf.ipc polled every cycle, perf.cache_miss_ratio every other."""
    base = fakes.load('documented-all-perf-events.json')[0]
    seen = {'perf.ipc': [], 'perf.cache_miss_ratio': []}
    for cycle in range(5):
        entries = [_grown(base, cycle)]
        hypervisor.show(entries)
        for name in seen:
            if name == 'perf.ipc' or cycle % 2 == 0:
                sample = _poll_ratio(host, name, entries).get(base['uuid'])
                seen[name].append(sample and sample.volume)
    assert seen['perf.ipc'][1:] == [pytest.approx(IPC)] * 4
    # Over two intervals: twice the growth, the same ratio.
    assert seen['perf.cache_miss_ratio'][1:] == [
        pytest.approx(STEADY['perf.cache_miss_ratio'])] * 2


# REAL: three TCG guests read four times 2 s apart; libvirtd restarted
# between the second and third read (tools/record_stats.py, see the
# record's source).  No PMU here, so a ratio row of two software clocks
# stands in for the hardware ones: the same code path.
CLOCKS = dataclasses.replace(catalogue.BY_NAME['perf.ipc'],
                             name='test.clock_ratio',
                             inputs=('perf.cpu_clock', 'perf.task_clock'))
ClockRatioPollster = type('ClockRatioPollster',
                          (pollsters.CataloguePollster,), {'meter': CLOCKS})


def _real_cycles(host, hypervisor, reconnect):
    cycles = fakes.load_cycles(RESTART)
    out = []
    for index, entries in enumerate(cycles):
        if index == 2 and reconnect:
            hypervisor.restart_libvirtd(entries)
        else:
            hypervisor.show(entries)
        pollster = ClockRatioPollster(host.conf)
        pollster.host = host
        samples = pollster.get_samples(None, {},
                                       fakes.instances_for(entries))
        out.append({s.resource_metadata['display_name']: s.volume
                    for s in samples})
    return cycles, out


@pytest.mark.parametrize('reconnect', [True, False],
                         ids=['as it happened', 'reconnect not seen'])
def test_real_libvirtd_restart(host, hypervisor, reconnect):
    cycles, got = _real_cycles(host, hypervisor, reconnect)
    names = [d['name'] for d in cycles[0]]
    # The recording is what we say it is: same ids, counters went down.
    for before, after in zip(cycles[1], cycles[2], strict=True):
        assert before['id'] == after['id']
        assert (after['stats']['perf.cpu_clock']
                < before['stats']['perf.cpu_clock'] / 10)
    assert got[0] == {}
    assert got[2] == {}                      # nothing across the restart
    for cycle in (1, 3):
        assert sorted(got[cycle]) == sorted(names)
        for name, value in got[cycle].items():
            before = {d['name']: d['stats'] for d in cycles[cycle - 1]}
            now = {d['name']: d['stats'] for d in cycles[cycle]}
            expected = ((now[name]['perf.cpu_clock']
                         - before[name]['perf.cpu_clock'])
                        / (now[name]['perf.task_clock']
                           - before[name]['perf.task_clock']))
            assert value == pytest.approx(expected)
            assert 0.9 < value <= 1.0


# cpu.time - vcpu.0.time of each guest in each read of the record.
REAL_OVERHEAD = {
    'cperf-pmu-on': [301560000, 307307000, 320709000, 326249000],
    'cperf-pmu-off': [279907000, 286053000, 288541000, 303783000],
    'cperf-pmu-unset': [299622000, 304991000, 316843000, 322675000],
}


def test_real_overhead_across_a_libvirtd_restart(host, hypervisor):
    cycles = fakes.load_cycles(RESTART)
    got = {name: [] for name in REAL_OVERHEAD}
    for index, entries in enumerate(cycles):
        if index == 2:
            hypervisor.restart_libvirtd(entries)
        else:
            hypervisor.show(entries)
        cls = pollsters.POLLSTERS['CpuOverheadPollster']
        pollster = cls(host.conf)
        pollster.host = host
        for s in pollster.get_samples(None, {},
                                      fakes.instances_for(entries)):
            assert (s.type, s.unit) == ('cumulative', 'ns')
            got[s.resource_metadata['display_name']].append(s.volume)
    # cpu.time and vCPU times live in the kernel, not in libvirtd: the
    # counter goes on through the restart.
    assert got == REAL_OVERHEAD


def test_overhead_skipped_read_keeps_the_counter_steady(host, hypervisor):
    entry = {'uuid': 'u-1', 'name': 'instance-1', 'id': 5, 'stats': {
        'cpu.time': 900 * TICK, 'vcpu.current': 1, 'vcpu.0.time': 400 * TICK}}
    cls = pollsters.POLLSTERS['CpuOverheadPollster']
    pollster = cls(host.conf)
    pollster.host = host
    instances = fakes.instances_for([entry])
    got = []
    # A read without the vCPU's time (NOWAIT, domain busy), then one whose
    # vCPU tick landed: the counter holds instead of stepping back.
    for cpu_time, vcpu_time in ((900, 400), (905, None), (906, 407)):
        stats = {'cpu.time': cpu_time * TICK, 'vcpu.current': 1}
        if vcpu_time is not None:
            stats['vcpu.0.time'] = vcpu_time * TICK
        hypervisor.show([dict(entry, stats=stats)])
        got.append([s.volume for s in pollster.get_samples(None, {},
                                                           instances)])
    assert got == [[500 * TICK], [], [500 * TICK]]
