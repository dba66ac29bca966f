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

"""What the meters cost at cloud scale, from the catalogue and policies.

Per instance and minute: the samples the polling agent emits (one per
meter and polling interval), the Gnocchi metrics (one per meter and
instance) with the points their archive policies keep and the storage
those take, and the Prometheus series (one per meter and instance through
Ceilometer's exporter); then the same for whole clouds.  Generated for
the docs (doc/source/admin/consumers.rst) and tested
(tests/unit/test_capacity.py).
"""

import dataclasses

from ceilometer_perf import catalogue
from ceilometer_perf.ops import gnocchi
from ceilometer_perf.ops import polling_yaml
from ceilometer_perf.ops import tables

NODES = (50, 500, 5000)
INSTANCES_PER_NODE = 40
# Gnocchi's uncompressed serialisation of an aggregated point (a flag
# byte and a double, struct '<?d'): an upper bound, LZ4-compressed splits
# of regular series take less.
BYTES_PER_POINT = 9
# The scrape interval of the example in doc/source/admin/prometheus.rst.
SCRAPE_INTERVAL = 30


@dataclasses.dataclass(frozen=True)
class Instance:
    """The cost of one instance polled with a profile."""
    samples_per_minute: float
    metrics: int
    points: int             # aggregated points kept, all its metrics
    prometheus_series: int

    @property
    def storage_bytes(self):
        return self.points * BYTES_PER_POINT


def profile_intervals(names=None):
    """{meter: interval} of the shipped sources (a profile's meters)."""
    return {name: source['interval']
            for source in polling_yaml.polling_sources(names)
            for name in source['meters']}


def points_of(policy_name):
    """Aggregated points one metric of that policy keeps, all levels and
    aggregation methods."""
    policy = gnocchi.ARCHIVE_POLICIES[policy_name]
    return (sum(points for _, points in gnocchi.levels(policy)) *
            len(policy['aggregation_methods']))


def per_instance(names=None):
    intervals = profile_intervals(names)
    policies = gnocchi.metrics()
    return Instance(
        samples_per_minute=sum(60 / i for i in intervals.values()),
        metrics=len(intervals),
        points=sum(points_of(policies[name]['archive_policy_name'])
                   for name in intervals),
        prometheus_series=len(intervals))


PROFILES = (('full', None), ('lean', catalogue.LEAN))


def _si(value, unit=''):
    for factor, prefix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'),
                           (1e3, 'k')):
        if value >= factor:
            return '%.3g %s%s' % (value / factor, prefix, unit)
    return '%.3g %s' % (value, unit) if unit else '%.3g' % value


def cloud_rows():
    """[(profile, nodes, instances, samples/min, metrics, points kept,
    storage, Prometheus series, Prometheus samples/day)]."""
    rows = []
    for profile, names in PROFILES:
        one = per_instance(names)
        for nodes in NODES:
            instances = nodes * INSTANCES_PER_NODE
            rows.append((
                profile, '{:,}'.format(nodes), '{:,}'.format(instances),
                _si(one.samples_per_minute * instances),
                _si(one.metrics * instances),
                _si(one.points * instances),
                _si(one.storage_bytes * instances, 'B'),
                _si(one.prometheus_series * instances),
                _si(one.prometheus_series * instances * 86400 /
                    SCRAPE_INTERVAL)))
    return rows


def policy_rows():
    """[(policy, levels, methods, points a metric keeps, bytes)]."""
    rows = []
    for name, policy in gnocchi.ARCHIVE_POLICIES.items():
        levels = ', '.join('%d s x %d' % level
                           for level in gnocchi.levels(policy))
        rows.append((name, levels, ', '.join(policy['aggregation_methods']),
                     '{:,}'.format(points_of(name)),
                     _si(points_of(name) * BYTES_PER_POINT, 'B')))
    return rows


def instance_rows():
    """[(profile, samples/min, metrics, points, storage, Prometheus
    series)] for one instance."""
    rows = []
    for profile, names in PROFILES:
        one = per_instance(names)
        rows.append((profile, '%.4g' % one.samples_per_minute, one.metrics,
                     '{:,}'.format(one.points),
                     _si(one.storage_bytes, 'B'), one.prometheus_series))
    return rows


def policy_table():
    """The archive policies, their levels, methods and meters."""
    by_policy = {}
    for name, definition in gnocchi.metrics().items():
        by_policy.setdefault(definition['archive_policy_name'], []).append(
            '``%s``' % name)
    rows = []
    for name, policy in gnocchi.ARCHIVE_POLICIES.items():
        levels = ', '.join(
            '%s for %s' % (level['granularity'], level['timespan'])
            for level in policy['definition'])
        rows.append(('``%s``' % name, levels,
                     ', '.join(policy['aggregation_methods']),
                     ', '.join(by_policy.get(name, ()))))
    return tables.list_table(
        ('Policy', 'Levels', 'Aggregation methods', 'Meters'), rows,
        widths=(20, 25, 20, 35))


def tables_rst():
    """The tables of the Capacity section (doc/source/admin/consumers.rst)."""
    return '\n\n'.join([
        tables.list_table(
            ('Archive policy', 'Levels (granularity x points)',
             'Aggregation methods', 'Points a metric keeps',
             'Storage a metric'), policy_rows(),
            title='Archive policies'),
        tables.list_table(
            ('Profile', 'Samples a minute', 'Gnocchi metrics',
             'Points kept', 'Storage', 'Prometheus series'),
            instance_rows(), title='One instance'),
        tables.list_table(
            ('Profile', 'Compute nodes', 'Instances', 'Samples a minute',
             'Gnocchi metrics', 'Points kept', 'Gnocchi storage',
             'Prometheus series', 'Prometheus samples a day'),
            cloud_rows(),
            title='Clouds of %d instances a node' % INSTANCES_PER_NODE),
    ])
