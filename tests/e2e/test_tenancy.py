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

"""Tenants read their own instances' counters and nobody else's.

Each tenant's member asks Gnocchi with its own project token, the way a
tenant's client or Grafana's Gnocchi datasource asks.  Every access tried
and its answer goes to the session's access log (conftest's `accesses`).
"""

import json

import pytest

from tests.e2e import chain
from tests.e2e.conftest import TENANTS

# The other tenant of each.
PAIRS = [('alpha', 'beta'), ('beta', 'alpha')]
DENIED = (403, 404)
METER = 'perf.event.cpu_clock'


def _own(guests, tenant_of, tenant):
    return {u for u in guests if tenant_of[u] == tenant}


def _metric_ids(gnocchi, uuid):
    return gnocchi.resource(uuid)['metrics']


@pytest.mark.parametrize('tenant', TENANTS)
def test_a_tenant_lists_exactly_its_instances(tenant, tenant_gnocchi,
                                              tenants, guests, tenant_of,
                                              landed, accesses):
    g = tenant_gnocchi[tenant]
    own = _own(guests, tenant_of, tenant)
    assert len(own) == 2
    status, listed = chain.attempt(accesses, tenant, g, 'GET',
                             'v1/resource/instance', 'list instances')
    assert status == 200 and {r['id'] for r in listed} == own
    status, found = chain.attempt(accesses, tenant, g, 'POST',
                            'v1/search/resource/instance',
                            'search instances, no filter', json={})
    assert status == 200 and {r['id'] for r in found} == own
    # Every resource it can see (any type) is its own project's.
    status, generic = chain.attempt(accesses, tenant, g, 'GET',
                              'v1/resource/generic', 'list all resources')
    assert status == 200 and generic
    assert {r['project_id'] for r in generic} == {
        tenants[tenant]['project_id']}


@pytest.mark.parametrize('tenant', TENANTS)
def test_a_tenant_reads_its_instances_meters(tenant, tenant_gnocchi,
                                             guests, tenant_of, produced,
                                             landed, accesses):
    """The same values the admin reads, for every meter produced."""
    g = tenant_gnocchi[tenant]
    for uuid in _own(guests, tenant_of, tenant):
        mine = chain.landed(g, uuid, produced[uuid])
        # What the admin read a moment ago: every meter, with values.
        assert set(mine) == set(landed[uuid]) & produced[uuid]
        assert mine and all(mine.values())
        name = guests[uuid].name
        status, _ = chain.attempt(
            accesses, tenant, g, 'GET', 'v1/resource/instance/%s/metric/%s/'
            'measures' % (uuid, METER), 'own %s: %s measures' % (name, METER),
            params={'aggregation': 'rate:mean'})
        assert status == 200


@pytest.mark.parametrize('reader,owner', PAIRS)
def test_no_tenant_reads_the_others_resources_or_metrics(
        reader, owner, tenant_gnocchi, gnocchi, guests, tenant_of, landed,
        accesses):
    g = tenant_gnocchi[reader]
    for uuid in _own(guests, tenant_of, owner):
        name = '%s\'s %s' % (owner, guests[uuid].name)
        for path, what in [
                ('v1/resource/instance/%s' % uuid, 'get ' + name),
                ('v1/resource/generic/%s' % uuid,
                 'get %s as generic' % name),
                ('v1/resource/instance/%s/metric/%s/measures' % (uuid, METER),
                 '%s measures by resource' % name),
                ('v1/resource/instance/%s/history' % uuid,
                 '%s history' % name)]:
            status, _ = chain.attempt(accesses, reader, g, 'GET', path, what)
            assert status in DENIED, (what, status)
        metric_id = _metric_ids(gnocchi, uuid)[METER]
        for method, path, what, kwargs in [
                ('GET', 'v1/metric/%s' % metric_id,
                 'get %s metric by id' % name, {}),
                ('GET', 'v1/metric/%s/measures' % metric_id,
                 '%s measures by metric id' % name, {}),
                ('POST', 'v1/aggregates', 'aggregates on %s metric id'
                 % name, {'json': {'operations': '(metric %s mean)'
                                   % metric_id}}),
                ('GET', 'v1/aggregation/metric',
                 'legacy aggregation on %s metric id' % name,
                 {'params': {'metric': metric_id}}),
                ('POST', 'v1/metric/%s/measures' % metric_id,
                 'write into %s metric' % name,
                 {'json': [{'timestamp': '2026-01-01T00:00:00',
                            'value': 1}]})]:
            status, _ = chain.attempt(accesses, reader, g, method, path, what,
                                **kwargs)
            assert status in DENIED, (what, status)
        status, listed = chain.attempt(accesses, reader, g, 'GET', 'v1/metric',
                                 'list metrics (none of %s\'s)' % owner)
        assert status in DENIED or status == 200 and not set(
            _metric_ids(gnocchi, uuid).values()) & {m['id'] for m in listed}


def _no_data_of(body, uuids, project_id):
    """True when an answer carries nothing of these resources."""
    text = json.dumps(body)
    return not any(u in text for u in uuids) and project_id not in text


@pytest.mark.parametrize('reader,owner', PAIRS)
def test_a_forged_project_filter_finds_nothing(reader, owner, tenants,
                                               tenant_gnocchi, guests,
                                               tenant_of, landed, accesses):
    """Searching or aggregating with the other tenant's project_id (or
    resource ids) as the filter: nothing of the other's comes back."""
    g = tenant_gnocchi[reader]
    victim = tenants[owner]['project_id']
    theirs = _own(guests, tenant_of, owner)
    forged = {'=': {'project_id': victim}}
    by_id = {'in': {'id': sorted(theirs)}}
    cases = [
        ('POST', 'v1/search/resource/instance',
         'search instances, project_id=%s' % owner, {'json': forged}),
        ('POST', 'v1/search/resource/generic',
         'search all resources, project_id=%s' % owner, {'json': forged}),
        ('POST', 'v1/search/resource/instance',
         'search instances, filter string project_id=%s' % owner,
         {'params': {'filter': "project_id='%s'" % victim}}),
        ('POST', 'v1/search/resource/instance',
         'search instances, id in %s\'s' % owner, {'json': by_id}),
        ('POST', 'v1/aggregates', 'aggregates, search project_id=%s'
         % owner, {'json': {
             'operations': '(aggregate mean (metric %s rate:mean))' % METER,
             'search': forged, 'resource_type': 'instance'},
          'params': {'details': 'true'}}),
        ('POST', 'v1/aggregates', 'aggregates, search id in %s\'s' % owner,
         {'json': {'operations': '(metric %s rate:mean)' % METER,
                   'search': by_id, 'resource_type': 'instance'},
          'params': {'details': 'true'}}),
        ('POST', 'v1/aggregates',
         'aggregates, project_id=%s, groupby project_id' % owner,
         {'json': {'operations': '(metric %s rate:mean)' % METER,
                   'search': forged, 'resource_type': 'instance'},
          'params': {'groupby': 'project_id'}}),
        ('POST', 'v1/aggregation/resource/instance/metric/%s' % METER,
         'legacy aggregation, project_id=%s' % owner,
         {'json': forged}),
    ]
    for method, path, what, kwargs in cases:
        status, body = chain.attempt(accesses, reader, g, method, path, what,
                               **kwargs)
        assert status in DENIED or (
            status == 200 and _no_data_of(body, theirs, victim)), (
            what, status, body)


def test_aggregates_grouped_by_project_show_only_the_callers(
        tenants, tenant_gnocchi, guests, tenant_of, landed, accesses):
    for tenant in TENANTS:
        status, groups = chain.attempt(
            accesses, tenant, tenant_gnocchi[tenant], 'POST',
            'v1/aggregates', 'aggregates over all instances, groupby '
            'project_id', json={'operations': '(metric %s rate:mean)'
                                % METER, 'search': {},
                                'resource_type': 'instance'},
            params={'groupby': 'project_id'})
        assert status == 200
        assert [grp['group'] for grp in groups] == [
            {'project_id': tenants[tenant]['project_id']}]


def test_the_admin_sees_every_tenants_instances(gnocchi, tenants, guests,
                                                tenant_of, landed,
                                                accesses):
    status, listed = chain.attempt(accesses, 'admin', gnocchi, 'GET',
                             'v1/resource/instance', 'list instances')
    assert status == 200
    projects = {r['id']: r['project_id'] for r in listed}
    for uuid, tenant in tenant_of.items():
        assert projects[uuid] == tenants[tenant]['project_id']
    for uuid in guests:
        status, _ = chain.attempt(accesses, 'admin', gnocchi, 'GET',
                            'v1/resource/instance/%s' % uuid,
                            'get %s\'s %s' % (tenant_of[uuid],
                                              guests[uuid].name))
        assert status == 200
