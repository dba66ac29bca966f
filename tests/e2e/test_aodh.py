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

"""Aodh 23's own Gnocchi threshold evaluators on our meters.

Two of the documented recipes (doc/source/admin/consumers.rst), each an
alarm stored in Aodh's SQL storage and evaluated in-process by the
evaluator aodh-evaluator would load for its type, against the real e2e
Gnocchi fed through the real chain:

- per instance: `gnocchi_resources_threshold` on memory.bandwidth.total,
  `max` over 60 s;
- per host: `gnocchi_aggregation_by_resources_threshold` on
  memory.bandwidth.total, `sum` over the host's instances, 60 s.

Each must go from "insufficient data" to `alarm` with a threshold under
the data and to `ok` with one over it, never back to "insufficient data".
(The `prometheus` recipe runs against the functional tests' Prometheus:
tests/functional/test_prometheus.py.)
"""

import json
import time

import pytest

from ceilometer_perf import catalogue
from ceilometer_perf.ops import gnocchi as mapping
from tests.e2e import chain
from tests.e2e import consumers
from tests.e2e.conftest import HOST

METER = 'memory.bandwidth.total'
GRANULARITY = 60


def host_query(host):
    """The recipe's resource query: the live instances of one host."""
    return {'and': [{'=': {'host': host}}, {'=': {'ended_at': None}}]}


def per_instance_rule(uuid):
    return {'metric': METER, 'resource_type': 'instance',
            'resource_id': uuid, 'aggregation_method': 'max',
            'granularity': GRANULARITY, 'evaluation_periods': 1,
            'comparison_operator': 'gt'}


def host_total_rule(host):
    return {'metric': METER, 'resource_type': 'instance',
            'query': json.dumps(host_query(host)),
            'aggregation_method': 'sum', 'granularity': GRANULARITY,
            'evaluation_periods': 1, 'comparison_operator': 'gt'}


@pytest.fixture(scope='module')
def fresh(services, landed):
    """The documented record sent again now: (uuid, sent, when)."""
    since = time.time()
    uuid, sent = chain.inject_documented(services['TRANSPORT_URL'], HOST)
    return uuid, sent, since


def host_total(gnocchi, host, since):
    """What Aodh's host-total query sees in the newest bucket."""
    answer = gnocchi.request(
        'POST', 'v1/aggregates',
        params={'granularity': GRANULARITY, 'needed_overlap': 0,
                'start': since - since % GRANULARITY},
        json={'operations': '(aggregate sum (metric %s sum))' % METER,
              'resource_type': 'instance', 'search': host_query(host)})
    return answer['measures']['aggregated'][-1][2]


def settled_host_total(gnocchi, host, since, deadline_s=60):
    """host_total() once gnocchi-metricd has nothing left to process and
    two reads agree (the e2e chain polls every 10 s and the documented
    record is sent several times, so a bucket's sum grows until then)."""
    end = time.monotonic() + deadline_s
    previous = None
    while True:
        backlog = gnocchi.get('v1/status')['storage']['summary']['measures']
        total = host_total(gnocchi, host, since)
        if backlog == 0 and total == previous:
            return total
        if time.monotonic() > end:
            pytest.fail('host total still moving: %s, %d measures to '
                        'process' % (total, backlog))
        previous = total
        time.sleep(2)


@pytest.fixture(scope='module')
def alarms(services, tenants, gnocchi, fresh):
    uuid, sent, since = fresh
    value = sent[METER][-1]
    consumers.wait_for_point(gnocchi, uuid, METER, GRANULARITY, 'max',
                             since)
    host = gnocchi.resource(uuid)['host']
    total = settled_host_total(gnocchi, host, since)
    # Aodh's service user in a deployment; the cloud admin here.
    credentials = dict(
        consumers.keystone_auth(services, tenants['admin']),
        auth_type='password', user_domain_id='default',
        project_domain_id='default', region_name='RegionOne',
        interface='public')
    result, log = consumers.run('aodh', 'aodh_evaluate.py', {
        'db': 'aodh.sqlite', 'out': True,
        'transport_url': services['TRANSPORT_URL'],
        'alarms': [
            {'name': 'instance memory bandwidth over threshold',
             'type': 'gnocchi_resources_threshold',
             'service_credentials': credentials,
             'rule': per_instance_rule(uuid),
             'thresholds': [value / 2, value * 2]},
            {'name': 'host memory bandwidth over threshold',
             'type': 'gnocchi_aggregation_by_resources_threshold',
             'service_credentials': credentials,
             'rule': host_total_rule(host),
             'thresholds': [value / 2, total * 2]},
        ]})
    for alarm in result['alarms']:
        print('Aodh %s alarm %r: %s' % (
            alarm['type'], alarm['name'], ' -> '.join(
                ['insufficient data'] + ['%s (%s)' % (h['state'], h['reason'])
                                         for h in alarm['history']])))
    return {a['type']: a for a in result['alarms']}, value, total, log


def test_policy_keeps_what_the_recipes_ask(gnocchi, alarms):
    policy = gnocchi.archive_policy(mapping.policy_for(
        catalogue.BY_NAME[METER]))
    assert {'max', 'sum'} <= set(policy['aggregation_methods'])
    assert '0:01:00' in [d['granularity'] for d in policy['definition']]


@pytest.mark.parametrize('kind', [
    'gnocchi_resources_threshold',
    'gnocchi_aggregation_by_resources_threshold'])
def test_alarm_then_ok_never_insufficient_data(alarms, kind):
    by_type, value, total, log = alarms
    alarm = by_type[kind]
    states = [e['state'] for e in alarm['evaluations']]
    assert states == ['alarm', 'ok'], (alarm['evaluations'], log[-3000:])
    assert [h['state'] for h in alarm['history']] == ['alarm', 'ok']
    # Aodh's reason names the value it compared: ours.
    compared = float(alarm['evaluations'][0]['reason'].rsplit(
        'most recent: ', 1)[1])
    assert compared == pytest.approx(
        value if kind == 'gnocchi_resources_threshold' else total)


def test_host_total_holds_the_instance(alarms):
    """The host total is the sum over the host's instances: at least the
    documented instance's bandwidth."""
    _, value, total, _ = alarms
    assert total >= value
