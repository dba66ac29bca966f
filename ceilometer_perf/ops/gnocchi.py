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
meter on the `instance` resource, an archive policy chosen by meter type)
and `ceilometer-perf gnocchi merge` (ops/gnocchi_merge.py) merges it into
the operator's file.

The archive policies are defined in the merged file too: the publisher
creates the policies listed there on its first publish.
"""

import copy

from ceilometer_perf import catalogue
from ceilometer_perf.ops import yamlfile

RESOURCE_TYPE = 'instance'
RATE_POLICY = 'ceilometer-perf-rate'
GAUGE_POLICY = 'ceilometer-perf'

# One point a minute for a day (dashboards), one an hour for 90 days
# (trends).  Gnocchi keeps each aggregation method at each granularity.
_DEFINITION = [
    {'granularity': '1 minute', 'timespan': '1 day'},
    {'granularity': '1 hour', 'timespan': '90 days'},
]

# Policies of our own, added to the operator's file when a meter uses one.
# `rate:mean` is the mean, over a granule, of the differences between
# consecutive raw values: a counter's increase per polling interval.
ARCHIVE_POLICIES = {
    RATE_POLICY: {
        'name': RATE_POLICY,
        'aggregation_methods': ['mean', 'max', 'rate:mean', 'rate:max'],
        'back_window': 0,
        'definition': _DEFINITION,
    },
    GAUGE_POLICY: {
        'name': GAUGE_POLICY,
        'aggregation_methods': ['mean', 'min', 'max', 'last'],
        'back_window': 0,
        'definition': _DEFINITION,
    },
}

def policy_for(meter, rate_policy=RATE_POLICY, gauge_policy=GAUGE_POLICY):
    """Cumulative counters need a policy that keeps rates; others don't."""
    if meter.type == catalogue.CUMULATIVE:
        return rate_policy
    if meter.type in (catalogue.GAUGE, 'delta'):
        return gauge_policy
    raise ValueError('no archive policy for meter type %r of %s'
                     % (meter.type, meter.name))


def metrics(rate_policy=RATE_POLICY, gauge_policy=GAUGE_POLICY):
    """{meter name: metric definition} for every catalogue row."""
    return {m.name: {'archive_policy_name':
                     policy_for(m, rate_policy, gauge_policy)}
            for m in catalogue.METERS}


def own_policies(metric_defs):
    """Definitions of our own policies that the metrics use, in order."""
    used = {d['archive_policy_name'] for d in metric_defs.values()}
    return [copy.deepcopy(p) for name, p in ARCHIVE_POLICIES.items()
            if name in used]


def mapping(rate_policy=RATE_POLICY, gauge_policy=GAUGE_POLICY):
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


