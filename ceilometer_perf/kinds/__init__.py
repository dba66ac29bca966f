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

"""Value kinds: how a meter's value comes out of a domain's record.

Each catalogue row names its kind; each kind is a module here with one
class and one small interface:

    Kind(meter, host)       host gives the shared per-process state a
                            kind may need (host.derived, host.vpmu,
                            host.monitors) and host.reporter
    kind.value(record, instance, snap)
                            -> (volume, metadata or None), or a
                            missing.Missing saying why there is none
    kind.samples(snap, instances, make)
                            yields make(instance, volume, metadata) for
                            every instance with a value; reports the
                            Missing of the others (the base class does
                            it with value(); a kind may do it faster)
    kind.absent(key)        no domain of this cycle has a key the meter
                            needs (e.g. hardware events on a host without
                            a PMU): forget what depends on it

A kind knows nothing of libvirt connections or Ceilometer's polling: it
reads records and returns numbers.
"""

from ceilometer_perf.missing import Missing


class Kind:
    """The shared loop; subclasses implement value()."""

    def __init__(self, meter, host):
        self.meter = meter
        self.host = host

    def value(self, record, instance, snap):
        raise NotImplementedError

    def samples(self, snap, instances, make):
        records = snap.records
        value = self.value
        report = self.host.reporter.missing
        meter = self.meter
        for instance in instances:
            record = records.get(instance.id)
            if record is None:
                continue     # Shut off, or gone since discovery.
            result = value(record, instance, snap)
            if result.__class__ is Missing:
                report(result, meter, instance)
                continue
            yield make(instance, result[0], result[1])

    def absent(self, key):
        pass


def kind_classes():
    """{catalogue kind name: Kind class}."""
    from ceilometer_perf.kinds import derived
    from ceilometer_perf.kinds import monitored
    from ceilometer_perf.kinds import stat
    from ceilometer_perf.kinds import vpmu
    classes = {}
    for module in (stat, monitored, derived, vpmu):
        classes.update(module.KINDS)
    return classes
