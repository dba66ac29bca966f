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

"""Cache occupancy and memory bandwidth: a perf RDT event, else resctrl.

The perf cmt/mbmt/mbml events exist only on kernels before 4.14; from
then on the same hardware is read through resctrl, which libvirt reports
as the monitors of the domain's <cachetune>/<memorytune>
(ceilometer_perf/resctrl/monitors.py), or as the counters of the
monitoring group ceilometer-perf keeps for the instance itself
(ceilometer_perf/resctrl/groups.py, reconciled once per snapshot before
the first read).  Per instance, the first the record has in that order;
metadata `monitoring_source` says which (perf, resctrl, resctrl-group).
"""

from ceilometer_perf import catalogue
from ceilometer_perf import kinds
from ceilometer_perf.missing import Missing
from ceilometer_perf.missing import NO_MONITOR

# Sample metadata of a value read from the perf event (each sample gets a
# copy: the sample maker merges it into its own dict).
FROM_PERF = {'monitoring_source': 'perf'}


class MonitoredKind(kinds.Kind):

    def value(self, record, instance, snap):
        meter = self.meter
        value = record.stats.get(meter.key)
        if value is not None:
            return value, FROM_PERF
        result = self.host.monitors.value(
            meter.fallback, record.stats, record.domain_id, snap.read_at,
            (meter.name, record.uuid))
        if result.__class__ is Missing and result.reason == NO_MONITOR:
            return self.host.groups.value(meter, record, snap)
        return result

    def samples(self, snap, instances, make):
        # Our groups follow the running instances before anything is read.
        self.host.groups.prepare(snap, instances)
        return super().samples(snap, instances, make)


KINDS = {catalogue.KIND_MONITORED: MonitoredKind}
