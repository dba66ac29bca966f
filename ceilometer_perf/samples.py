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

"""Samples as Ceilometer's compute pollsters make them, for less.

Ceilometer's make_sample_from_instance rebuilds the instance metadata for
every sample and asks libuuid for every sample id (a round trip to the
uuidd socket, or a failed attempt at one, per call).  With 27 meters per
instance those two were most of a polling cycle.  Here the metadata is
built by Ceilometer's own function once per instance, again only when the
instance changes, and copied into each sample; sample ids are version-1
UUIDs made in process, a block of timestamps per pollster and cycle.
tests/unit/test_samples.py checks the samples are the ones Ceilometer's
function makes.
"""

import random
import threading
import time
import uuid

from ceilometer.compute.pollsters import util
from ceilometer import sample as ceilometer_sample

CACHE_KEY = 'ceilometer_perf.instance_metadata'

# 100 ns intervals between 1582-10-15 (the UUID epoch) and 1970-01-01.
_UUID_EPOCH_OFFSET = 0x01b21dd213814000


class Uuid1Source:
    """RFC 4122 version-1 UUID strings, without a system call each.

    Like libuuid without uuidd: the host's node id, a random clock
    sequence (per process), and timestamps that never repeat within it.
    """

    def __init__(self, node=None, clock_seq=None):
        if node is None:
            node = uuid.getnode()
        if clock_seq is None:
            clock_seq = random.getrandbits(14)
        self._tail = '-%04x-%012x' % (0x8000 | clock_seq, node)
        self._last = 0
        self._lock = threading.Lock()
        # (timestamp >> 32, the rest of the string after time_low): it
        # changes every seven minutes, so only time_low is formatted.
        self._upper = (None, None)

    def __call__(self):
        return self.format(self.reserve(1))

    def reserve(self, count):
        """The first of count timestamps taken at once (one clock read,
        one lock): ids for a whole pollster's samples."""
        now = time.time_ns() // 100 + _UUID_EPOCH_OFFSET
        with self._lock:
            first = max(now, self._last + 1)
            self._last = first + count - 1
        return first

    def format(self, stamp):
        return '%08x%s' % (stamp & 0xffffffff, self.upper(stamp >> 32))

    def upper(self, high):
        """What follows time_low for timestamps with these high bits."""
        upper = self._upper
        if upper[0] != high:
            # time_mid, then version 1 and time_hi.
            upper = self._upper = (high, '-%04x-%04x%s' % (
                high & 0xffff, 0x1000 | high >> 16, self._tail))
        return upper[1]


new_sample_id = Uuid1Source()
_Sample = ceilometer_sample.Sample


class InstanceMetadata:
    """Ceilometer's instance metadata, built again only when it can differ.

    Discovery makes new instance objects every cycle, but their attributes
    rarely change, and building the metadata (about 10 us) cost as much
    per instance and polling task as making all of its samples.  An
    instance's metadata is reused while its attributes (a shallow copy of
    them is kept) compare equal to the new object's.
    """

    def __init__(self):
        self._entries = {}

    def get(self, conf, instance):
        attributes = getattr(instance, '__dict__', None)
        entry = self._entries.get(instance.id)
        if entry is not None and entry[0] == attributes:
            return entry[1]
        metadata = util._get_metadata_from_object(conf, instance)
        if attributes is not None:
            self._entries[instance.id] = (dict(attributes), metadata)
        return metadata

    def prune(self, live_ids):
        """Forget the instances not in live_ids (a set or a dict)."""
        for instance_id in [i for i in self._entries if i not in live_ids]:
            self._entries.pop(instance_id, None)

    def __len__(self):
        return len(self._entries)


class SampleMaker:
    """Makes the samples of one meter in one polling cycle.

    What util.make_sample_from_instance returns, for less: the instance
    metadata is built once per polling cycle and shared by every pollster
    of the polling task through its cache (two threads racing on an
    instance build the same dict twice, harmlessly); each sample gets its
    own copy.
    """

    def __init__(self, conf, cache, name, type, unit, monotonic_time=None,
                 expected=1, metadata=None):
        self.conf = conf
        # Across cycles (an InstanceMetadata), or None to build it anew.
        self._metadata = metadata
        # Sample id timestamps for the samples this maker expects to make,
        # formatted here up to time_low (until its high bits change).
        self._stamp = first = new_sample_id.reserve(expected)
        self._stamps_end = first + expected
        self._fast_end = min(self._stamps_end, ((first >> 32) + 1) << 32)
        self._upper = new_sample_id.upper(first >> 32)
        by_instance = cache.get(CACHE_KEY)
        if by_instance is None:
            by_instance = cache.setdefault(CACHE_KEY, {})
        self._by_instance = by_instance
        self.name, self.type, self.unit = name, type, unit
        self.monotonic_time = monotonic_time

    def __call__(self, instance, volume, additional_metadata=None):
        # The hot path: 10,000 instances x 27 meters per cycle.
        instance_id = instance.id
        base = self._by_instance.get(instance_id)
        if base is None:
            base = self._by_instance[instance_id] = (
                self._metadata.get(self.conf, instance) if self._metadata
                is not None else
                util._get_metadata_from_object(self.conf, instance))
        metadata = base.copy()
        if additional_metadata:
            metadata.update(additional_metadata)
        stamp = self._stamp
        if stamp < self._fast_end:
            self._stamp = stamp + 1
            sample_id = '%08x%s' % (stamp & 0xffffffff, self._upper)
        else:
            sample_id = self._next_id()
        # Sample(name, type, unit, volume, user_id, project_id,
        # resource_id, timestamp, resource_metadata, source, id,
        # monotonic_time), by position: keywords cost a third more.
        return _Sample(self.name, self.type, self.unit, volume,
                       instance.user_id, instance.tenant_id, instance_id,
                       None, metadata, None, sample_id, self.monotonic_time)

    def _next_id(self):
        stamp = self._stamp
        if stamp >= self._stamps_end:
            return new_sample_id()
        self._stamp = stamp + 1
        return new_sample_id.format(stamp)

    def ceilometer_way(self, instance, volume, additional_metadata=None):
        """The same sample, made by Ceilometer's own function for every
        sample: what the unit tests compare with, the benchmark's
        baseline."""
        return util.make_sample_from_instance(
            self.conf, instance, name=self.name, type=self.type,
            unit=self.unit, volume=volume,
            additional_metadata=additional_metadata,
            monotonic_time=self.monotonic_time)
