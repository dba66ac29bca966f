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

"""Ceilometer pollsters, one class per catalogue row.

The classes are generated from the catalogue: the entry point name is the
meter name and the class only carries its Meter.  Each cycle a pollster
takes the polling task's one bulk read (ceilometer_perf/reader.py), hands
the records to its meter's value kind (ceilometer_perf/kinds/) and turns
the values into Ceilometer samples (ceilometer_perf/samples.py).  What
they share lives in one HostState per agent (ceilometer_perf/state.py).
"""

from ceilometer.polling import plugin_base
from oslo_log import log

from ceilometer_perf import catalogue
from ceilometer_perf import missing
from ceilometer_perf import samples
from ceilometer_perf import state
from ceilometer_perf import stats

LOG = log.getLogger(__name__)


class CataloguePollster(plugin_base.PollsterBase):
    """A pollster for one catalogue row; subclasses only set `meter`."""

    meter = None

    @property
    def default_discovery(self):
        return 'local_instances'

    def setup_environment(self):
        super().setup_environment()
        self.host = state.host_state(self.conf)

    def get_samples(self, manager, cache, resources):
        """Samples of this meter for the discovered instances.

        A generator, like Ceilometer's own compute pollsters: the agent
        publishes each sample as it comes, so none outlives its turn (with
        10,000 instances, holding them made the garbage collector the
        biggest cost of a cycle).  Never raises: a failure is logged and
        ends this meter's samples for the cycle.
        """
        try:
            yield from self._samples(manager, cache, resources)
        except Exception:
            LOG.exception('ceilometer-perf: %s failed this cycle',
                          self.meter.name)

    def _samples(self, manager, cache, resources):
        """The iterator of this cycle's samples (not a generator itself:
        one level of delegation less per sample)."""
        meter, host = self.meter, self.host
        snap = host.snapshot(cache, host.groups_for(manager, meter))
        if snap is None:
            return ()
        kind = host.kind(meter)
        absent = [k for k in meter.required_keys if k not in snap.keys()]
        if absent:
            # No domain has the key (e.g. hardware events on a host
            # without a PMU): skip the per-instance loop, say it once.
            kind.absent(absent[0])
            polled = next((i for i in resources if i.id in snap.records),
                          None)
            if polled is not None:
                host.reporter.missing(missing.Missing(
                    missing.EVENT_NOT_COUNTED, stats.event_of(absent[0])),
                    meter, polled)
            return ()
        make = samples.SampleMaker(
            self.conf, cache, meter.name, meter.type, meter.unit,
            snap.read_at, expected=len(resources), metadata=host.metadata)
        return kind.samples(snap, resources, make)


def _make_pollster_classes():
    classes = {}
    for meter in catalogue.METERS:
        classes[meter.class_name] = type(
            meter.class_name, (CataloguePollster,),
            {'meter': meter, '__doc__': meter.help,
             '__module__': __name__})
    return classes


POLLSTERS = _make_pollster_classes()
globals().update(POLLSTERS)
