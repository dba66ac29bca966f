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

"""Property tests: bytes/s from resctrl's cumulative byte counters.

A simulated domain moves real bytes through its memory controllers; the
plugin sees libvirt-style records of its counters, now and then restarted
(new domain id), reset in place (resctrl group recreated), wrapped at 2**64,
or cut short (a bank or node missing).  Whatever happens, a sample is
exactly the bytes really moved divided by the time between two complete
readings of the same boot, and there is no sample when that is not known.
"""

import math

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ceilometer_perf import stats
from ceilometer_perf import missing
from ceilometer_perf import rates
from ceilometer_perf.resctrl import monitors as resctrl

WRAP = 2 ** 64
KEY = ('memory.bandwidth.total', 'uuid-1')

dt = st.floats(min_value=0.5, max_value=900.0, allow_nan=False)
increments = st.lists(st.integers(0, 10 ** 11), min_size=3, max_size=3)
steps = st.lists(st.one_of(
    st.tuples(st.just('grow'), dt, increments),
    st.tuples(st.just('restart'), dt, increments),
    st.tuples(st.just('reset'), dt, st.floats(0, 0.99)),
    st.tuples(st.just('hide-bytes'), dt, increments, st.integers(0, 2)),
    st.tuples(st.just('hide-node'), dt, increments, st.integers(0, 2)),
    st.tuples(st.just('drop-node'), dt, increments, st.integers(0, 2)),
), max_size=40)
start = st.lists(st.one_of(st.integers(0, 10 ** 12),
                           st.integers(WRAP - 10 ** 11, WRAP - 1)),
                 min_size=3, max_size=3)


def record(counters, nodes, hide_bytes=None, hide_node=None):
    """libvirt's memory.bandwidth.monitor.* keys for one monitor."""
    p = 'memory.bandwidth.monitor.0.'
    stats = {'memory.bandwidth.monitor.count': 1, p + 'name': 'vcpus_0-1',
             p + 'vcpus': '0-1', p + 'node.count': len(nodes)}
    for index, node in enumerate(nodes):
        if index == hide_node:
            continue
        stats[p + 'node.%d.id' % index] = node
        if index != hide_bytes:
            stats[p + 'node.%d.bytes.total' % index] = counters[node]
    return stats


@settings(max_examples=300, deadline=None)
@given(start, steps)
def test_rates_are_true_bytes_over_time_or_nothing(initial, actions):
    values = resctrl.MonitorValues()
    counters = list(initial)
    domain_id, now = 1, 0.0
    # The oracle: what really happened since the last complete reading.
    baseline = None         # (time, domain id, node ids) of that reading
    moved = [0, 0, 0]       # bytes really moved per node since then
    broken = set()          # nodes whose counter wrapped or was reset

    def observe(nodes, **hide):
        nonlocal baseline, moved, broken
        value = values.value(stats.MBM_TOTAL,
                             record(counters, nodes, **hide),
                             domain_id, now, KEY)
        if hide:
            assert value.reason == missing.MONITOR_INCOMPLETE
            baseline = None
            return
        if (baseline is not None and baseline[1:] == (domain_id, nodes)
                and not broken & set(nodes)):
            expected = sum(moved[n] for n in nodes) / (now - baseline[0])
            volume, _metadata = value
            assert volume >= 0
            assert math.isclose(volume, expected, rel_tol=1e-9,
                                abs_tol=1e-6)
        else:
            assert value == resctrl.NO_BASELINE
        baseline, moved, broken = (now, domain_id, nodes), [0, 0, 0], set()

    def grow(incs):
        for node, inc in enumerate(incs):
            if counters[node] + inc >= WRAP:
                broken.add(node)
            counters[node] = (counters[node] + inc) % WRAP
            moved[node] += inc

    observe((0, 1, 2))
    for action in actions:
        kind, elapsed = action[0], action[1]
        now += elapsed
        if kind == 'grow':
            grow(action[2])
            observe((0, 1, 2))
        elif kind == 'restart':
            domain_id += 1
            counters[:] = action[2]
            observe((0, 1, 2))
        elif kind == 'reset':
            for node, old in enumerate(counters):
                counters[node] = int(old * action[2])
                if counters[node] < old:
                    broken.add(node)
            observe((0, 1, 2))
        elif kind == 'drop-node':
            # libvirt lists fewer nodes than before: a different layout.
            grow(action[2])
            observe(tuple(n for n in (0, 1, 2) if n != action[3]))
        else:
            grow(action[2])
            hide = 'hide_bytes' if kind == 'hide-bytes' else 'hide_node'
            observe((0, 1, 2), **{hide: action[3]})


@given(st.lists(st.tuples(st.sampled_from('abcdefgh'), st.booleans()),
                max_size=60))
def test_rate_state_holds_only_live_instances(events):
    tracker = rates.RateTracker()
    live = set()
    now = 0.0
    for uuid, alive in events:
        now += 1
        if alive:
            live.add(uuid)
            for meter in ('memory.bandwidth.total', 'memory.bandwidth.local'):
                tracker.update((meter, uuid),
                               rates.CounterReading(1, now, {('m', 0): 1}))
        else:
            live.discard(uuid)
        tracker.prune(live)
        assert len(tracker) <= 2 * len(live)


@given(st.dictionaries(st.tuples(st.text(max_size=3), st.integers(0, 3)),
                       st.integers(0, WRAP - 1), min_size=1, max_size=6),
       st.floats(min_value=-5, max_value=5, allow_nan=False))
def test_rates_between_never_negative_nor_backwards_in_time(counters,
                                                            elapsed):
    before = rates.CounterReading(7, 100.0, counters)
    after = rates.CounterReading(
        7, 100.0 + elapsed, {k: v // 2 for k, v in counters.items()})
    per_second = rates.rates_between(before, after)
    if per_second is not None:
        assert elapsed > 0
        assert all(r == 0 for r in per_second.values())
