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

"""Run a Grafana dashboard's Gnocchi queries the way its datasource does.

The dashboard uses the Gnocchi datasource plugin
(gnocchixyz-gnocchi-datasource).  This issues the same HTTP requests the
plugin's datasource.js issues for the query modes and variable queries the
dashboard uses, after Grafana's variable interpolation, so every query in
the JSON is tried against a real Gnocchi.  A query mode not implemented
here makes the test fail rather than go untested.
"""

import json
import re

from tests.e2e import chain

SUPPORTED_MODES = ('dynamic_aggregates',)

_RESOURCES = re.compile(
    r'^resources\(([^,]*),\s?([^,]*),\s?([^,]+?),\s?([^\)]+?)\)')
_RESOURCES_LEGACY = re.compile(
    r'^resources\(([^,]*),\s?([^,]*),\s?([^\)]+?)\)')


def load(path):
    with open(path) as f:
        return json.load(f)


def panels(dashboard):
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get('panels', []):
        yield panel
        yield from panel.get('panels', [])


def targets(dashboard):
    """[(panel title, target)] of every query of the dashboard."""
    return [(p['title'], t) for p in panels(dashboard)
            for t in p.get('targets', [])]


def variables(dashboard):
    return {v['name']: v for v in dashboard['templating']['list']}


def interpolate(text, values):
    """Grafana's $var / ${var} replacement, for the variables it knows."""
    if text is None:
        return None
    for name in sorted(values, key=len, reverse=True):
        text = text.replace('${%s}' % name, str(values[name]))
        text = re.sub(r'\$%s\b' % re.escape(name), str(values[name]), text)
    return text


def compute_label(label, resource, metric, aggregation):
    """The plugin's _compute_label."""
    if not label:
        return resource['id'] if resource else 'no label'
    for key, value in (resource or {}).items():
        label = label.replace('${%s}' % key, str(value))
        label = label.replace('$%s' % key, str(value))
    for key, value in (('metric', metric), ('aggregation', aggregation),
                       ('aggregator', aggregation)):
        label = label.replace('${%s}' % key, str(value))
        label = label.replace('$%s' % key, str(value))
    return label


def _points(measures):
    """[(timestamp, value)] of the finest granularity, as the plugin
    draws them (it drops coarser points that overlap finer ones)."""
    if not measures:
        return []
    finest = min(g for _, g, _ in measures)
    return [(t, v) for t, g, v in measures if g == finest]


def _series_from(result, user_label, group=None):
    """[(label, points)] from an /v1/aggregates answer (details=true)."""
    measures = result['measures']
    resources = {r['id']: r for r in result.get('references', [])
                 if isinstance(r, dict) and 'id' in r}
    series = []
    for rid, by_metric in measures.items():
        if rid == 'aggregated':
            series.append((compute_label(user_label, group, 'aggregated', ''),
                           _points(by_metric)))
            continue
        for metric, by_agg in by_metric.items():
            for agg, points in by_agg.items():
                series.append((compute_label(user_label, resources.get(rid),
                                             metric, agg),
                               _points(points)))
    return series


def run_target(gnocchi, target, values, start, stop):
    """[(label, [(timestamp, value)])] for one panel target; ApiError
    on failure."""
    mode = target.get('queryMode')
    if mode not in SUPPORTED_MODES:
        raise AssertionError('query mode %r is not exercised by the test'
                             % mode)
    operations = interpolate(target['operations'], values)
    search = interpolate(target.get('resource_search'), values)
    label = interpolate(target.get('label'), values)
    groupby = interpolate(target.get('groupby'), values)
    params = {'start': start, 'end': stop, 'stop': stop, 'details': 'true'}
    for key in ('fill', 'needed_overlap', 'granularity'):
        if target.get(key) not in (None, ''):
            params[key] = interpolate(str(target[key]), values)
    body = {'operations': operations}
    if search and search.strip():
        body['search'] = search
        body['resource_type'] = target.get('resource_type')
    if groupby:
        params['groupby'] = groupby.split(',')
        result = gnocchi.request('POST', 'v1/aggregates', params=params,
                                 json=body)
        series = []
        for group in result:
            series.extend(_series_from(group['measures'], label,
                                       group['group']))
        return series
    result = gnocchi.request('POST', 'v1/aggregates', params=params,
                             json=body)
    return _series_from(result, label)


def run_variable(gnocchi, query, values):
    """[(text, value)] of a `resources(...)` variable query."""
    match = _RESOURCES.match(query)
    if match:
        rtype, display, value_attr, search = match.groups()
    else:
        match = _RESOURCES_LEGACY.match(query)
        if not match:
            raise AssertionError('variable query %r is not exercised by '
                                 'the test' % query)
        rtype, value_attr, search = match.groups()
        display = '$' + value_attr
    value_attr = value_attr.lstrip('$')
    search = interpolate(search, values)
    attrs = set(re.findall(r'\$\{?([A-Za-z_]+)\}?', display))
    attrs.add(value_attr)
    params = {'attrs': sorted(attrs)}
    if search.strip().startswith('{'):
        found = gnocchi.request('POST', 'v1/search/resource/' + rtype,
                                params=params, json=json.loads(search))
    else:
        params['filter'] = search
        found = gnocchi.request('POST', 'v1/search/resource/' + rtype,
                                params=params)
    return [(compute_label(display, r, 'unknown', 'none'), r[value_attr])
            for r in found]


def metrics_of(target):
    """Metric names a target's operations refer to."""
    return {name for name, _ in chain.metrics_in(target['operations'])}
