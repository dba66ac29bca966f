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

"""Cache occupancy and memory bandwidth from libvirt's resctrl monitors.

From Linux 4.14 on, cache and memory bandwidth monitoring (Intel RDT CMT and
MBM, AMD PQoS) is the resctrl filesystem's, not perf's.  libvirt reports the
``<monitor>`` elements of a domain's ``<cachetune>`` (4.10+) and
``<memorytune>`` (6.0+) in the bulk stats: ``cpu.cache.monitor.*`` in the
CPU_TOTAL group, ``memory.bandwidth.monitor.*`` in the MEMORY group.  This
module turns those keys into one value per instance, with a per-monitor
breakdown; it knows nothing about meters or libvirt connections.

Cache occupancy is a level (bytes in use now).  The bandwidth keys are
cumulative byte counters, so bytes/s is the difference between two polls of
the same domain boot; never across a reset.
"""

import dataclasses

from ceilometer_perf import missing
from ceilometer_perf.missing import Missing
from ceilometer_perf import rates as rate_rules
from ceilometer_perf.stats import QUANTITIES


class Incomplete(ValueError):
    """The record announces monitors, banks or nodes it does not carry."""


@dataclasses.dataclass(frozen=True)
class Monitor:
    """One <monitor> of a domain: its value on each cache bank or node."""
    name: str
    vcpus: str
    values: tuple           # ((bank or node id, value), ...)
    counted: bool = True    # False when a monitor over more vCPUs has it

    def total(self):
        return sum(value for _, value in self.values)


def parse_vcpus(text):
    """libvirt's vCPU list ('0-3,5') as a frozenset, or None."""
    if not text:
        return None
    vcpus = set()
    try:
        for part in text.split(','):
            first, _, last = part.strip().partition('-')
            vcpus.update(range(int(first), int(last or first) + 1))
    except ValueError:
        return None
    return frozenset(vcpus)


def _mark_nested(monitors):
    """Mark monitors another monitor of the domain already counts.

    A cachetune's default monitor (same vCPUs as its allocation) reads the
    allocation's resctrl group, whose counts include those of the group's
    other monitors (the kernel adds child monitoring groups in), so summing
    every monitor would count those vCPUs twice.
    """
    sets = [parse_vcpus(m.vcpus) for m in monitors]
    marked = []
    for i, (monitor, mine) in enumerate(zip(monitors, sets, strict=True)):
        nested = mine is not None and any(
            other is not None and (mine < other or (mine == other and j < i))
            for j, other in enumerate(sets) if j != i)
        marked.append(dataclasses.replace(monitor, counted=not nested))
    return tuple(marked)


def read_monitors(stats, feature):
    """The domain's monitors of one feature, as a tuple of Monitor.

    Empty when the domain has none (or the host's monitors lack this
    feature); raises Incomplete when the record is cut short.
    """
    quantity = QUANTITIES[feature]
    count = stats.get(quantity.key('count'))
    if not count:
        return ()
    monitors = []
    present = missing = 0
    for n in range(count):
        domains = stats.get(quantity.key(n, quantity.domain, 'count'))
        if domains is None:
            raise Incomplete('monitor %d of %d has no %s count'
                             % (n, count, quantity.domain))
        values = []
        for m in range(domains):
            domain_id = stats.get(quantity.key(n, quantity.domain, m, 'id'))
            value = stats.get(quantity.key(n, quantity.domain, m,
                                           quantity.field))
            if domain_id is None:
                raise Incomplete('monitor %d %s %d has no id'
                                 % (n, quantity.domain, m))
            if value is None:
                missing += 1
                continue
            present += 1
            values.append((domain_id, value))
        monitors.append(Monitor(
            name=stats.get(quantity.key(n, 'name')) or 'monitor%d' % n,
            vcpus=stats.get(quantity.key(n, 'vcpus')), values=tuple(values)))
    if not present:
        # libvirt reports only the features the host has (e.g. no
        # mbm_local_bytes): no monitor of this feature.
        return ()
    if missing:
        raise Incomplete('%d of %d %ss lack %s'
                         % (missing, missing + present, quantity.domain,
                            quantity.field))
    return _mark_nested(monitors)


def breakdown(monitors, unit_key, rates=None):
    """Resource metadata: each monitor with its banks or nodes."""
    out = []
    for monitor in monitors:
        values = monitor.values
        if rates is not None:
            values = [(d, rates[(monitor.name, d)]) for d, _ in values]
        domain = 'banks' if unit_key == 'bytes' else 'nodes'
        out.append({'name': monitor.name, 'vcpus': monitor.vcpus,
                    'counted': monitor.counted,
                    unit_key: sum(v for _, v in values),
                    domain: [{'id': d, unit_key: v} for d, v in values]})
    return out


NO_MONITOR = Missing(missing.NO_MONITOR)
NO_BASELINE = Missing(missing.NO_BASELINE)


class MonitorValues:
    """Per-instance values of the resctrl monitoring features."""

    def __init__(self):
        self.rates = rate_rules.RateTracker()

    def value(self, feature, stats, domain_id, read_at, key):
        """(volume, metadata) of feature for a domain's record, or Missing.

        key names the rate state: (meter name, instance uuid).
        """
        # A rate needs two complete readings in a row: a counter reset
        # hidden behind a poll without one would go unseen.
        try:
            monitors = read_monitors(stats, feature)
        except Incomplete as exc:
            self.rates.forget(key)
            return Missing(missing.MONITOR_INCOMPLETE, detail=str(exc))
        if not monitors:
            self.rates.forget(key)
            return NO_MONITOR
        counted = [m for m in monitors if m.counted]
        metadata = {'monitoring_source': 'resctrl'}
        if not QUANTITIES[feature].cumulative:
            metadata['resctrl_monitors'] = breakdown(monitors, 'bytes')
            return sum(m.total() for m in counted), metadata
        reading = rate_rules.CounterReading(domain_id, read_at, {
            (m.name, d): v for m in monitors for d, v in m.values})
        rates, elapsed = self.rates.update(key, reading)
        if rates is None:
            return NO_BASELINE
        metadata['resctrl_monitors'] = breakdown(monitors, 'bytes_per_second',
                                                 rates)
        metadata['rate_interval_seconds'] = round(elapsed, 3)
        volume = sum(rates[(m.name, d)] for m in counted for d, _ in m.values)
        return volume, metadata

    def prune(self, snapshot):
        self.rates.prune(set(snapshot.records))
