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

"""Per-process state shared by every pollster of the plugin: wiring only.

One HostState per agent configuration: the options, the read-only libvirt
connection and the bulk reader, the caches the value kinds keep (vPMU per
domain boot, resctrl rates, derived baselines, instance metadata), the
polling plan, the stall watch and the reporter of operator hints.  The
logic lives in the modules wired here.
"""

import threading

from oslo_log import log

from ceilometer_perf import catalogue
from ceilometer_perf import deadline
from ceilometer_perf import hints
from ceilometer_perf import kinds
from ceilometer_perf import notices
from ceilometer_perf import opts
from ceilometer_perf import plan
from ceilometer_perf import reader
from ceilometer_perf import samples
from ceilometer_perf.kinds import derived
from ceilometer_perf.kinds import vpmu
from ceilometer_perf.resctrl import groups as resctrl_groups
from ceilometer_perf.resctrl import host as resctrl_host
from ceilometer_perf.resctrl import monitors as resctrl_monitors

LOG = log.getLogger('ceilometer_perf')


def _monitored_meters():
    return ', '.join(m.name for m in catalogue.METERS
                     if m.kind == catalogue.KIND_MONITORED)


class HostState:
    """Everything our pollsters share in one agent process."""

    def __init__(self, conf, opener=None):
        self.conf = conf
        self.notices = notices.Notices(LOG)
        self.reporter = hints.Reporter(self.notices, LOG, lazy_fields={
            'host_resctrl': lambda: resctrl_host.host_support().summary(),
            'monitored_meters': _monitored_meters,
        })
        settings, problems = opts.read(conf)
        for problem in problems:
            self.reporter.say('bad-config', problem)
        self.connection = reader.Connection(reader.libvirt_uri(conf), opener)
        self.reader = reader.BulkReader(
            self.connection, nowait=settings['stats_nowait'],
            timeout=settings['stats_timeout'], on_snapshot=self._after_read)
        self.plans = plan.TaskPlans(
            self.reporter, own_groups=settings['resctrl_manage_groups'])
        self.stalls = deadline.StallWatch(self.reporter,
                                          settings['stats_timeout'])
        self.vpmu = vpmu.VpmuCache()
        self.monitors = resctrl_monitors.MonitorValues()
        self.groups = resctrl_groups.GroupSource(settings, self.reporter)
        self.derived = derived.DerivedState()
        self.metadata = samples.InstanceMetadata()
        self._kind_classes = kinds.kind_classes()
        self._kinds = {}
        self._pruned_for = None

    @property
    def stalled(self):
        return self.stalls.stalled

    def kind(self, meter):
        """The value kind object of a catalogue meter (one per meter)."""
        kind = self._kinds.get(meter.name)
        if kind is None:
            kind = self._kinds.setdefault(
                meter.name, self._kind_classes[meter.kind](meter, self))
        return kind

    def groups_for(self, manager, meter):
        return self.plans.groups_for(manager, meter)

    def snapshot(self, cache, groups):
        """This cycle's snapshot, or None (with one log line) on failure."""
        say = self.reporter.say
        try:
            snap = self.reader.snapshot(cache, groups)
        except reader.HypervisorUnavailable as exc:
            say('unavailable', exc)
            return None
        except Exception as exc:
            say('read-error', exc)
            return None
        if self.notices.clear('unavailable'):
            say('reachable-again', self.connection.uri)
        self.notices.clear('read-error')
        return snap

    def _after_read(self, snap):
        # Every read lists all running domains: forget the others, unless
        # the same boots of the same domains were read last time (the
        # three tasks read in turn; 30 ms at 10,000 domains).
        boots = {uuid: r.domain_id for uuid, r in snap.records.items()}
        if boots != self._pruned_for:
            self._pruned_for = boots
            self.vpmu.prune(snap)
            self.monitors.prune(snap)
            self.groups.prune(set(snap.records))
            self.derived.prune(snap.records)
            self.metadata.prune(snap.records)
        self.stalls.observe(snap)


_HOST_STATES = {}
_HOST_STATES_LOCK = threading.Lock()


def host_state(conf):
    """The HostState of this configuration, made on first use."""
    with _HOST_STATES_LOCK:
        entry = _HOST_STATES.get(id(conf))
        if entry is None or entry[0] is not conf:
            entry = (conf, HostState(conf))
            _HOST_STATES[id(conf)] = entry
        return entry[1]
