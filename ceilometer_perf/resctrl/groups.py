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

"""Our per-instance resctrl monitoring groups: the tree and the counters.

Everything here reads, and reading resctrl needs no privilege (the
counter files are 0444): the agent scans the tree at ``resctrl_root``
once per polling cycle, finds the groups named ``ceilometer-perf-<uuid>``
(under the root's ``mon_groups`` and under each CTRL_MON group's) and
reads their counters.  Who creates and fills the groups is
ceilometer_perf/resctrl/reconcile.py's business.

Values: ``cpu_l3_cache`` is the sum of ``llc_occupancy`` over the
instance's groups and every ``mon_L3_XX`` (never ``mon_sub_L3_YY``: with
Sub-NUMA Clustering the kernel already sums those into their parent);
``memory.bandwidth.*`` are the per-second growth of ``mbm_*_bytes``
under the one rate rule (ceilometer_perf/rates.py).  A counter reading
``Unavailable``, ``Unassigned`` or ``Error`` costs that meter its value,
nothing else.
"""

import dataclasses
import os
import re
import time

from ceilometer_perf import missing
from ceilometer_perf.missing import Missing
from ceilometer_perf import rates as rate_rules
from ceilometer_perf.stats import QUANTITIES

PREFIX = 'ceilometer-perf-'
UUID = r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
UUID_RE = re.compile(UUID + r'\Z')
NAME_RE = re.compile(re.escape(PREFIX) + '(' + UUID + r')\Z')
# A CTRL_MON group's name: one path component the kernel accepted.
CTRL_NAME_RE = re.compile(r'[^/\x00\n]{1,255}\Z')
# Top-level entries of the root that are not CTRL_MON groups.
NOT_CTRL = frozenset(('info', 'mon_groups', 'mon_data', 'tasks', 'cpus',
                      'cpus_list', 'schemata', 'mode', 'size'))
MON_DATA_PREFIX = 'mon_L3_'
STATUS_WORDS = ('Unavailable', 'Unassigned', 'Error')
# Foreign groups an operator should know about (check).
FOREIGN_PATTERNS = (('pqos', re.compile(r'pqos-')),
                    ('cadvisor', re.compile(r'cadvisor-')),
                    ('COS', re.compile(r'COS\d')),
                    ('libvirt', re.compile(r'qemu-\d+-')))

SOURCE = 'resctrl-group'


def group_name(uuid):
    """ceilometer-perf-<uuid>; ValueError for anything but a uuid."""
    uuid = str(uuid).lower()
    if not UUID_RE.match(uuid):
        raise ValueError('not an instance uuid: %r' % uuid)
    return PREFIX + uuid


def uuid_of(name):
    """The instance uuid of one of our group names, else None."""
    match = NAME_RE.match(name)
    return match.group(1) if match else None


def mon_path(parent, name):
    """A MON group's path below the root: [parent/]mon_groups/name."""
    return (parent + '/' if parent else '') + 'mon_groups/' + name


def _read(path):
    with open(path) as f:
        return f.read()


def unusable(root):
    """Why the tree at root offers no L3 monitoring groups, or None.

    Decided from the tree, not from the mount's filesystem type.
    """
    if not os.path.isdir(root):
        return '%s does not exist' % root
    if not os.path.isdir(os.path.join(root, 'info', 'L3_MON')):
        return ('%s has no info/L3_MON (resctrl not mounted there, or no '
                'L3 monitoring on this host)' % root)
    if not os.path.isdir(os.path.join(root, 'mon_groups')):
        return '%s has no mon_groups directory' % root
    return None


@dataclasses.dataclass
class Tree:
    """The groups under a resctrl root at one moment."""
    root: str
    # CTRL_MON group names, '' for the default (root) group first.
    ctrl_groups: tuple = ('',)
    # {CTRL_MON name: (MON group names)}
    mon_groups: dict = dataclasses.field(default_factory=dict)
    num_rmids: int = None

    @property
    def used(self):
        """RMIDs the groups hold: every CTRL_MON and MON group."""
        return len(self.ctrl_groups) + sum(
            len(v) for v in self.mon_groups.values())

    def ours(self):
        """{uuid: [(parent, name)]} of our groups."""
        found = {}
        for parent in self.ctrl_groups:
            for name in self.mon_groups.get(parent, ()):
                uuid = uuid_of(name)
                if uuid is not None:
                    found.setdefault(uuid, []).append((parent, name))
        return found

    def foreign(self):
        """Paths of the groups that are not ours (the root excluded)."""
        out = [c for c in self.ctrl_groups if c]
        for parent in self.ctrl_groups:
            out.extend(mon_path(parent, n)
                       for n in self.mon_groups.get(parent, ())
                       if uuid_of(n) is None)
        return out

    def has(self, parent, name):
        return name in self.mon_groups.get(parent, ())


def scan(root):
    """The Tree at root; OSError when it cannot be listed."""
    ctrl = ['']
    for entry in sorted(os.listdir(root)):
        if entry in NOT_CTRL or entry.startswith('.'):
            continue
        if os.path.isdir(os.path.join(root, entry, 'mon_groups')):
            ctrl.append(entry)
    mons = {}
    for parent in ctrl:
        try:
            mons[parent] = tuple(sorted(os.listdir(
                os.path.join(root, parent, 'mon_groups'))))
        except FileNotFoundError:
            mons[parent] = ()      # removed while we looked
    try:
        text = _read(os.path.join(root, 'info', 'L3_MON',
                                  'num_rmids')).strip()
        num = int(text)
    except (OSError, ValueError):
        num = None
    return Tree(root=root, ctrl_groups=tuple(ctrl), mon_groups=mons,
                num_rmids=num)


class GroupGone(Exception):
    """A group disappeared between the scan and the read."""


def read_feature(root, paths, feature):
    """{(path, L3 domain): bytes or a status word} of one feature.

    paths: the group paths below root.  Raises GroupGone when a group
    (or its mon_data) is not there any more.
    """
    values = {}
    for path in paths:
        mon_data = os.path.join(root, path, 'mon_data')
        try:
            domains = [d for d in os.listdir(mon_data)
                       if d.startswith(MON_DATA_PREFIX)]
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise GroupGone(path) from exc
        for domain in domains:
            try:
                text = _read(os.path.join(mon_data, domain,
                                          feature)).strip()
            except FileNotFoundError:
                # The host does not monitor this feature (e.g. no
                # mbm_local_bytes), or the group went away.
                if not os.path.isdir(mon_data):
                    raise GroupGone(path) from None
                text = 'Unavailable'
            try:
                values[(path, domain)] = int(text)
            except ValueError:
                values[(path, domain)] = (text if text in STATUS_WORDS
                                          else 'Error')
    return values


def group_identity(root, paths):
    """What changes when a group is recreated: its directory's inode."""
    out = []
    for path in paths:
        try:
            out.append((path, os.stat(os.path.join(root, path)).st_ino))
        except OSError:
            out.append((path, None))
    return tuple(out)


@dataclasses.dataclass
class InstanceGroups:
    """One instance's groups this cycle, or why it has none."""
    paths: tuple = ()
    threads: int = None
    reason: str = None
    detail: str = ''


class GroupValues:
    """Per-instance values of our groups, with the rate state."""

    def __init__(self, root):
        self.root = root
        self.rates = rate_rules.RateTracker()

    def value(self, feature, groups, domain_id, key):
        """(volume, metadata) or Missing for one instance and feature.

        groups: its InstanceGroups; key names the rate state (meter name,
        instance uuid).
        """
        if not groups.paths:
            self.rates.forget(key)
            return Missing(groups.reason or missing.NO_MONITOR,
                           detail=groups.detail)
        identity = group_identity(self.root, groups.paths)
        try:
            values = read_feature(self.root, groups.paths, feature)
        except GroupGone as exc:
            self.rates.forget(key)
            return Missing(missing.RESCTRL_GROUP_GONE, detail=str(exc))
        words = sorted({v for v in values.values() if isinstance(v, str)})
        if words or not values:
            self.rates.forget(key)
            return Missing(missing.RESCTRL_VALUE_UNAVAILABLE,
                           detail='/'.join(words) or 'no mon_L3_* domain')
        metadata = {'monitoring_source': SOURCE,
                    'resctrl_groups': list(groups.paths),
                    'resctrl_domains': len(values)}
        if groups.threads is not None:
            metadata['monitored_threads'] = groups.threads
        if not QUANTITIES[feature].cumulative:
            return sum(values.values()), metadata
        reading = rate_rules.CounterReading(
            (domain_id, identity), time.monotonic(), values)
        rates, elapsed = self.rates.update(key, reading)
        if rates is None:
            return Missing(missing.NO_BASELINE)
        metadata['rate_interval_seconds'] = round(elapsed, 3)
        return sum(rates.values()), metadata

    def prune(self, live_uuids):
        self.rates.prune(live_uuids)


def _has_libvirt_monitors(record_stats):
    """libvirt already monitors the domain (<cachetune>/<memorytune>
    <monitor>s): it keeps that path and gets no group of ours."""
    return any(record_stats.get(q.key('count'))
               for q in QUANTITIES.values())


class GroupSource:
    """The agent's side of our groups, once per polling snapshot.

    prepare() runs the reconcile (when we manage the groups and can
    write) and returns {uuid: InstanceGroups}; value() reads one meter's
    counters for one instance.  Host-wide problems are logged once
    through the reporter; per-instance ones become the Missing reasons.
    """

    RETRY_SECONDS = 600      # a privsep daemon that failed to start

    def __init__(self, settings, reporter, method=None, clock=time.monotonic):
        import threading
        self.root = settings['resctrl_root']
        self.manage = settings['resctrl_manage_groups']
        self.threads = settings['resctrl_threads']
        self.reserve = settings['resctrl_rmid_reserve']
        self.reporter = reporter
        self.values = GroupValues(self.root)
        self.monitored = set()
        self.last = None          # the last reconcile result
        self.view = {}            # the last {uuid: InstanceGroups}
        self._method = method
        self._runner = None
        self._failed_at = None
        self._clock = clock
        self._lock = threading.Lock()

    def _run(self):
        """The reconcile callable, or None when this process cannot."""
        if self._runner is None:
            from ceilometer_perf.resctrl import privileged
            method = self._method or privileged.how()
            self._method = method
            self._runner = privileged.runner(method) or False
        if self._failed_at is not None:
            if self._clock() - self._failed_at < self.RETRY_SECONDS:
                return None
            self._failed_at = None
        return self._runner or None

    def prepare(self, snap, instances):
        """{uuid: InstanceGroups} of this snapshot, reconciled once."""
        view = snap.extras.get('resctrl')
        if view is not None:
            return view
        with self._lock:
            view = snap.extras.get('resctrl')
            if view is None:
                try:
                    view = self._cycle(snap, instances)
                except Exception as exc:
                    # Never the polling agent's problem: say it once,
                    # these meters have no group values this cycle.
                    self.reporter.say('resctrl-error', '%s: %s' % (
                        exc.__class__.__name__, ' '.join(str(exc).split())))
                    view = {}
                snap.extras['resctrl'] = view
            return view

    def _cycle(self, snap, instances):
        notices = self.reporter.notices
        problem = unusable(self.root)
        if problem is not None:
            if self.manage:
                self.reporter.say('resctrl-unusable', problem)
            self.monitored.clear()
            return {}
        notices.clear('resctrl-unusable')
        run = self._run() if self.manage else None
        if run is not None:
            view = self._reconcile(run, snap, instances)
            if view is not None:
                self.view = view
                return view
        view = self.view = self._read_only()
        if self.manage and run is None and self._failed_at is None:
            # A container's PID namespace (kolla): the groups are the
            # companion's (ceilometer-perf resctrl-sync) to keep.
            from ceilometer_perf.resctrl import privileged
            self._cannot_write(
                'not in the host\'s PID namespace'
                if not privileged.in_host_pid_namespace() else
                'not root, and operator commands start no privsep daemon',
                view)
        return view

    def _cannot_write(self, why, view):
        if view:
            self.reporter.say('resctrl-companion', why)
        else:
            self.reporter.say('resctrl-no-privilege', why)

    def _read_only(self):
        try:
            tree = scan(self.root)
        except OSError:
            return {}
        return {uuid: InstanceGroups(paths=tuple(mon_path(*w)
                                                 for w in where))
                for uuid, where in tree.ours().items()}

    def _reconcile(self, run, snap, instances):
        records = snap.records
        request = {
            'root': self.root, 'threads': self.threads,
            'reserve': self.reserve, 'monitored': sorted(self.monitored),
            'instances': [
                (r.uuid, r.name, _has_libvirt_monitors(r.stats))
                for r in (records.get(i.id) for i in instances)
                if r is not None]}
        try:
            result = run(request)
        except Exception as exc:     # privsep daemon did not start, ...
            self._failed_at = self._clock()
            self._cannot_write(' '.join(str(exc).split()) or repr(exc),
                               self._read_only())
            return None
        self.last = result
        problem = result.get('problem')
        if problem == 'no-privilege':
            self._failed_at = self._clock()
            self._cannot_write(result['detail'], self._read_only())
            return None
        if problem == 'locked':
            self.reporter.say('resctrl-locked', result['detail'])
            return None
        if problem == 'unusable':
            self.reporter.say('resctrl-unusable', result['detail'])
            self.monitored.clear()
            return {}
        vanished = result.get('vanished') or ()
        if vanished:
            self.reporter.say('resctrl-vanished', len(vanished),
                              ', '.join(vanished[:3]) +
                              (', ...' if len(vanished) > 3 else ''))
        view = {}
        for uuid, paths in result['groups'].items():
            view[uuid] = InstanceGroups(
                paths=tuple(paths), threads=result['threads'].get(uuid))
        for uuid, (reason, detail) in result['reasons'].items():
            if uuid not in view:
                view[uuid] = InstanceGroups(reason=reason, detail=detail)
        running = {item[0] for item in request['instances']}
        self.monitored = set(result['groups']) | (self.monitored & running)
        return view

    def value(self, meter, record, snap):
        """(volume, metadata) or Missing of a meter for one instance."""
        view = snap.extras.get('resctrl') or {}
        groups = view.get(record.uuid)
        if groups is None:
            return Missing(missing.NO_MONITOR)
        return self.values.value(meter.fallback, groups, record.domain_id,
                                 (meter.name, record.uuid))

    def prune(self, live_uuids):
        self.values.prune(live_uuids)
