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

"""Deployment helpers: polling sources, merges, generated sample config."""

import os
import subprocess
import sys

import pytest
import yaml

from ceilometer_perf import stats
from ceilometer_perf import catalogue
from ceilometer_perf.ops import polling_yaml
from ceilometer_perf.ops import yamlfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_every_meter_in_exactly_one_source():
    names = [n for s in polling_yaml.polling_sources() for n in s['meters']]
    assert sorted(names) == sorted(catalogue.BY_NAME)


def test_slow_groups_never_share_a_task_with_fast_meters():
    from ceilometer_perf import plan

    class Source:
        def __init__(self, source):
            self.source = source

        def get_interval(self):
            return self.source['interval']

        def support_meter(self, name):
            return name in self.source['meters']
    sources = [Source(s) for s in polling_yaml.polling_sources()]
    for source in polling_yaml.polling_sources():
        for own_groups in (False, True):
            groups = plan.task_groups(
                sources, catalogue.BY_NAME[source['meters'][0]], own_groups)
            if source['interval'] == polling_yaml.FAST_INTERVAL:
                assert not groups & stats.SLOW
        groups = set()
        for name in source['meters']:
            groups.update(plan.meter_groups(catalogue.BY_NAME[name], True))
        if groups & stats.SLOW:
            assert source['interval'] not in (polling_yaml.FAST_INTERVAL,
                                              polling_yaml.VPMU_INTERVAL)


def test_merge_keeps_operator_sources_and_is_idempotent():
    theirs = {'sources': [{'name': 'perf_counters', 'interval': 30,
                           'meters': ['perf.event.cpu_clock']},
                          {'name': 'cpu', 'interval': 600,
                           'meters': ['cpu']}]}
    merged, added = polling_yaml.merge_polling(theirs)
    assert 'perf_counters' not in added and 'perf_vpmu' in added
    assert merged['sources'][:2] == theirs['sources']
    again, added_again = polling_yaml.merge_polling(merged)
    assert added_again == [] and again == merged


def test_merge_into_empty_file(tmp_path):
    path = tmp_path / 'polling.yaml'
    outcome, merge = polling_yaml.merge_file(str(path))
    assert outcome.written and outcome.backup is None
    assert merge.added == ['perf_counters', 'perf_cpu_total', 'perf_vpmu']
    assert yaml.safe_load(path.read_text())['sources'] == \
        polling_yaml.polling_sources()


OPERATOR = """\
# Our polling: keep this comment.
sources:
  - name: cpu
    interval: 600   # billing
    meters: [cpu]
  # Our own choice of interval for this one.
  - name: perf_counters
    interval: 30
    meters:
      - perf.event.cpu_clock
"""


def test_merge_text_adds_lines_after_the_operators():
    text, merge = polling_yaml.merge_text(OPERATOR)
    assert merge.added == ['perf_cpu_total', 'perf_vpmu']
    assert not merge.rewritten
    assert text.startswith(OPERATOR)
    assert text[len(OPERATOR):].startswith('  # %s\n  - name: perf_cpu_total'
                                           % polling_yaml.MARK)
    merged, _added = polling_yaml.merge_polling(yaml.safe_load(OPERATOR))
    assert yaml.safe_load(text) == merged
    again, merge = polling_yaml.merge_text(text)
    assert again == text and merge.added == []


@pytest.mark.parametrize('text', [
    '',
    '# Nothing here yet, only this comment.\n',
    '---\n# Comment.\nother_key: 1\n',
], ids=['empty', 'only-comments', 'no-sources-key'])
def test_merge_text_adds_a_sources_key(text):
    new, merge = polling_yaml.merge_text(text)
    assert not merge.rewritten and new.startswith(text)
    data = yaml.safe_load(new)
    assert data['sources'] == polling_yaml.polling_sources()
    assert data.get('other_key', 1) == 1


def test_flow_style_is_rewritten_whole_and_right():
    text = 'sources: [{name: cpu, interval: 600, meters: [cpu]}]\n'
    new, merge = polling_yaml.merge_text(text)
    assert merge.rewritten
    sources = yaml.safe_load(new)['sources']
    assert sources[0] == {'name': 'cpu', 'interval': 600, 'meters': ['cpu']}
    assert sources[1:] == polling_yaml.polling_sources()
    assert polling_yaml.merge_text(new)[1].added == []


@pytest.mark.parametrize('text', ['sources: 3\n', '- a\n', 'a: [b\n'])
def test_not_a_polling_yaml(text):
    with pytest.raises(yamlfile.MergeError):
        polling_yaml.merge_text(text)


def test_shipped_polling_yaml_is_the_generated_one():
    with open(os.path.join(ROOT, 'etc', 'ceilometer', 'polling.yaml')) as f:
        assert f.read() == polling_yaml.polling_yaml()


def test_sample_config_is_up_to_date(tmp_path):
    out = tmp_path / 'sample.conf'
    subprocess.check_call([
        os.path.join(os.path.dirname(sys.executable),
                     'oslo-config-generator'),
        '--config-file', os.path.join(ROOT, 'etc', 'oslo-config-generator',
                                      'ceilometer-perf.conf'),
        '--output-file', str(out)])
    with open(os.path.join(ROOT, 'etc', 'ceilometer',
                           'ceilometer-perf.conf.sample')) as f:
        assert out.read_text() == f.read(), \
            'run oslo-config-generator --config-file ' \
            'etc/oslo-config-generator/ceilometer-perf.conf'
