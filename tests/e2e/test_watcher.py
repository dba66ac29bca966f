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

"""OpenStack Watcher 17's Gnocchi datasource reads our cpu_l3_cache.

Watcher's noisy_neighbor strategy asks its datasource for
`instance_l3_cache_usage` (Gnocchi metric `cpu_l3_cache` on the
instance's resource), mean, at a granularity of 300 s hard-coded.  The
documented record's samples travel the real chain (RabbitMQ, Ceilometer's
notification agent and Gnocchi publisher, gnocchi-metricd); then Watcher's
own GnocchiHelper, in Watcher's venv, queries the real Gnocchi.
"""

import time

import pytest

from ceilometer_perf import catalogue
from ceilometer_perf.ops import gnocchi as mapping
from tests.e2e import chain
from tests.e2e import consumers
from tests.e2e.conftest import HOST

METER = 'cpu_l3_cache'
# noisy_neighbor's default period, and its granularity and aggregate.
PERIOD = 100
GRANULARITY = 300


@pytest.fixture(scope='module')
def fresh(services, landed):
    """The documented record sent again now: (uuid, sent, when)."""
    since = time.time()
    uuid, sent = chain.inject_documented(services['TRANSPORT_URL'], HOST)
    return uuid, sent, since


@pytest.fixture(scope='module')
def watcher(services, tenants, gnocchi, fresh):
    """(Watcher's answers, the newest 300 s mean in Gnocchi)."""
    uuid, _, since = fresh
    point = consumers.wait_for_point(gnocchi, uuid, METER, GRANULARITY,
                                     'mean', since)
    answer, _ = consumers.run('watcher', 'watcher_query.py', {
        'auth': consumers.keystone_auth(services, tenants['admin']),
        'instance': uuid, 'period': PERIOD})
    print('Watcher 17 GnocchiHelper.get_instance_l3_cache_usage(%s, '
          'period=%d, aggregate=mean, granularity=%d) -> %r (Gnocchi: %s '
          '%s at %s)' % (uuid, PERIOD, GRANULARITY, answer['datasource'],
                         answer['metric'], point[1], point[0]))
    print('noisy_neighbor get_current_and_previous_cache -> %r; log: %s'
          % (answer['strategy'], answer['log']))
    return answer, point


def test_watcher_gnocchi_datasource_returns_our_l3_value(gnocchi, fresh,
                                                         watcher):
    _, sent, _ = fresh
    answer, (_, in_gnocchi) = watcher
    meter = catalogue.BY_NAME[METER]
    policy = gnocchi.archive_policy(mapping.policy_for(meter))
    assert 'mean' in policy['aggregation_methods']
    assert '0:05:00' in [d['granularity'] for d in policy['definition']]
    assert answer['metric'] == METER
    # Our value, as sent (a gauge: every sample carries the same bytes).
    assert answer['datasource'] == pytest.approx(sent[METER][-1])
    assert answer['datasource'] == pytest.approx(in_gnocchi)
    assert answer['measures'][-1][1] == GRANULARITY
    # Twice the period: still the newest 300 s bucket, the same value.
    # noisy_neighbor computes the "previous" occupancy as 2 * that - the
    # current one, so with Gnocchi it always equals the current one.
    assert answer['datasource_2x'] == pytest.approx(answer['datasource'])


def test_noisy_neighbor_strategy_call_fails_upstream(watcher):
    """What the docs say of Watcher 17: the strategy passes the meter name
    where the datasource takes the period, so its own call raises a
    TypeError, which it logs and swallows: (None, None), every instance
    skipped, whatever the datasource holds."""
    answer, _ = watcher
    assert answer['datasource'] is not None
    assert answer['strategy'] == [None, None]
    assert any('TypeError' in line and 'granularity' in line
               for line in answer['log']), answer['log']
