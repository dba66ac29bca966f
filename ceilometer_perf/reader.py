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

"""One bulk libvirt stats read per polling cycle, shared by all pollsters.

The reader knows nothing about meters: it is asked for stats groups and
returns a snapshot of raw per-domain records, keyed by domain UUID.
"""

import dataclasses
import threading
import time

from oslo_log import log

from ceilometer_perf import deadline
from ceilometer_perf import stats

try:
    import libvirt
except ImportError:  # pragma: no cover - libvirt-python is a dependency
    libvirt = None

LOG = log.getLogger(__name__)

CACHE_KEY = 'ceilometer_perf.snapshot'

# Ceilometer's own defaults (ceilometer.compute.virt.libvirt.utils).
_URI_BY_TYPE = {'parallels': 'parallels:///system', 'lxc': 'lxc:///'}

class HypervisorUnavailable(Exception):
    """libvirt cannot be reached (down, wrong URI, no permission)."""


def libvirt_uri(conf):
    """The URI Ceilometer's own compute agent uses."""
    return conf.libvirt_uri or _URI_BY_TYPE.get(conf.libvirt_type,
                                                'qemu:///system')


def _is_disconnect(exc):
    if libvirt is None or not isinstance(exc, libvirt.libvirtError):
        return False
    return (exc.get_error_domain() in (libvirt.VIR_FROM_REMOTE,
                                       libvirt.VIR_FROM_RPC)
            or exc.get_error_code() in (libvirt.VIR_ERR_INVALID_CONN,
                                        libvirt.VIR_ERR_NO_CONNECT))


class Connection:
    """A read-only libvirt connection that reopens itself when it breaks.

    After a libvirtd restart isAlive() may still say yes and the next call
    fails with a broken pipe, so every call is retried once on a fresh
    connection when it fails with a connection error.
    """

    def __init__(self, uri, opener=None):
        self.uri = uri
        self._opener = opener or (lambda uri: libvirt.openReadOnly(uri))
        self._conn = None
        self._lock = threading.Lock()
        self.opened = 0

    def _open(self):
        try:
            conn = self._opener(self.uri)
        except Exception as exc:
            raise HypervisorUnavailable(
                'cannot open a read-only libvirt connection to %s: %s'
                % (self.uri, _one_line(exc))) from exc
        if conn is None:
            raise HypervisorUnavailable(
                'cannot open a read-only libvirt connection to %s' % self.uri)
        self.opened += 1
        return conn

    def call(self, func, with_generation=False):
        """Run func(conn); reconnect and retry once if the link broke.

        with_generation: return (result, generation), where generation
        numbers the connection that answered (1 for the first opened).
        """
        with self._lock:
            if self._conn is None:
                self._conn = self._open()
            conn, generation = self._conn, self.opened
        try:
            result = func(conn)
        except Exception as exc:
            if not _is_disconnect(exc):
                raise
            LOG.info('libvirt connection to %s lost (%s); reconnecting',
                     self.uri, _one_line(exc))
            with self._lock:
                # Another thread may have reconnected already.
                if self._conn is conn or self._conn is None:
                    self._drop()
                    self._conn = self._open()
                conn, generation = self._conn, self.opened
            try:
                result = func(conn)
            except Exception as exc:
                if _is_disconnect(exc):
                    with self._lock:
                        if self._conn is conn:
                            self._drop()
                    raise HypervisorUnavailable(
                        'libvirt at %s went away: %s'
                        % (self.uri, _one_line(exc))) from exc
                raise
        if with_generation:
            return result, generation
        return result

    def _drop(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: S110 - already broken, nothing to save
                pass

    def close(self):
        with self._lock:
            self._drop()


def _one_line(exc):
    return ' '.join(str(exc).split())


@dataclasses.dataclass(slots=True)
class DomainRecord:
    """One running domain as the bulk read saw it.

    stats is the dict libvirt returned, never changed in place (a merge
    makes a new one).
    """
    uuid: str
    name: str
    domain_id: int
    stats: dict
    domain: object = None


@dataclasses.dataclass
class Snapshot:
    """What one polling cycle read, shared through Ceilometer's cache."""
    records: dict
    groups: frozenset
    read_at: float
    calls: int = 1
    # Generation of the libvirt connection the records came from (None if
    # they came from two): perf counters restart with libvirtd, which
    # always breaks the connection.
    epoch: int = None
    # Set when the read went on without waiting for a stuck one (see
    # deadline.DeadlineRead): {uuid: stats keys libvirt skipped for it};
    # None for a read that waited for every domain.
    stalled: dict = None
    _keys: set = dataclasses.field(default=None, repr=False)
    # What value kinds compute once per snapshot (our resctrl groups).
    extras: dict = dataclasses.field(default_factory=dict, repr=False)

    def get(self, uuid):
        return self.records.get(uuid)

    def merge(self, extra):
        """Add a read of more groups to this snapshot (a new dict per
        record: libvirt's are never changed in place)."""
        for uuid, record in self.records.items():
            other = extra.records.get(uuid)
            if other is not None:
                record.stats = {**record.stats, **other.stats}
        self.groups = self.groups | extra.groups
        self.calls += 1
        self._keys = None
        if extra.epoch != self.epoch:
            self.epoch = None

    def keys(self):
        """Every stats key some domain has: a meter whose key no domain
        has skips its per-instance loop (e.g. hardware events on a host
        without a PMU)."""
        keys = self._keys
        if keys is None:
            keys = set()
            for record in self.records.values():
                keys.update(record.stats)
            self._keys = keys
        return keys


class StatsSource:
    """The one libvirt call: getAllDomainStats of the running domains."""

    def __init__(self, connection, nowait=True):
        self.connection = connection
        self.nowait = nowait
        self.calls = 0
        self._lock = threading.Lock()
        # Snapshot times, the base of the rates computed between polls.
        self.clock = time.monotonic

    def read(self, groups, nowait=None):
        """A Snapshot of these groups; nowait overrides the setting."""
        if nowait is None:
            nowait = self.nowait
        list_flags = stats.LIST_ACTIVE | (stats.NOWAIT if nowait else 0)
        result, epoch = self.connection.call(
            lambda conn: conn.getAllDomainStats(stats.flags(groups),
                                                list_flags),
            with_generation=True)
        with self._lock:
            self.calls += 1
        records = {}
        for domain, domain_stats in result:
            record = DomainRecord(uuid=domain.UUIDString(),
                                  name=domain.name(),
                                  domain_id=domain.ID(),
                                  stats=domain_stats, domain=domain)
            records[record.uuid] = record
        return Snapshot(records=records, groups=frozenset(groups),
                        read_at=self.clock(), epoch=epoch)


class BulkReader:
    """One bulk stats read per polling task and cycle, shared.

    Pollsters of one polling task run in a thread pool in arbitrary order;
    the first one in does the read and the others reuse its snapshot from
    the per-cycle cache.  A pollster needing a group the snapshot lacks
    (only when the co-polled meters could not be known in advance) adds a
    read of just the missing groups.

    The lock is per cycle cache, that is per polling task: a task whose
    read waits on a hung QEMU (CPU_TOTAL, VCPU) holds up only itself, not
    the tasks of other intervals.  How a read of those slow groups is
    bounded in time is deadline.DeadlineRead's business.
    """

    def __init__(self, connection, nowait=True, on_snapshot=None,
                 timeout=None):
        self.connection = connection
        self.source = StatsSource(connection, nowait)
        self.deadline = deadline.DeadlineRead(self.source, timeout)
        self.on_snapshot = on_snapshot
        self._lock = threading.Lock()

    @property
    def nowait(self):
        return self.source.nowait

    @property
    def timeout(self):
        return self.deadline.timeout

    @property
    def calls(self):
        return self.source.calls

    def _cycle_lock(self, cache):
        with self._lock:
            return cache.setdefault(CACHE_KEY + '.lock', threading.Lock())

    def snapshot(self, cache, groups):
        groups = frozenset(groups)
        with self._cycle_lock(cache):
            snap = cache.get(CACHE_KEY)
            if snap is None:
                failed = cache.get(CACHE_KEY + '.error')
                if failed is not None:
                    # Already failed this cycle: don't hammer libvirt once
                    # per pollster.
                    raise failed
                try:
                    snap = self._read(groups)
                except Exception as exc:
                    cache[CACHE_KEY + '.error'] = exc
                    raise
                cache[CACHE_KEY] = snap
                if self.on_snapshot is not None:
                    self.on_snapshot(snap)
            elif not groups <= snap.groups:
                snap.merge(self._read(groups - snap.groups))
            return snap

    def _read(self, groups):
        return self.deadline.read(groups)
