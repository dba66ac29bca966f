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

"""Every query of etc/grafana/ceilometer-perf.json against the real Gnocchi.

For each instance (the e2e guests and the documented one) and for the
host, each panel query either returns data, when the instance(s) it reads
have its metrics in Gnocchi, or is accepted and answered "metric does not
exist" (404), never "malformed" (400), when they do not: on this host the
guests have no hardware PMU and no RDT, so IPC, cache-miss ratio, L3 and
memory bandwidth only have data for the documented instance (values from
the BUILT record tests/unit/records/documented-all-perf-events.json).
Values of the documented instance are checked against the record.
"""

import datetime
import math
import os
import re

import pytest

from ceilometer_perf import catalogue
from tests.e2e import chain
from tests.e2e import grafana
from tests.e2e.conftest import HOST
from tests.e2e.conftest import POLL_INTERVAL_S
from tests.e2e.conftest import ROOT
from tests.unit import fakes

DASHBOARD = os.path.join(ROOT, 'etc', 'grafana', 'ceilometer-perf.json')
PLUGIN = 'gnocchixyz-gnocchi-datasource'


@pytest.fixture(scope='module')
def dashboard():
    return grafana.load(DASHBOARD)


@pytest.fixture(scope='module')
def window():
    now = datetime.datetime.now(datetime.timezone.utc)
    return ((now - datetime.timedelta(hours=1)).isoformat(),
            (now + datetime.timedelta(minutes=5)).isoformat())


def _scope(target):
    text = target['resource_search']
    if '$instance' in text:
        return 'instance'
    assert '$host' in text, target
    return 'host'


def test_dashboard_uses_only_what_the_test_runs(dashboard):
    """No query goes untested: one datasource, query modes the runner
    implements, variables the test sets."""
    assert [i['pluginId'] for i in dashboard['__inputs']] == [PLUGIN]
    for title, target in grafana.targets(dashboard):
        assert target['datasource']['type'] == PLUGIN, title
        assert target['queryMode'] in grafana.SUPPORTED_MODES, title
        assert grafana.metrics_of(target) <= set(catalogue.BY_NAME), title
    names = set(grafana.variables(dashboard))
    assert names == {'host', 'instance', 'poll_interval'}
    # Every catalogue meter the issue asks to chart has a panel.
    charted = set().union(*(grafana.metrics_of(t)
                            for _, t in grafana.targets(dashboard)))
    assert {'perf.event.instructions', 'perf.event.cpu_cycles',
            'perf.event.cache_misses', 'perf.event.cache_references',
            'cpu_l3_cache', 'memory.bandwidth.total',
            'memory.bandwidth.local', 'perf.vpmu'} <= charted


def test_variable_queries(dashboard, gnocchi, guests, documented, landed):
    variables = grafana.variables(dashboard)
    hosts = grafana.run_variable(gnocchi, variables['host']['query'], {})
    assert (HOST, HOST) in hosts
    instances = grafana.run_variable(
        gnocchi, variables['instance']['query'], {'host': HOST})
    want = {(g.name, uuid) for uuid, g in guests.items()}
    doc_uuid, _ = documented
    want.add((fakes.load(chain.DOCUMENTED)[0]['name'], doc_uuid))
    assert want <= set(instances)


# --- Expected values: the operations evaluated on the documented record.

_TOKEN = re.compile(r'\(|\)|[^\s()]+')


def _parse(text):
    tokens = _TOKEN.findall(text)

    def read(i):
        if tokens[i] == '(':
            items = []
            i += 1
            while tokens[i] != ')':
                item, i = read(i)
                items.append(item)
            return items, i + 1
        return tokens[i], i + 1
    tree, end = read(0)
    assert end == len(tokens), text
    return tree


def evaluate(operations, value_of):
    """The value of an operations string for ONE resource whose metrics
    have constant values (`value_of(metric, aggregation)`)."""
    def ev(node):
        if isinstance(node, str):
            return float(node)
        op = node[0]
        if op == 'metric':
            return value_of(node[1], node[2])
        if op == 'aggregate':
            return ev(node[2])
        args = [ev(n) for n in node[1:]]
        return {'/': lambda a, b: a / b, '*': lambda a, b: a * b,
                '+': lambda a, b: a + b, '-': lambda a, b: a - b,
                'clip_min': max}[op](*args)
    return ev(_parse(operations))


def documented_value(metric, aggregation):
    entry = fakes.load(chain.DOCUMENTED)[0]
    meter = catalogue.BY_NAME[metric]
    if meter.kind == catalogue.KIND_VPMU:
        return 1.0      # host-passthrough CPU: vPMU inferred on
    # Counters grow by their recorded value per poll: that is the rate.
    return float(entry['stats'][meter.key])


def _cases(guests_uuids, doc_uuid):
    return ([('instance', u) for u in guests_uuids] +
            [('instance', doc_uuid), ('host', HOST)])


def test_every_panel_query(dashboard, gnocchi, guests, documented, landed,
                           window):
    doc_uuid, _ = documented
    doc_name = fakes.load(chain.DOCUMENTED)[0]['name']
    start, stop = window
    has = {uuid: set(metrics) for uuid, metrics in landed.items()}
    with_data = without_data = 0
    for title, target in grafana.targets(dashboard):
        needed = grafana.metrics_of(target)
        for scope, value in _cases(guests, doc_uuid):
            if _scope(target) != scope:
                continue
            values = {'host': HOST, 'poll_interval': str(POLL_INTERVAL_S)}
            if scope == 'instance':
                values['instance'] = value
                expect_data = needed <= has[value]
            else:
                expect_data = any(needed <= m for m in has.values())
            case = '%s [%s %s]' % (title, scope, value)
            if not expect_data:
                with pytest.raises(chain.ApiError) as err:
                    grafana.run_target(gnocchi, target, values, start, stop)
                # Well-formed and accepted: only the metric is missing.
                assert err.value.status == 404, case
                assert 'does not exist' in err.value.body, case
                without_data += 1
                continue
            series = grafana.run_target(gnocchi, target, values, start,
                                        stop)
            assert series and all(points for _, points in series), case
            for label, points in series:
                assert all(math.isfinite(v) for _, v in points), (case,
                                                                  label)
            with_data += 1
            # The documented instance: values as the record says.
            expected = evaluate(grafana.interpolate(target['operations'],
                                                    values),
                                documented_value)
            doc_series = [[v for _, v in points] for label, points in series
                          if scope == 'instance' and value == doc_uuid
                          or label == doc_name]
            if scope == 'host' and target['operations'].startswith(
                    '(aggregate'):
                continue   # sums over all instances of the host
            if doc_series:
                assert doc_series[0][-1] == pytest.approx(expected), case
    # On this host some panels have data for the guests, some only for
    # the documented instance.
    assert with_data and without_data


def test_vpmu_panels_show_the_guests(dashboard, gnocchi, guests, landed,
                                     window):
    start, stop = window
    [(_, per_instance)] = [(t, x) for t, x in grafana.targets(dashboard)
                           if t == 'vPMU per instance']
    series = dict(grafana.run_target(gnocchi, per_instance, {'host': HOST},
                                     start, stop))
    assert series['e2e-pmu-on'][-1][1] == 1.0
    assert series['e2e-pmu-off'][-1][1] == 0.0
    assert series['e2e-pmu-unset'][-1][1] == 1.0
    assert series['e2e-beta-pmu-on'][-1][1] == 1.0
    [(_, count)] = [(t, x) for t, x in grafana.targets(dashboard)
                    if t == 'Instances with a vPMU']
    [(_, total)] = grafana.run_target(gnocchi, count, {'host': HOST},
                                      start, stop)
    # At each minute: the instances with a vPMU that reported in it
    # (fill=0: the others count 0), whatever minutes the samples fell in.
    for stamp, value in total:
        want = sum(dict(points).get(stamp, 0.0)
                   for points in series.values())
        assert value == want, stamp
    # pmu-on, pmu-unset, beta-pmu-on and the documented instance, all at
    # some minute.
    assert sum(series[name][-1][1] for name in series) == 4.0


def test_cpu_time_of_the_guests(dashboard, gnocchi, guests, landed, window):
    start, stop = window
    [(_, target)] = [(t, x) for t, x in grafana.targets(dashboard)
                     if t == 'CPU time per instance (software counter)']
    series = dict(grafana.run_target(
        gnocchi, target, {'host': HOST, 'poll_interval':
                          str(POLL_INTERVAL_S)}, start, stop))
    for guest in guests.values():
        share = [v for _, v in series[guest.name]]
        # A share of one CPU: positive, and at most the host's CPUs.
        assert 0 < min(share) and max(share) < os.cpu_count() * 1.5, (
            guest.name, share)


# --- With a tenant's token, as Grafana's datasource asks for a tenant.

@pytest.mark.parametrize('tenant', ['alpha', 'beta'])
def test_variables_offer_a_tenant_only_its_instances(
        tenant, dashboard, tenant_gnocchi, guests, tenant_of, landed):
    g = tenant_gnocchi[tenant]
    variables = grafana.variables(dashboard)
    hosts = grafana.run_variable(g, variables['host']['query'], {})
    assert set(hosts) == {(HOST, HOST)}
    instances = grafana.run_variable(
        g, variables['instance']['query'], {'host': HOST})
    assert sorted(instances) == sorted(
        (guest.name, uuid) for uuid, guest in guests.items()
        if tenant_of[uuid] == tenant)


@pytest.mark.parametrize('tenant', ['alpha', 'beta'])
def test_every_panel_shows_a_tenant_only_its_instances(
        tenant, dashboard, tenant_gnocchi, guests, tenant_of, documented,
        landed, window):
    """Host panels: only the tenant's instances; instance panels for
    another tenant's (or the documented) instance: refused, never data."""
    g = tenant_gnocchi[tenant]
    start, stop = window
    own = {guest.name for uuid, guest in guests.items()
           if tenant_of[uuid] == tenant}
    others = [uuid for uuid in guests if tenant_of[uuid] != tenant]
    others.append(documented[0])
    shown = 0
    for title, target in grafana.targets(dashboard):
        values = {'host': HOST, 'poll_interval': str(POLL_INTERVAL_S)}
        if _scope(target) == 'host':
            try:
                series = grafana.run_target(g, target, values, start, stop)
            except chain.ApiError as exc:
                # No instance of the tenant has the metric (no PMU here).
                assert exc.status == 404, title
                continue
            labels = {label for label, _ in series}
            if target['operations'].startswith('(aggregate'):
                # One series summed over the tenant's instances only (the
                # admin's sum reaches 4 here, see above).
                [(_, points)] = series
                assert max(v for _, v in points) <= len(own), title
                continue
            assert labels <= own, (title, labels)
            shown += 1
            continue
        for uuid in others:
            values['instance'] = uuid
            try:
                series = grafana.run_target(g, target, values, start, stop)
            except chain.ApiError as exc:
                assert exc.status in (403, 404), (title, uuid)
                continue
            assert not any(points for _, points in series), (title, uuid)
    assert shown
