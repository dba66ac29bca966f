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

"""Meters computed from raw counters, and the counter resets they must see.

Ratios (IPC, miss ratios) are taken over the last polling interval, from
how much two counters grew since the previous reading of the same domain.
Counters restart from zero when libvirtd restarts (the domain id stays
the same), when the domain restarts or migrates (a new domain id), and
when an event is enabled again.  A ratio across such a reset is
meaningless, so a reading is only compared with the previous one when
nothing can have reset in between; otherwise it becomes the new baseline
and no value is emitted.

The arithmetic knows nothing of libvirt or Ceilometer: readings in,
numbers out; the two kind classes at the end apply it to domain records.
"""

import functools
import re
import threading
import typing

from ceilometer_perf import catalogue
from ceilometer_perf import kinds
from ceilometer_perf import missing
from ceilometer_perf.missing import Missing
from ceilometer_perf.stats import event_of

# vcpu.N.time comes from /proc/<pid>/task/<tid>/stat, counted in USER_HZ
# ticks (10 ms), while cpu.time is finer: the difference jitters by up to
# one tick per vCPU.
VCPU_TICK_NS = 10_000_000

_VCPU_TIME_KEY = re.compile(r'vcpu\.\d+\.time$')

# Why a reading could not be compared with the previous one.
RESET_DOMAIN = 'domain restarted'        # new domain id
RESET_LIBVIRT = 'libvirt reconnected'    # libvirtd restarted, or may have
RESET_COUNTER = 'counter went down'      # reset not seen any other way


class Reading(typing.NamedTuple):
    """Counters of one domain at one bulk read.

    epoch is the libvirt connection generation of the read (None when not
    known): perf counters restart with libvirtd, which always breaks the
    connection, so readings from different connections never pair up.
    (A named tuple: one per instance and ratio meter every cycle.)
    """
    domain_id: int
    epoch: object
    counters: tuple


def reset_between(previous, current):
    """Why the two readings cannot be compared, or None if they can."""
    if previous.domain_id != current.domain_id:
        return RESET_DOMAIN
    if previous.epoch is None or previous.epoch != current.epoch:
        return RESET_LIBVIRT
    for before, now in zip(previous.counters, current.counters, strict=True):
        if now < before:
            return RESET_COUNTER
    return None


def ratio(numerator, denominator, ceiling):
    """numerator / denominator if it is a believable value, else None.

    No value for an idle interval (nothing to divide by), for a negative
    growth, or above the ceiling the hardware allows: such a value only
    comes from counters that did not count the same window.
    """
    if denominator <= 0 or numerator < 0:
        return None
    value = numerator / denominator
    if value > ceiling:
        return None
    return value


class DerivedState:
    """What the previous poll saw, per (meter, domain uuid).

    Keyed per meter, so meters polled at different intervals (different
    polling tasks) never share a baseline.  Bounded: prune() drops every
    domain absent from the latest bulk read.
    """

    def __init__(self):
        self._entries = {}
        self._lock = threading.Lock()

    def swap(self, meter_name, uuid, entry):
        """Store entry; return the one it replaces (or None)."""
        with self._lock:
            previous = self._entries.get((meter_name, uuid))
            self._entries[(meter_name, uuid)] = entry
        return previous

    def update(self, meter_name, uuid, step):
        """Replace the entry with step(entry or None), atomically."""
        with self._lock:
            entry = step(self._entries.get((meter_name, uuid)))
            self._entries[(meter_name, uuid)] = entry
        return entry

    def forget(self, meter_name, uuid):
        with self._lock:
            self._entries.pop((meter_name, uuid), None)

    def forget_meter(self, meter_name):
        """Forget every domain's entry of one meter."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == meter_name]:
                del self._entries[key]

    def prune(self, live_uuids):
        live_uuids = set(live_uuids)
        with self._lock:
            for key in [k for k in self._entries if k[1] not in live_uuids]:
                del self._entries[key]

    def __len__(self):
        with self._lock:
            return len(self._entries)


def interval_ratio(state, meter_name, uuid, reading, ceiling):
    """Ratio of the two counters' growth since the previous reading.

    reading.counters is (numerator, denominator).  Returns (value, reset):
    value is None on the first reading, across a reset (reset says which)
    and when the ratio is not believable.
    """
    previous = state.swap(meter_name, uuid, reading)
    if previous is None:
        return None, None
    reset = reset_between(previous, reading)
    if reset is not None:
        return None, reset
    numerator = reading.counters[0] - previous.counters[0]
    denominator = reading.counters[1] - previous.counters[1]
    return ratio(numerator, denominator, ceiling), None


def vcpu_overhead(stats):
    """(cpu.time - sum of vcpu.N.time, vCPU count, cpu.time) or None.

    None unless the record has cpu.time and the time of every vCPU it
    counts: a missing vCPU would pass its time off as overhead.
    """
    cpu_time = stats.get('cpu.time')
    vcpus = stats.get('vcpu.current')
    if cpu_time is None or vcpus is None:
        return None
    maximum = stats.get('vcpu.maximum')
    if maximum is not None:
        # vCPUs are numbered below the maximum, online or not: a few
        # lookups instead of matching every key of the record.
        vcpu_times = [v for v in map(stats.get, _vcpu_time_keys(maximum))
                      if v is not None]
    else:
        vcpu_times = [v for k, v in stats.items()
                      if _VCPU_TIME_KEY.match(k)]
    if len(vcpu_times) != vcpus:
        return None
    return cpu_time - sum(vcpu_times), vcpus, cpu_time


@functools.lru_cache(maxsize=64)
def _vcpu_time_keys(maximum):
    return tuple('vcpu.%d.time' % i for i in range(maximum))


class _Emitted(typing.NamedTuple):
    domain_id: int
    value: int


def steady_overhead(state, meter_name, uuid, domain_id, overhead):
    """cpu.overhead as a counter: never negative, never backwards in a boot.

    overhead is what vcpu_overhead() returned.  The vCPU tick jitter can
    make the difference dip below the previous value or below zero by up
    to a tick per vCPU; such dips report the previous value (or 0).  A
    larger drop within the same domain id means the counter restarted,
    and the new value is reported as is; a value far below zero means the
    record is inconsistent and none is reported.
    """
    raw, vcpus, cpu_time = overhead
    jitter = VCPU_TICK_NS * (vcpus + 1)
    if raw < -jitter:
        state.forget(meter_name, uuid)
        return None
    value = min(max(raw, 0), cpu_time)

    def step(previous):
        if (previous is not None and previous.domain_id == domain_id
                and value < previous.value <= value + jitter):
            return _Emitted(domain_id, min(previous.value, cpu_time))
        return _Emitted(domain_id, value)
    return state.update(meter_name, uuid, step).value


class RatioKind(kinds.Kind):
    """Growth of one counter over another's since the previous poll."""

    def value(self, record, instance, snap):
        meter, stats = self.meter, record.stats
        counters = tuple([stats.get(key) for key in meter.inputs])
        if None in counters:
            self.host.derived.forget(meter.name, record.uuid)
            return Missing(missing.EVENT_NOT_COUNTED, event_of(
                meter.inputs[counters.index(None)]))
        reading = Reading(record.domain_id, snap.epoch, counters)
        value, reset = interval_ratio(self.host.derived, meter.name,
                                      record.uuid, reading, meter.ceiling)
        if value is not None:
            return value, None
        if reset is not None:
            return Missing(missing.COUNTER_RESET, detail=reset)
        return NOT_BELIEVABLE

    def absent(self, key):
        # No domain counts an input: no baseline of this meter survives.
        self.host.derived.forget_meter(self.meter.name)


class OverheadKind(kinds.Kind):
    """cpu.overhead: the domain's CPU time outside its vCPU threads."""

    def value(self, record, instance, snap):
        overhead = vcpu_overhead(record.stats)
        if overhead is None:
            # The bulk read skipped the domain's CPU stats (NOWAIT, busy).
            # Keep the last value: the counter must not step back.
            return CPU_STATS_SKIPPED
        value = steady_overhead(self.host.derived, self.meter.name,
                                record.uuid, record.domain_id, overhead)
        if value is None:
            return Missing(missing.CPU_TIME_INCONSISTENT,
                           detail='%d' % overhead[0])
        return value, None


NOT_BELIEVABLE = Missing(missing.NOT_BELIEVABLE)
CPU_STATS_SKIPPED = Missing(missing.CPU_STATS_SKIPPED)

KINDS = {catalogue.KIND_RATIO: RatioKind,
         catalogue.KIND_OVERHEAD: OverheadKind}
