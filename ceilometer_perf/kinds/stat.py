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

"""One key of the domain's bulk stats record, as is: the perf counters."""

from ceilometer_perf import catalogue
from ceilometer_perf import kinds
from ceilometer_perf import missing


class StatKind(kinds.Kind):
    """Most meters: perf.<event> of the record, or the event is off."""

    def __init__(self, meter, host):
        super().__init__(meter, host)
        self.key = meter.key
        self.not_counted = missing.Missing(missing.EVENT_NOT_COUNTED,
                                           meter.event)

    def value(self, record, instance, snap):
        value = record.stats.get(self.key)
        if value is None:
            return self.not_counted
        return value, None

    def samples(self, snap, instances, make):
        # The hot path (19 meters x 10,000 instances): no tuple per value.
        key, records = self.key, snap.records
        report, meter = self.host.reporter.missing, self.meter
        for instance in instances:
            record = records.get(instance.id)
            if record is None:
                continue
            value = record.stats.get(key)
            if value is None:
                report(self.not_counted, meter, instance)
                continue
            yield make(instance, value)


KINDS = {catalogue.KIND_STAT: StatKind}
