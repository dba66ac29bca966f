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

"""A tenant's Aodh alarms evaluate on that tenant's data only.

Aodh 23 as a cloud runs it (tools/lib/aodh.sh): its API behind Keystone,
aodh-evaluator reading Gnocchi as the `aodh` service user, which may read
every tenant's metrics.  Each tenant's member creates alarms through the
API with its own token; the evaluator evaluates them on its own schedule;
the tenant reads the outcome back.  The meter is perf.vpmu, a gauge whose
value never changes while a guest runs, so what Aodh compared names the
instances it read: alpha's guests have vPMU on and off (mean 0.5), beta's
both on (mean 1.0), so any of beta's data in alpha's alarm moves it.

Every access tried and its answer goes to the session's access log.
"""

import json
import time

import pytest

from tests.e2e import chain
from tests.e2e.conftest import TENANTS

METER = 'perf.vpmu'
# The finest granularity of perf.vpmu's archive policy (its shipped
# polling interval is 600 s; the e2e agent polls it every 10 s).
GRANULARITY = 600
# Aodh's answer to a tenant asking for another's alarm, or for a filter
# naming another project.
DENIED = (401, 403, 404)
EVALUATION_DEADLINE_S = 150
LIVE = {'=': {'ended_at': None}}
# The alarms (by label) that find data: the creator's, or upstream, not.
WITH_DATA = ('all live instances', 'own instance by id',
             'both tenants\' instances',
             'beta\'s instance, per-instance rule', 'beta\'s metric id')


def rule(query=None, resource_id=None, metrics=None):
    """A threshold rule on perf.vpmu's mean; the threshold sits between
    alpha's mean and beta's, but the tests read the value Aodh compared,
    not the state."""
    out = {'aggregation_method': 'mean', 'granularity': GRANULARITY,
           'evaluation_periods': 1, 'comparison_operator': 'gt',
           'threshold': 0.75}
    if metrics is not None:
        return dict(out, metrics=metrics)
    out.update(metric=METER, resource_type='instance')
    if resource_id is not None:
        return dict(out, resource_id=resource_id)
    return dict(out, query=json.dumps(query))


BY_RESOURCES = 'gnocchi_aggregation_by_resources_threshold'
OF_RESOURCE = 'gnocchi_resources_threshold'
BY_METRICS = 'gnocchi_aggregation_by_metrics_threshold'


def compared(alarm):
    """The value Aodh compared with the threshold (from its reason), or
    None when it had none."""
    head, found, value = alarm['state_reason'].rpartition('most recent: ')
    return float(value) if found else None


def gnocchi_mean(gnocchi, search):
    """perf.vpmu's mean over the instances `search` finds, newest bucket,
    as the admin reads it: what an alarm over them must compare."""
    answer = gnocchi.request(
        'POST', 'v1/aggregates',
        params={'granularity': GRANULARITY, 'needed_overlap': 0},
        json={'operations': '(aggregate mean (metric %s mean))' % METER,
              'resource_type': 'instance', 'search': search})
    return answer['measures']['aggregated'][-1][2]


def _by_tenant(guests, tenant_of):
    return {t: sorted(u for u in guests if tenant_of[u] == t)
            for t in TENANTS}


@pytest.fixture(scope='module')
def alarms(aodh, gnocchi, tenants, guests, tenant_of, landed, accesses):
    """The alarms each tenant (and the admin) created, once the evaluator
    has evaluated all of them: {(who, label): alarm as its creator reads
    it}.  The ones that must find no data are created first: the cycle
    that evaluates a later alarm evaluates them too."""
    owned = _by_tenant(guests, tenant_of)
    beta_pid = tenants['beta']['project_id']
    beta_uuid = owned['beta'][0]
    beta_metric = gnocchi.resource(beta_uuid)['metrics'][METER]
    alpha_pmu_on = next(u for u in owned['alpha']
                        if guests[u].name == 'e2e-pmu-on')
    plan = [
        # Must find nothing: another tenant's data asked for by query.
        ('alpha', 'forged project_id', BY_RESOURCES,
         rule({'and': [LIVE, {'=': {'project_id': beta_pid}}]})),
        ('alpha', 'beta\'s instance by id', BY_RESOURCES,
         rule({'=': {'id': beta_uuid}})),
        # Upstream: rules naming a resource or metric id (Aodh 23 checks
        # neither against the caller).
        ('alpha', 'beta\'s instance, per-instance rule', OF_RESOURCE,
         rule(resource_id=beta_uuid)),
        ('alpha', 'beta\'s metric id', BY_METRICS,
         rule(metrics=[beta_metric])),
        # Must evaluate on the creator's data.
        ('alpha', 'all live instances', BY_RESOURCES, rule(LIVE)),
        ('alpha', 'own instance by id', BY_RESOURCES,
         rule({'=': {'id': alpha_pmu_on}})),
        ('beta', 'all live instances', BY_RESOURCES, rule(LIVE)),
        # Not scoped: the e2e guests of both tenants (not every instance
        # in Gnocchi, some of which stop reporting during the session).
        ('admin', 'both tenants\' instances', BY_RESOURCES,
         rule({'and': [LIVE, {'in': {'id': sorted(guests)}}]})),
    ]
    created = {}
    for who, label, alarm_type, alarm_rule in plan:
        status, body = chain.attempt(
            accesses, who, aodh[who], 'POST', 'v2/alarms',
            'Aodh: create %s alarm (%s)' % (alarm_type, label),
            json={'name': '%s: %s' % (who, label), 'type': alarm_type,
                  '%s_rule' % alarm_type: alarm_rule})
        assert status == 200, (label, body)
        created[(who, label)] = body
    evaluated = _wait_until_evaluated(aodh, created)
    for (who, label), alarm in sorted(evaluated.items()):
        value = compared(alarm)
        accesses.append((who, 'aodh-evaluator: %s\'s alarm (%s)' % (
            who, label), '%s, %s' % (alarm['state'], 'no data' if value is
                                     None else 'compared %s' % value)))
    return evaluated


def _wait_until_evaluated(aodh, created):
    """Each alarm as its creator reads it once aodh-evaluator has
    evaluated every one (its evaluate_timestamp moved) and the ones with
    data have left "insufficient data": a bounded wait for the evaluator,
    not a timing assertion."""
    end = time.monotonic() + EVALUATION_DEADLINE_S
    while True:
        now = {key: aodh[key[0]].alarm(alarm['alarm_id'])
               for key, alarm in created.items()}
        pending = [key for key, alarm in now.items()
                   if alarm['evaluate_timestamp'] ==
                   created[key]['evaluate_timestamp']
                   or alarm['state'] == 'insufficient data'
                   and key[1] in WITH_DATA]
        if not pending:
            return now
        if time.monotonic() > end:
            pytest.fail('not evaluated after %d s: %s'
                        % (EVALUATION_DEADLINE_S, pending))
        time.sleep(2)



def test_a_tenants_alarm_over_all_instances_reads_its_own(
        alarms, gnocchi, tenants):
    """Alpha asks for every live instance; Aodh compares alpha's mean,
    not the cloud's.  Beta's likewise; the admin's, unscoped, covers
    both tenants' instances."""
    projects = {t: tenants[t]['project_id'] for t in TENANTS}
    own = {t: gnocchi_mean(gnocchi, {'and': [LIVE, {'=': {
        'project_id': projects[t]}}]}) for t in TENANTS}
    everyone = gnocchi_mean(gnocchi, {'and': [LIVE, {'in': {
        'project_id': sorted(projects.values())}}]})
    # Otherwise the test could not tell them apart.
    assert own['alpha'] == 0.5 and own['beta'] == 1.0
    assert everyone == 0.75
    for tenant in TENANTS:
        assert compared(alarms[(tenant, 'all live instances')]) == \
            own[tenant], tenant
    assert compared(alarms[('admin', 'both tenants\' instances')]) == \
        everyone


def test_a_tenants_alarm_on_its_own_instance_reads_it(alarms):
    assert compared(alarms[('alpha', 'own instance by id')]) == 1.0


@pytest.mark.parametrize('label', ['forged project_id',
                                   'beta\'s instance by id'])
def test_a_query_naming_another_tenant_finds_no_data(alarms, aodh, label,
                                                     accesses):
    """Evaluated (its evaluation time moved) and still without data: no
    transition in its history, no value in its reason."""
    alarm = alarms[('alpha', label)]
    assert alarm['state'] == 'insufficient data'
    assert compared(alarm) is None
    status, history = chain.attempt(
        accesses, 'alpha', aodh['alpha'], 'GET',
        'v2/alarms/%s/history' % alarm['alarm_id'],
        'Aodh: history of own alarm (%s)' % label)
    assert status == 200
    assert [h['type'] for h in history] == ['creation']


@pytest.mark.parametrize('label', ['beta\'s instance, per-instance rule',
                                   'beta\'s metric id'])
def test_aodh_23_evaluates_ids_with_its_own_rights(alarms, label):
    """Upstream behaviour, documented in doc/source/admin/consumers.rst:
    Aodh 23 checks a `gnocchi_resources_threshold` resource id or a
    `gnocchi_aggregation_by_metrics_threshold` metric id against nobody,
    and its evaluator reads them with its service user, so a tenant who
    knows another's instance UUID reads its value in the alarm's reason.
    The docs tell tenants' alarms to name instances by query instead (the
    test above).  When this fails, Aodh checks ids: update the docs."""
    assert compared(alarms[('alpha', label)]) == 1.0


def test_tenants_cannot_see_or_touch_each_others_alarms(alarms, aodh,
                                                        tenants, accesses):
    alpha_alarm = alarms[('alpha', 'all live instances')]['alarm_id']
    beta_alarm = alarms[('beta', 'all live instances')]['alarm_id']
    alpha_pid = tenants['alpha']['project_id']
    for reader, victim, alarm_id, victim_pid in [
            ('beta', 'alpha', alpha_alarm, alpha_pid),
            ('alpha', 'beta', beta_alarm, tenants['beta']['project_id'])]:
        api = aodh[reader]
        for method, path, what, kwargs in [
                ('GET', 'v2/alarms/%s' % alarm_id, 'get', {}),
                ('GET', 'v2/alarms/%s/history' % alarm_id,
                 'read the history of', {}),
                ('GET', 'v2/alarms/%s/state' % alarm_id, 'read the state of',
                 {}),
                ('PUT', 'v2/alarms/%s/state' % alarm_id, 'set the state of',
                 {'json': 'ok'}),
                ('PUT', 'v2/alarms/%s' % alarm_id, 'replace',
                 {'json': {'name': 'taken', 'type': BY_RESOURCES,
                           '%s_rule' % BY_RESOURCES: rule(LIVE)}}),
                ('DELETE', 'v2/alarms/%s' % alarm_id, 'delete', {}),
                ('GET', 'v2/alarms', 'list, q project_id=%s' % victim,
                 {'params': {'q.field': 'project_id', 'q.op': 'eq',
                             'q.value': victim_pid}}),
                ('GET', 'v2/alarms', 'list, all_projects',
                 {'params': {'q.field': 'all_projects', 'q.op': 'eq',
                             'q.value': 'true'}}),
                ('POST', 'v2/alarms', 'create as project %s' % victim,
                 {'json': {'name': 'planted', 'type': BY_RESOURCES,
                           'project_id': victim_pid,
                           '%s_rule' % BY_RESOURCES: rule(LIVE)}})]:
            status, body = chain.attempt(
                accesses, reader, api, method, path,
                'Aodh: %s %s\'s alarm' % (what, victim)
                if alarm_id in path else 'Aodh: ' + what, **kwargs)
            assert status in DENIED, (reader, what, status, body)
        status, listed = chain.attempt(accesses, reader, api, 'GET',
                                       'v2/alarms', 'Aodh: list alarms')
        assert status == 200
        assert {a['project_id'] for a in listed} == {
            tenants[reader]['project_id']}
        status, found = chain.attempt(
            accesses, reader, api, 'POST', 'v2/query/alarms',
            'Aodh: complex query, project_id=%s' % victim,
            json={'filter': json.dumps({'=': {'project_id': victim_pid}})})
        assert status in DENIED or status == 200 and not found, found
    # Still there, untouched, for its owner.
    alarm = aodh['alpha'].alarm(alpha_alarm)
    assert alarm['name'] == 'alpha: all live instances'
