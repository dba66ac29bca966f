"""One bulk libvirt stats read per polling cycle, shared by all pollsters.

The reader knows nothing about meters: it is asked for stats groups and
returns a snapshot of raw per-domain records, keyed by domain UUID.
"""

import dataclasses
import threading
import time

from oslo_log import log

try:
    import libvirt
except ImportError:  # pragma: no cover - libvirt-python is a dependency
    libvirt = None

LOG = log.getLogger(__name__)

CACHE_KEY = 'ceilometer_perf.snapshot'

# Ceilometer's own defaults (ceilometer.compute.virt.libvirt.utils).
_URI_BY_TYPE = {'parallels': 'parallels:///system', 'lxc': 'lxc:///'}

# libvirt stats group flags by catalogue group name (libvirt constants,
# spelled out so unit tests can run against a fake connection).
GROUP_FLAGS = {
    'state': 1 << 0,       # VIR_DOMAIN_STATS_STATE
    'cpu_total': 1 << 1,   # VIR_DOMAIN_STATS_CPU_TOTAL
    'vcpu': 1 << 3,        # VIR_DOMAIN_STATS_VCPU
    'perf': 1 << 6,        # VIR_DOMAIN_STATS_PERF
    'memory': 1 << 8,      # VIR_DOMAIN_STATS_MEMORY
}
# Groups whose collection talks to the QEMU monitor or walks cgroups: ~60x
# the cost of PERF, and they block on a hung QEMU even with NOWAIT.
SLOW_GROUPS = frozenset(('cpu_total', 'vcpu'))
LIST_ACTIVE = 1 << 0       # VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
NOWAIT = 1 << 29           # VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT (4.5)


class HypervisorUnavailable(Exception):
    """libvirt cannot be reached (down, wrong URI, no permission)."""


class StatsTimeout(Exception):
    """libvirt did not answer a bulk stats read within the deadline."""


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
    # BulkReader): {uuid: stats keys libvirt skipped for that domain};
    # None for a read that waited for every domain.
    stalled: dict = None
    _keys: set = dataclasses.field(default=None, repr=False)

    def get(self, uuid):
        return self.records.get(uuid)

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


class BulkReader:
    """Reads the stats groups a cycle needs with one getAllDomainStats.

    Pollsters of one polling task run in a thread pool in arbitrary order;
    the first one in does the read and the others reuse its snapshot from
    the per-cycle cache.  A pollster needing a group the snapshot lacks
    (only when the co-polled meters could not be known in advance) adds a
    read of just the missing groups.

    The lock is per cycle cache, that is per polling task: a task whose
    read waits on a hung QEMU (CPU_TOTAL, VCPU) holds up only itself, not
    the tasks of other intervals.

    A read of those slow groups runs in a worker thread and is waited for
    `timeout` seconds.  Past that, the read is left to finish on its own
    (it holds the hung domain's job), and a NOWAIT read, which skips what
    needs that domain's job, answers the cycle instead; its snapshot names
    the domains whose record lacks keys their last complete one had.
    While a stuck read is pending no other one is started, so hung QEMUs
    never pile up threads.  Reads of PERF, STATE and MEMORY never wait on
    a QEMU and run in the caller.
    """

    def __init__(self, connection, nowait=True, on_snapshot=None,
                 timeout=None):
        self.connection = connection
        self.nowait = nowait
        self.on_snapshot = on_snapshot
        self.timeout = timeout
        self._lock = threading.Lock()
        # Reads that outlived their deadline, by lane, until they end.
        self._pending = {}
        # {uuid: keys of its last complete slow read}, shared key sets.
        self._shapes = {}
        self.calls = 0
        # Snapshot times, the base of the rates computed between polls.
        self.clock = time.monotonic

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
                extra = self._read(groups - snap.groups)
                for uuid, record in snap.records.items():
                    other = extra.records.get(uuid)
                    if other is not None:
                        record.stats = {**record.stats, **other.stats}
                snap.groups = snap.groups | extra.groups
                snap.calls += 1
                snap._keys = None
                if extra.epoch != snap.epoch:
                    snap.epoch = None
            return snap

    def _read(self, groups):
        if not self.timeout or not groups & SLOW_GROUPS:
            return self._read_now(groups, self.nowait)
        try:
            snap = self._within_deadline(
                'slow', lambda: self._read_now(groups, self.nowait))
        except StatsTimeout:
            pass
        else:
            self._remember_shapes(snap)
            return snap
        # The stuck read holds the hung domain's job: NOWAIT skips it.
        snap = self._within_deadline(
            'slow-nowait', lambda: self._read_now(groups, True))
        snap.stalled = self._stalled_domains(snap)
        return snap

    def _within_deadline(self, lane, func):
        with self._lock:
            stuck = self._pending.get(lane)
            if stuck is not None and stuck.done:
                del self._pending[lane]
                stuck = None
        if stuck is not None:
            raise StatsTimeout(
                'libvirt at %s has not answered a stats read started %.0f s '
                'ago' % (self.connection.uri, stuck.age()))
        call = PendingCall(func)
        if call.wait(self.timeout):
            return call.outcome()
        with self._lock:
            self._pending[lane] = call
        raise StatsTimeout('libvirt at %s did not answer a stats read '
                           'within %s s' % (self.connection.uri,
                                            self.timeout))

    def _remember_shapes(self, snap):
        shapes, pool = {}, {}
        for uuid, record in snap.records.items():
            keys = frozenset(record.stats)
            shapes[uuid] = pool.setdefault(keys, keys)
        self._shapes = shapes

    def _stalled_domains(self, snap):
        """Domains whose record lacks keys of their last complete read.

        What NOWAIT skips for a domain whose job is held (libvirt 9:
        cpu.haltpoll.*, and the monitor's data) is the only sign of which
        domain the stuck read waits for that never blocks itself:
        virDomainGetControlInfo can wait on the same QEMU.
        """
        stalled = {}
        for uuid, record in snap.records.items():
            shape = self._shapes.get(uuid)
            if shape is not None:
                missing = shape.difference(record.stats)
                if missing:
                    stalled[uuid] = tuple(sorted(missing))
        return stalled

    def _read_now(self, groups, nowait):
        flags = 0
        for group in groups:
            flags |= GROUP_FLAGS[group]
        list_flags = LIST_ACTIVE | (NOWAIT if nowait else 0)
        result, epoch = self.connection.call(
            lambda conn: conn.getAllDomainStats(flags, list_flags),
            with_generation=True)
        with self._lock:
            self.calls += 1
        records = {}
        for domain, stats in result:
            record = DomainRecord(uuid=domain.UUIDString(),
                                  name=domain.name(),
                                  domain_id=domain.ID(),
                                  stats=stats, domain=domain)
            records[record.uuid] = record
        return Snapshot(records=records, groups=groups,
                        read_at=self.clock(), epoch=epoch)


class PendingCall:
    """A call run in a daemon thread, so that its caller can stop waiting.

    A libvirt call blocked on a hung QEMU cannot be cancelled; the thread
    ends when the QEMU (or libvirtd) answers or goes away.
    """

    def __init__(self, func):
        self.func = func
        self.started = time.monotonic()
        self._result = self._error = None
        self._done = threading.Event()
        threading.Thread(target=self._run, daemon=True,
                         name='ceilometer-perf-stats').start()

    def _run(self):
        try:
            self._result = self.func()
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()

    @property
    def done(self):
        return self._done.is_set()

    def age(self):
        return time.monotonic() - self.started

    def wait(self, timeout):
        return self._done.wait(timeout)

    def outcome(self):
        if self._error is not None:
            raise self._error
        return self._result
