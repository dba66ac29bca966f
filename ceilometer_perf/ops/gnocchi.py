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

"""The Gnocchi mapping of the catalogue's meters.

Ceilometer's Gnocchi publisher drops, with one warning, every meter its
gnocchi_resources.yaml does not list, and an operator's file replaces the
packaged one.  So the mapping is derived here from the catalogue (every
meter on the `instance` resource, an archive policy chosen by its type,
unit and shipped polling interval) and `ceilometer-perf gnocchi merge`
(ops/gnocchi_merge.py) merges it into the operator's file.

The archive policies are defined in the merged file too: the publisher
creates the policies listed there on its first publish.
"""

import copy

from ceilometer_perf import catalogue
from ceilometer_perf.ops import yamlfile

RESOURCE_TYPE = 'instance'
RATE_POLICY = 'ceilometer-perf-rate'
GAUGE_POLICY = 'ceilometer-perf'
TOTAL_POLICY = 'ceilometer-perf-total'

# The granularity OpenStack Watcher's noisy_neighbor strategy asks Gnocchi
# for (hard-coded), and a common alarm window: every policy keeps a 300 s
# level when the meter's polling interval divides 300 s.
CONSUMER_GRANULARITY = 300
HOUR = 3600
# How long each level is kept, by granularity: levels finer than 300 s
# (the polling interval) for a day (dashboards, 60 s alarms), 300 s levels
# for a week (Watcher, 5-minute alarms), hourly ones for 90 days (trends).
DAY = 86400
_TIMESPANS = ((CONSUMER_GRANULARITY, DAY), (HOUR, 7 * DAY),
              (None, 90 * DAY))

# Aggregation methods by family.  `rate:mean` is the mean, over a granule,
# of the differences between consecutive raw values: a counter's increase
# per polling interval; `rate:max` its worst interval in the granule
# (alarms).  Gauges keep mean (Watcher, dashboards), min/max (alarms,
# peaks) and last; gauges that add up over the instances of a host (bytes,
# bytes/s) keep `sum` too, which host totals need (Aodh's
# gnocchi_aggregation_by_resources_threshold applies the rule's method
# within each metric and across them).
_METHODS = {
    RATE_POLICY: ['mean', 'max', 'rate:mean', 'rate:max'],
    GAUGE_POLICY: ['mean', 'min', 'max', 'last'],
    TOTAL_POLICY: ['mean', 'min', 'max', 'sum', 'last'],
}
# Gauge units whose values add up over instances.
ADDITIVE_UNITS = frozenset(['B', 'B/s'])


def family(meter):
    """RATE_POLICY, GAUGE_POLICY or TOTAL_POLICY: which aggregations the
    meter's metric keeps."""
    if meter.type == catalogue.CUMULATIVE:
        return RATE_POLICY
    if meter.type in (catalogue.GAUGE, 'delta'):
        if meter.unit in ADDITIVE_UNITS:
            return TOTAL_POLICY
        return GAUGE_POLICY
    raise ValueError('no archive policy for meter type %r of %s'
                     % (meter.type, meter.name))


def intervals():
    """{meter name: polling interval in seconds} of the shipped
    polling.yaml (ops/polling_yaml.py generates it from the catalogue)."""
    from ceilometer_perf.ops import polling_yaml
    return {name: source['interval']
            for source in polling_yaml.polling_sources()
            for name in source['meters']}


def policy_name(family_name, interval):
    """`ceilometer-perf`, `ceilometer-perf-5min`, ...: the family's name,
    suffixed by the polling interval unless it is one minute."""
    if interval == 60:
        return family_name
    if interval % 60:
        return '%s-%ds' % (family_name, interval)
    return '%s-%dmin' % (family_name, interval // 60)


def _duration(seconds):
    """Seconds as Gnocchi reads them back: '1 minute', '7 days'..."""
    for unit, size in (('day', DAY), ('hour', HOUR), ('minute', 60)):
        if seconds % size == 0:
            count = seconds // size
            return '%d %s%s' % (count, unit, '' if count == 1 else 's')
    return '%d seconds' % seconds


def parse_duration(text):
    """Seconds of a _duration() text."""
    number, unit = text.split()
    sizes = {'day': DAY, 'hour': HOUR, 'minute': 60, 'second': 1}
    return int(number) * sizes[unit[:-1] if unit.endswith('s') else unit]


def timespan_of(granularity):
    """Seconds a level of this granularity is kept."""
    for finer_than, span in _TIMESPANS:
        if finer_than is None or granularity < finer_than:
            return span
    raise AssertionError('unreachable')


def granularities(interval):
    """The levels of a policy for a meter polled every `interval` s: the
    interval itself, 300 s and one hour where they are multiples of it."""
    levels = [interval]
    for coarser in (CONSUMER_GRANULARITY, HOUR):
        if coarser > interval and coarser % interval == 0:
            levels.append(coarser)
    return levels


def policy(family_name, interval):
    """The archive policy definition for a family at a polling interval."""
    return {
        'name': policy_name(family_name, interval),
        'aggregation_methods': list(_METHODS[family_name]),
        'back_window': 0,
        'definition': [{'granularity': _duration(g),
                        'timespan': _duration(timespan_of(g))}
                       for g in granularities(interval)],
    }


def levels(definition):
    """[(granularity s, points kept)] of a policy definition."""
    found = []
    for level in definition['definition']:
        granularity = parse_duration(level['granularity'])
        found.append((granularity,
                      parse_duration(level['timespan']) // granularity))
    return found


def _archive_policies():
    """{name: definition} of every policy the shipped polling intervals
    need, in catalogue order."""
    every = {}
    polled = intervals()
    for meter in catalogue.METERS:
        definition = policy(family(meter), polled[meter.name])
        every.setdefault(definition['name'], definition)
    return every


# Policies of our own, added to the operator's file when a meter uses one.
ARCHIVE_POLICIES = _archive_policies()


def policy_for(meter, rate_policy=None, gauge_policy=None):
    """The policy of a meter's metric: derived from its type, unit and
    polling interval, unless the operator names one for its type."""
    name = family(meter)
    if name == RATE_POLICY and rate_policy:
        return rate_policy
    if name != RATE_POLICY and gauge_policy:
        return gauge_policy
    return policy_name(name, intervals()[meter.name])


def granularity_of(meter):
    """The finest granularity of the meter's own policy, in seconds."""
    return granularities(intervals()[meter.name])[0]


def metrics(rate_policy=None, gauge_policy=None):
    """{meter name: metric definition} for every catalogue row."""
    return {m.name: {'archive_policy_name':
                     policy_for(m, rate_policy, gauge_policy)}
            for m in catalogue.METERS}


def own_policies(metric_defs):
    """Definitions of our own policies that the metrics use, in order."""
    used = {d['archive_policy_name'] for d in metric_defs.values()}
    return [copy.deepcopy(p) for name, p in ARCHIVE_POLICIES.items()
            if name in used]


def mapping(rate_policy=None, gauge_policy=None):
    """The fragment merged into gnocchi_resources.yaml."""
    metric_defs = metrics(rate_policy, gauge_policy)
    return {'archive_policies': own_policies(metric_defs),
            'resources': [{'resource_type': RESOURCE_TYPE,
                           'metrics': metric_defs}]}


MAPPING_HEADER = """\
# Gnocchi mapping of the ceilometer-perf meters: generated from
# ceilometer_perf/catalogue.py by tools/sync-catalogue; do not edit.
#
# Not a gnocchi_resources.yaml on its own: the Gnocchi publisher reads ONE
# such file, which replaces Ceilometer's packaged one.  Merge these
# definitions into yours (it keeps your edits and writes a backup):
#
#     ceilometer-perf gnocchi merge /etc/ceilometer/gnocchi_resources.yaml
#
# then restart ceilometer-agent-notification.  The publisher creates the
# archive policies below in Gnocchi on its first publish.
---
"""


def render_mapping():
    """Text of etc/ceilometer/gnocchi_resources-perf.yaml."""
    return MAPPING_HEADER + yamlfile.dump(mapping())


