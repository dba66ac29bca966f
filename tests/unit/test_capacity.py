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

"""The capacity tables and the lean profile, checked against the shipped
files: polling intervals read from etc/ceilometer/polling*.yaml, points
from the policies' own levels counted by hand."""

import os

import pytest
import yaml

from ceilometer_perf import catalogue
from ceilometer_perf.ops import capacity
from ceilometer_perf.ops import gnocchi
from ceilometer_perf.ops import polling_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ETC = os.path.join(ROOT, 'etc', 'ceilometer')


def shipped(name):
    with open(os.path.join(ETC, name)) as f:
        return {m: s['interval'] for s in yaml.safe_load(f)['sources']
                for m in s['meters']}


def test_lean_profile_is_shipped_and_generated():
    with open(os.path.join(ETC, 'polling-lean.yaml')) as f:
        assert f.read() == polling_yaml.lean_polling_yaml(), (
            'run tools/sync-catalogue')


def test_lean_profile_polls_its_meters_at_the_full_profiles_intervals():
    """So the same archive policies fit either profile."""
    full, lean = shipped('polling.yaml'), shipped('polling-lean.yaml')
    assert set(lean) == set(catalogue.LEAN)
    assert all(lean[m] == full[m] for m in lean)
    assert set(catalogue.LEAN) <= set(catalogue.BY_NAME)


@pytest.mark.parametrize('profile,file_name', [
    (None, 'polling.yaml'), (catalogue.LEAN, 'polling-lean.yaml')])
def test_per_instance_costs(profile, file_name):
    intervals = shipped(file_name)
    one = capacity.per_instance(profile)
    assert one.samples_per_minute == pytest.approx(
        sum(60 / i for i in intervals.values()))
    assert one.metrics == one.prometheus_series == len(intervals)
    # Points by hand: each level keeps timespan / granularity points for
    # each aggregation method.
    points = 0
    for name in intervals:
        policy = gnocchi.ARCHIVE_POLICIES[gnocchi.metrics()[name][
            'archive_policy_name']]
        kept = 0
        for level in policy['definition']:
            kept += (gnocchi.parse_duration(level['timespan']) //
                     gnocchi.parse_duration(level['granularity']))
        points += kept * len(policy['aggregation_methods'])
    assert one.points == points
    assert one.storage_bytes == points * capacity.BYTES_PER_POINT


def test_l3_cache_metric_points():
    """An additive gauge: its interval for a day when finer than 300 s,
    300 s for 7 days, 1 h for 90 days, five aggregation methods."""
    name = gnocchi.metrics()['cpu_l3_cache']['archive_policy_name']
    interval = shipped('polling.yaml')['cpu_l3_cache']
    finest = 86400 // interval if interval < 300 else 0
    assert capacity.points_of(name) == (finest + 7 * 288 + 90 * 24) * 5


def test_cloud_table_scales_with_nodes():
    rows = capacity.cloud_rows()
    assert [(r[0], r[1]) for r in rows] == [
        (p, '{:,}'.format(n)) for p, _ in capacity.PROFILES
        for n in capacity.NODES]
    full = capacity.per_instance()
    big = [r for r in rows if r[0] == 'full' and r[1] == '5,000'][0]
    assert big[2] == '200,000'
    assert big[4] == capacity._si(full.metrics * 200000)
    lean = capacity.per_instance(catalogue.LEAN)
    assert lean.points * 3 < full.points
    assert lean.samples_per_minute * 4 < full.samples_per_minute


def test_tables_render():
    rst = capacity.tables_rst()
    for name in gnocchi.ARCHIVE_POLICIES:
        assert name in rst
    assert '5,000' in rst and '200,000' in rst
