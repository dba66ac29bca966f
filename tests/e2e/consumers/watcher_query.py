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

"""OpenStack Watcher's own Gnocchi datasource against the e2e Gnocchi.

Run by tests/e2e/test_watcher.py with the Watcher venv's python (tools/
consumers.sh builds it): imports nothing of ours.  Reads
{"auth": {Keystone password credentials}, "instance", "period"} as JSON
on stdin, prints JSON:

- `datasource`: GnocchiHelper.get_instance_l3_cache_usage() called with
  what noisy_neighbor passes (instance_l3_cache_usage, the period, mean,
  granularity 300), and statistic_aggregation() as it delegates;
- `strategy`: NoisyNeighbor.get_current_and_previous_cache() itself, the
  strategy's own call, on a stand-in strategy carrying the datasource;
- `measures`: what Gnocchi answered the datasource's request.

The datasource's Gnocchi client is built as Watcher's OpenStackClients
builds it (gnocchiclient on a Keystone session, the endpoint from the
catalogue), from the credentials given instead of watcher.conf:
everything from GnocchiHelper on is Watcher's code.
"""

import json
import logging
import sys
import types

from gnocchiclient import client as gnocchi_client
from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session

from watcher.decision_engine.datasources import gnocchi as watcher_gnocchi
from watcher.decision_engine.model import element
from watcher.decision_engine.strategy.strategies import noisy_neighbor

METER = 'instance_l3_cache_usage'
GRANULARITY = 300
AGGREGATE = 'mean'


class Clients:
    """Stands for watcher.common.clients.OpenStackClients."""

    def __init__(self, auth):
        plugin = v3.Password(user_domain_id='default',
                             project_domain_id='default', **auth)
        self._gnocchi = gnocchi_client.Client(
            '1', session=ks_session.Session(auth=plugin),
            adapter_options={'interface': 'public',
                             'region_name': 'RegionOne'})

    def gnocchi(self):
        return self._gnocchi


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += ' (%s: %s)' % (type(record.exc_info[1]).__name__,
                                   record.exc_info[1])
        self.lines.append(text)


def main():
    args = json.load(sys.stdin)
    recorder = Recorder()
    logging.getLogger('watcher').addHandler(recorder)
    helper = watcher_gnocchi.GnocchiHelper(osc=Clients(args['auth']))
    instance = element.Instance(uuid=args['instance'], name='documented',
                                vcpus=1, memory=512, disk=1)
    period = args['period']
    out = {'metric': helper.METRIC_MAP[METER]}
    out['datasource'] = helper.get_instance_l3_cache_usage(
        instance, period=period, aggregate=AGGREGATE,
        granularity=GRANULARITY)
    out['datasource_2x'] = helper.statistic_aggregation(
        instance, 'instance', METER, 2 * period, AGGREGATE, GRANULARITY)
    helper.metric_cache = type(helper.metric_cache)()
    out['measures'] = helper.gnocchi.metric.get_measures(
        metric=out['metric'], resource_id=instance.uuid,
        granularity=GRANULARITY, aggregation=AGGREGATE)
    # The strategy's own method, on a stand-in `self`.
    strategy = types.SimpleNamespace(
        datasource_backend=helper, meter_name=METER,
        get_period=lambda kind: period,
        get_aggregate=lambda kind: AGGREGATE,
        get_granularity=lambda kind: GRANULARITY)
    out['strategy'] = list(
        noisy_neighbor.NoisyNeighbor.get_current_and_previous_cache(
            strategy, instance))
    out['log'] = recorder.lines
    json.dump(out, sys.stdout, default=str)


if __name__ == '__main__':
    main()
