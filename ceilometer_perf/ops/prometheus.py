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

"""How the catalogue's meters look in Ceilometer's Prometheus exporter.

The polling agent exposes what it polls when [polling]
enable_prometheus_exporter is on.  Rather than restate the exporter's
naming rules, this passes samples through the exporter of the installed
Ceilometer, the way its polling manager does, and reads the result: the
docs' table (ops/doctables.py) and the tests follow Ceilometer, not a copy
of it.
"""

import dataclasses
import re
import threading

from ceilometer.compute import discovery
from ceilometer.compute.pollsters import util
from ceilometer.polling import prom_exporter
from ceilometer.publisher import utils as publisher_utils
from ceilometer import sample as ceilometer_sample
from oslo_config import cfg
import prometheus_client

from ceilometer_perf import catalogue

# Names Prometheus 2.x servers accept in the text format.
METRIC_NAME = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL_NAME = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')

# Labels Prometheus itself adds to every scraped series: `instance` is the
# scrape target, i.e. the compute node's polling agent.
TARGET_LABELS = ('job', 'instance')

_REGISTRY_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Series:
    metric: str
    type: str
    labels: dict
    value: float


def export(sample_dicts):
    """The series Ceilometer's exporter makes of these sample messages.

    Runs prom_exporter.collect_metrics on a private registry, so nothing
    leaks into the exporter of an agent running in this process.
    """
    with _REGISTRY_LOCK:
        saved = prom_exporter.CEILOMETER_REGISTRY
        registry = prometheus_client.CollectorRegistry()
        prom_exporter.CEILOMETER_REGISTRY = registry
        try:
            prom_exporter.collect_metrics(sample_dicts)
        finally:
            prom_exporter.CEILOMETER_REGISTRY = saved
    return [Series(family.name, family.type, dict(s.labels), s.value)
            for family in registry.collect() for s in family.samples]


def sample_message(sample):
    """A Ceilometer Sample as the polling manager hands it to the exporter."""
    return publisher_utils.meter_message_from_counter(sample, 'unused')


EXAMPLE_RESOURCE_ID = '00000000-0000-4000-8000-000000000001'


def example_instance():
    """An instance as Ceilometer's libvirt_metadata discovery makes it."""
    return discovery.NovaLikeServer(
        id=EXAMPLE_RESOURCE_ID, name='web-1',
        flavor={'id': 'f1', 'name': 'm1.small', 'vcpus': 1, 'ram': 512,
                'disk': 1, 'ephemeral': 0, 'swap': 0},
        image=None, os_type='hvm', architecture='x86_64',
        metadata={}, tenant_id='project-id', user_id='user-id',
        hostId='host-id', status='active',
        **{'OS-EXT-SRV-ATTR:instance_name': 'instance-00000001',
           'OS-EXT-SRV-ATTR:host': 'compute-1',
           'OS-EXT-STS:vm_state': 'active'})


def default_conf():
    """Just the options sample metadata needs, at their defaults."""
    conf = cfg.ConfigOpts()
    conf.register_opts(ceilometer_sample.OPTS)
    conf([], project='ceilometer', default_config_files=[])
    return conf


def example_series(meter, conf=None, instance=None, volume=1):
    """The one series a sample of `meter` for an instance becomes."""
    conf = conf or default_conf()
    sample = util.make_sample_from_instance(
        conf, instance or example_instance(), name=meter.name,
        type=meter.type, unit=meter.unit, volume=volume)
    [series] = export([sample_message(sample)])
    return series


@dataclasses.dataclass(frozen=True)
class Exposition:
    """What a Prometheus user sees of one meter."""
    meter: catalogue.Meter
    metric: str
    type: str
    meter_labels: dict     # label -> value, '<resource id>' for the UUID
    common_labels: tuple   # the other labels of the series

    @property
    def read_as(self):
        if self.meter.type == catalogue.CUMULATIVE:
            return 'rate(): %s/s' % self.meter.unit
        return 'value: %s' % self.meter.unit


def exposition(meter, conf=None):
    series = example_series(meter, conf)
    first = meter.name.split('.')[0]
    meter_labels = {}
    for name in (first, 'type'):
        value = series.labels[name]
        if value == EXAMPLE_RESOURCE_ID:
            value = '<resource id>'
        meter_labels[name] = value
    common = tuple(sorted(set(series.labels) - set(meter_labels)))
    return Exposition(meter, series.metric, series.type, meter_labels,
                      common)


def expositions():
    conf = default_conf()
    return [exposition(m, conf) for m in catalogue.METERS]


TABLE_HEADER = ('Meter', 'Prometheus metric', 'Labels naming the meter',
                'Read it as')


def label_text(exp):
    """The labels naming the meter, as a selector would spell them."""
    return ', '.join('%s=%s' % (k, v if v.startswith('<') else '"%s"' % v)
                     for k, v in exp.meter_labels.items())


def table_rows(exps):
    """The docs' Prometheus table, one row per exposition: plain strings
    (meter, metric, labels naming the meter, how to read it)."""
    return [(exp.meter.name, exp.metric, label_text(exp), exp.read_as)
            for exp in exps]


def metric_types(exps):
    """The Prometheus types the exporter gives our metrics."""
    return sorted({exp.type for exp in exps})


def shared_labels(exps):
    """The labels every series carries besides those naming the meter."""
    return sorted({label for exp in exps for label in exp.common_labels})
