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

"""Cumulative counters turned into per-second rates between two polls.

One rule for the whole product (the resctrl bandwidth meters and the
rates `ceilometer-perf poll` prints): a rate needs two readings of the
same domain boot, taken in order, with the same counters, none of which
went down.  Anything else is a reset, and the newer reading becomes the
baseline.
"""

import dataclasses
import threading


@dataclasses.dataclass(frozen=True)
class CounterReading:
    """Cumulative counters of one domain boot at one poll."""
    domain_id: object
    read_at: float
    counters: dict          # {counter name: value}


def rates_between(previous, current):
    """Per-second rate per counter between two readings, or None.

    None on the first poll and across anything that looks like a reset: a
    new domain id (restart, migration), a different set of counters, or a
    counter going down (a 64-bit byte counter does not wrap in practice:
    ~6 years at 100 GB/s).
    """
    if previous is None or previous.domain_id != current.domain_id:
        return None
    if previous.counters.keys() != current.counters.keys():
        return None
    elapsed = current.read_at - previous.read_at
    if elapsed <= 0:
        return None
    rates = {}
    for key, value in current.counters.items():
        delta = value - previous.counters[key]
        if delta < 0:
            return None
        rates[key] = delta / elapsed
    return rates


class RateTracker:
    """The last reading per key, to turn counters into rates.

    Keys are tuples whose second item is the instance uuid, so prune()
    can drop the instances no longer running.
    """

    def __init__(self):
        self._last = {}
        self._lock = threading.Lock()

    def update(self, key, reading):
        """(rates, seconds) since the previous reading, or (None, None)."""
        with self._lock:
            previous = self._last.get(key)
            self._last[key] = reading
        rates = rates_between(previous, reading)
        if rates is None:
            return None, None
        return rates, reading.read_at - previous.read_at

    def forget(self, key):
        with self._lock:
            self._last.pop(key, None)

    def prune(self, live_uuids):
        with self._lock:
            for key in [k for k in self._last if k[1] not in live_uuids]:
                del self._last[key]

    def __len__(self):
        return len(self._last)
