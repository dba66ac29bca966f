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

"""The Grafana dashboard is well-formed; tests/e2e runs its queries."""

import json
import os

from ceilometer_perf import catalogue

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
PATH = os.path.join(ROOT, 'etc', 'grafana', 'ceilometer-perf.json')


def load():
    with open(PATH) as f:
        return json.load(f)


def all_panels(dashboard):
    for panel in dashboard['panels']:
        yield panel
        yield from panel.get('panels', [])


def test_panel_ids_unique_and_layout_fits():
    panels = list(all_panels(load()))
    ids = [p['id'] for p in panels]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in panels:
        pos = p['gridPos']
        assert 0 <= pos['x'] and pos['x'] + pos['w'] <= 24, p['title']
        for x in range(pos['x'], pos['x'] + pos['w']):
            for y in range(pos['y'], pos['y'] + pos['h']):
                assert (x, y) not in cells, ('overlap', p['title'])
                cells.add((x, y))


def test_queries_name_catalogue_meters_and_policy_aggregations():
    """Counters are read through rate:, gauges through their own
    aggregations (see ceilometer_perf.ops.gnocchi.ARCHIVE_POLICIES)."""
    from ceilometer_perf.ops import gnocchi
    from tests.e2e import chain
    for panel in all_panels(load()):
        for target in panel.get('targets', []):
            refs = chain.metrics_in(target['operations'])
            assert refs, panel['title']
            for name, aggregation in refs:
                meter = catalogue.BY_NAME[name]
                policy = gnocchi.ARCHIVE_POLICIES[gnocchi.policy_for(meter)]
                assert aggregation in policy['aggregation_methods'], (
                    panel['title'], name, aggregation)
                if meter.type == catalogue.CUMULATIVE:
                    assert aggregation.startswith('rate:'), panel['title']


def test_datasource_is_an_input():
    dashboard = load()
    [source] = dashboard['__inputs']
    for panel in all_panels(dashboard):
        if panel['type'] != 'row':
            assert panel['datasource']['uid'] == '${%s}' % source['name']
