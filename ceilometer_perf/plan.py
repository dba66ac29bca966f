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

"""Which stats groups each polling task reads, and a polling.yaml check.

Ceilometer runs one polling task per interval and shares a cache across
it, so the first of our pollsters in reads the groups of all plugin
meters in the sources of the same interval: one libvirt call per task
and cycle, with only the groups that task's meters need.
"""

import fnmatch
import threading

from ceilometer_perf import catalogue
from ceilometer_perf import stats

POLLSTER_NAMESPACES = ('ceilometer.poll.compute', 'ceilometer.poll.central',
                       'ceilometer.poll.ipmi')
# Meter names an operator could mean as ours: same first component.
_OUR_STEMS = frozenset(m.name.split('.')[0] for m in catalogue.METERS)
_OUR_NAMES = [m.name for m in catalogue.METERS]


class TaskPlans:
    """Stats groups per (polling manager, meter), planned once."""

    def __init__(self, reporter, own_groups=False):
        self.reporter = reporter
        self.own_groups = own_groups
        self._plans = {}
        self._checked_managers = set()
        self._lock = threading.Lock()

    def groups_for(self, manager, meter):
        """Stats groups of every plugin meter polled with this one."""
        polling = getattr(manager, 'polling_manager', None)
        sources = getattr(polling, 'sources', None)
        if not sources:
            return frozenset(meter_groups(meter, self.own_groups))
        key = (id(polling), meter.name)
        groups = self._plans.get(key)
        if groups is not None:
            return groups
        with self._lock:
            if id(polling) not in self._checked_managers:
                self._checked_managers.add(id(polling))
                self._check_sources(manager, sources)
            groups = self._plans.get(key)
            if groups is None:
                groups = self._plans[key] = task_groups(
                    sources, meter, self.own_groups)
            return groups

    def _check_sources(self, manager, sources):
        """Say once what in polling.yaml matches none of the pollsters."""
        installed = {ext.name for ext in getattr(manager, 'extensions', ())}
        if not installed:
            return
        for problem in polling_problems(
                [(s.name, s.meters) for s in sources
                 if isinstance(getattr(s, 'meters', None), list)],
                installed):
            self.reporter.say('polling-definition', problem)


def meter_groups(meter, own_groups=False):
    """The stats groups a meter needs read.

    With our own resctrl groups (resctrl_manage_groups) the cache and
    bandwidth meters read sysfs, not libvirt's monitors: they need no
    group that waits on QEMU (CPU_TOTAL), so they fit the cheap task.
    """
    if own_groups and meter.kind == catalogue.KIND_MONITORED:
        return tuple(g for g in meter.groups if g not in stats.SLOW)
    return meter.groups


def task_groups(sources, meter, own_groups=False):
    """The groups of the plugin meters in the sources of meter's interval.

    sources: Ceilometer's polling sources (get_interval, support_meter).
    A cache or bandwidth meter never makes a task of cheap meters wait on
    QEMU: libvirt's <cachetune> monitors (CPU_TOTAL) are read only where
    the task reads CPU_TOTAL anyway or has no other meter; elsewhere the
    meter comes from the perf event or our own groups.
    """
    intervals = {s.get_interval() for s in sources
                 if s.support_meter(meter.name)}
    task = [meter]
    for source in sources:
        if source.get_interval() in intervals:
            task.extend(m for m in catalogue.METERS
                        if source.support_meter(m.name))
    others = [m for m in task if m.kind != catalogue.KIND_MONITORED]
    cheap = bool(others) and not any(set(m.groups) & stats.SLOW
                                     for m in others)
    groups = set()
    for m in task:
        groups.update(meter_groups(m, own_groups or cheap))
    return frozenset(groups)


def installed_pollsters():
    """Names of every pollster entry point installed in this Python."""
    from importlib import metadata
    return {ep.name for ns in POLLSTER_NAMESPACES
            for ep in metadata.entry_points(group=ns)}


def polling_problems(sources, installed):
    """Meters in polling sources that no pollster here provides.

    Ceilometer polls nothing for such a name and says nothing, so a typo
    in polling.yaml looks like a meter that never has samples.  Only names
    that could be meant as ours are judged (perf.*, cpu_l3_cache,
    memory.*, cpu.* and near misses of our names).
    sources: [(source name, [meter entries])].
    """
    # Only the near-miss suggestions need it, once per agent start.
    import difflib
    problems = []
    for source, entries in sources:
        for entry in entries or ():
            name = str(entry).lstrip('!')
            if name == '*' or (
                    name.split('.')[0] not in _OUR_STEMS
                    and not difflib.get_close_matches(name, _OUR_NAMES)):
                continue
            if any(c in name for c in '*?['):
                if not fnmatch.filter(installed, name):
                    problems.append(
                        "polling source '%s': pattern '%s' matches no "
                        'installed meter' % (source, entry))
                continue
            if name in installed:
                continue
            close = difflib.get_close_matches(name, installed, n=1)
            problems.append(
                "polling source '%s': no installed pollster provides meter "
                "'%s'%s; Ceilometer ignores it without a word"
                % (source, name,
                   " (did you mean '%s'?)" % close[0] if close else ''))
    return problems
