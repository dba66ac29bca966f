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

"""The Gnocchi mapping derives from the catalogue; the merge keeps edits.

Merges run on Ceilometer's real packaged gnocchi_resources.yaml (what an
operator's file starts as) and on edited variants of it, and the result
is read back with Ceilometer's own publisher loader.
"""

import dataclasses
import os
import stat

import pytest
import yaml
from ceilometer.publisher import gnocchi as ceilometer_gnocchi
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ceilometer_perf import catalogue
from ceilometer_perf.cmd import cli
from ceilometer_perf.ops import gnocchi
from ceilometer_perf.ops import gnocchi_merge

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SHIPPED = os.path.join(ROOT, 'etc', 'ceilometer',
                       'gnocchi_resources-perf.yaml')
POLLING = os.path.join(ROOT, 'etc', 'ceilometer', 'polling.yaml')


def packaged_text():
    with open(gnocchi_merge.packaged_resources_file()) as f:
        return f.read()


def ceilometer_reads(text, tmp_path, conf):
    """(metric -> (resource type, policy), policies) as the publisher sees
    them."""
    path = tmp_path / 'read-back.yaml'
    path.write_text(text)
    defs, policies = ceilometer_gnocchi.GnocchiPublisher._load_definitions(
        conf, None, str(path))
    seen = {}
    for rd in defs:
        for name, extra in rd.metrics.items():
            seen[name] = (rd.cfg['resource_type'],
                          extra['archive_policy_name'])
    return seen, {p['name']: p for p in policies}


def shipped_intervals():
    """{meter: interval} read from the shipped etc/ceilometer/polling.yaml
    (not from the code that generates it)."""
    with open(POLLING) as f:
        sources = yaml.safe_load(f)['sources']
    found = {}
    for source in sources:
        for name in source['meters']:
            assert name not in found, '%s polled twice' % name
            found[name] = source['interval']
    return found


def expected_policy(meter):
    """By type and unit, suffixed by the shipped polling interval."""
    if meter.type == catalogue.CUMULATIVE:
        name = 'ceilometer-perf-rate'
    elif meter.unit in ('B', 'B/s'):
        name = 'ceilometer-perf-total'
    else:
        name = 'ceilometer-perf'
    interval = shipped_intervals()[meter.name]
    return name if interval == 60 else '%s-%dmin' % (name, interval // 60)


# --- The mapping


@pytest.mark.parametrize('meter', catalogue.METERS, ids=lambda m: m.name)
def test_every_catalogue_meter_is_mapped_on_instance(meter):
    resources = gnocchi.mapping()['resources']
    assert [r['resource_type'] for r in resources] == ['instance']
    assert resources[0]['metrics'][meter.name] == {
        'archive_policy_name': expected_policy(meter)}


def _policy_of(meter):
    policies = {p['name']: p for p in gnocchi.mapping()['archive_policies']}
    name = gnocchi.metrics()[meter.name]['archive_policy_name']
    return policies[name]


@pytest.mark.parametrize('meter', catalogue.METERS, ids=lambda m: m.name)
def test_policy_fits_the_shipped_polling_interval(meter):
    """Every level is the polling interval or a multiple of it (no empty
    buckets), the finest is the interval itself, and what the consumers
    ask for is kept."""
    interval = shipped_intervals()[meter.name]
    policy = _policy_of(meter)
    levels = gnocchi.levels(policy)
    grains = [g for g, _ in levels]
    assert grains[0] == interval, (meter.name, grains)
    assert all(g % interval == 0 for g in grains), (meter.name, grains)
    assert grains == sorted(set(grains))
    # Each level is kept longer than the finer one, and for a day at least.
    spans = [g * points for g, points in levels]
    assert spans == sorted(spans) and spans[0] >= 86400
    # A 5-minute level wherever the interval divides 300 s (Watcher asks
    # for 300 s, 5-minute alarms), hourly trends for 90 days.
    if 300 % interval == 0:
        assert 300 in grains
    assert (3600, 90 * 24) in levels
    methods = set(policy['aggregation_methods'])
    if meter.type == catalogue.CUMULATIVE:
        # Counter rates for dashboards and alarms.
        assert {'rate:mean', 'rate:max'} <= methods
    else:
        assert not any(m.startswith('rate:') for m in methods)
        # Alarms on a gauge's peak, dashboards on its mean and last value.
        assert {'mean', 'max', 'min', 'last'} <= methods
        # Host totals (Aodh's aggregation by resources) need `sum`; only
        # quantities that add up over instances keep it.
        assert ('sum' in methods) == (meter.unit in ('B', 'B/s'))


def test_watcher_gets_a_300s_mean_of_cpu_l3_cache():
    """Watcher's noisy_neighbor asks Gnocchi for granularity 300, mean,
    hard-coded: whichever source polls the meter."""
    policy = _policy_of(catalogue.BY_NAME['cpu_l3_cache'])
    assert 300 in [g for g, _ in gnocchi.levels(policy)]
    assert 'mean' in policy['aggregation_methods']


@pytest.mark.parametrize('interval', [10, 30, 60, 120, 300, 600, 900,
                                      1800, 3600])
def test_policies_for_any_interval_fit(interval):
    for family in (gnocchi.RATE_POLICY, gnocchi.GAUGE_POLICY,
                   gnocchi.TOTAL_POLICY):
        policy = gnocchi.policy(family, interval)
        grains = [g for g, _ in gnocchi.levels(policy)]
        assert grains[0] == interval
        assert all(g % interval == 0 for g in grains)
        if 300 % interval == 0:
            assert 300 in grains


def test_new_catalogue_rows_are_picked_up(monkeypatch):
    """Rows added later (derived gauges, a cumulative overhead counter)
    need no change here."""
    extra = (
        catalogue.Meter(name='perf.ipc', type=catalogue.GAUGE,
                        unit='instruction/cycle', groups=('perf',),
                        help='IPC'),
        catalogue.Meter(name='cpu.overhead', type=catalogue.CUMULATIVE,
                        unit='ns', groups=('cpu_total', 'vcpu'),
                        help='overhead'),
    )
    monkeypatch.setattr(catalogue, 'METERS', catalogue.METERS + extra)
    monkeypatch.setattr(gnocchi, 'intervals', lambda: dict(
        {m.name: 60 for m in catalogue.METERS}, **{'cpu.overhead': 300}))
    metrics = gnocchi.mapping()['resources'][0]['metrics']
    assert metrics['perf.ipc'] == {'archive_policy_name': 'ceilometer-perf'}
    assert metrics['cpu.overhead'] == {
        'archive_policy_name': 'ceilometer-perf-rate-5min'}
    merged = gnocchi_merge.merge_text(packaged_text())
    assert {'perf.ipc', 'cpu.overhead'} <= set(merged.added_metrics)


def test_a_meter_type_without_policy_fails_loudly():
    odd = dataclasses.replace(catalogue.METERS[0], type='histogram')
    with pytest.raises(ValueError):
        gnocchi.policy_for(odd)


def test_shipped_mapping_file_is_generated_from_the_catalogue():
    with open(SHIPPED) as f:
        assert f.read() == gnocchi.render_mapping(), (
            'run tools/sync-catalogue')


# --- Merging into the operator's file


def test_merge_into_packaged_file(tmp_path, conf):
    result = gnocchi_merge.merge_text(packaged_text())
    assert result.changed and not result.rewritten
    assert sorted(result.added_metrics) == sorted(
        m.name for m in catalogue.METERS)
    seen, policies = ceilometer_reads(result.text, tmp_path, conf)
    for meter in catalogue.METERS:
        assert seen[meter.name] == ('instance', expected_policy(meter))
    for name, policy in gnocchi.ARCHIVE_POLICIES.items():
        assert policies[name] == policy
    # Everything Ceilometer mapped before is still mapped the same way.
    before, before_policies = ceilometer_reads(packaged_text(), tmp_path,
                                               conf)
    for name, where in before.items():
        assert seen[name] == where
    for name, policy in before_policies.items():
        assert policies[name] == policy


def test_merge_only_adds_lines():
    """Comments and layout of the operator's file survive."""
    original = packaged_text()
    merged = gnocchi_merge.merge_text(original).text
    added = merged.splitlines()
    for line in original.splitlines():
        added.remove(line)
    assert all(line.strip().startswith(('#', '-')) or ':' in line
               for line in added)
    assert sum(gnocchi_merge.MARK in line for line in added) == 2


def test_merge_is_idempotent():
    once = gnocchi_merge.merge_text(packaged_text()).text
    again = gnocchi_merge.merge_text(once)
    assert not again.changed
    assert again.text == once


EDITED = """\
# Our site's mapping: keep this comment.
archive_policy_default: ceilometer-low
archive_policies:
  - name: ceilometer-low
    aggregation_methods: [mean]
    back_window: 0
    definition:
      - granularity: 5 minutes
        timespan: 30 days
  # We tuned this one.
  - name: ceilometer-perf
    aggregation_methods: [mean, last]
    back_window: 0
    definition:
      - granularity: 10 minutes
        timespan: 7 days

resources:
  - resource_type: instance
    metrics:
      cpu:
        archive_policy_name: ceilometer-low
      # Perf clock: kept at 5 minutes on purpose.
      perf.event.cpu_clock:
        archive_policy_name: ceilometer-low
    attributes:
      display_name: resource_metadata.display_name
      host: resource_metadata.(instance_host|host)

  - resource_type: our_perf_host
    metrics:
      perf.vpmu:
"""


def test_merge_keeps_the_operators_edits(tmp_path, conf):
    result = gnocchi_merge.merge_text(EDITED)
    assert not result.rewritten
    text = result.text
    for comment in ("# Our site's mapping: keep this comment.",
                    '# We tuned this one.',
                    '# Perf clock: kept at 5 minutes on purpose.'):
        assert comment in text
    seen, policies = ceilometer_reads(text, tmp_path, conf)
    # Their choices stand: policy of cpu_clock, perf.vpmu elsewhere, their
    # definition of ceilometer-perf.
    assert seen['perf.event.cpu_clock'] == ('instance', 'ceilometer-low')
    assert seen['perf.vpmu'] == ('our_perf_host', 'ceilometer-low')
    assert policies['ceilometer-perf']['definition'][0]['granularity'] == (
        '10 minutes')
    assert set(result.kept) == {'perf.event.cpu_clock', 'perf.vpmu'}
    # The rest is added, with our rate policy defined alongside.
    assert seen['perf.event.task_clock'] == ('instance',
                                             gnocchi.RATE_POLICY)
    assert seen['cpu_l3_cache'] == ('instance', expected_policy(
        catalogue.BY_NAME['cpu_l3_cache']))
    # Their ceilometer-perf stays as they defined it; ours are added.
    added = [p['name'] for p in result.added_policies]
    assert gnocchi.GAUGE_POLICY not in added
    assert gnocchi.RATE_POLICY in added
    assert set(added) == {
        expected_policy(m) for m in catalogue.METERS
        if m.name not in result.kept} - {gnocchi.GAUGE_POLICY}


def test_instance_resource_added_when_the_file_has_none(tmp_path, conf):
    text = ('resources:\n  - resource_type: image\n'
            '    metrics:\n      image.size:\n')
    result = gnocchi_merge.merge_text(text)
    assert result.added_resource and not result.rewritten
    data = yaml.safe_load(result.text)
    [instance] = [r for r in data['resources']
                  if r['resource_type'] == 'instance']
    # Attributes from Ceilometer's packaged instance resource.
    assert instance['attributes']['display_name'] == (
        'resource_metadata.display_name')
    assert 'flavor_id' in instance['attributes']
    assert set(instance['metrics']) == {m.name for m in catalogue.METERS}
    seen, _ = ceilometer_reads(result.text, tmp_path, conf)
    assert seen['image.size'][0] == 'image'


def test_archive_policies_section_added_when_missing():
    text = ('resources:\n  - resource_type: instance\n    metrics:\n'
            '      cpu:\n')
    result = gnocchi_merge.merge_text(text)
    assert not result.rewritten
    data = yaml.safe_load(result.text)
    assert [p['name'] for p in data['archive_policies']] == list(
        gnocchi.ARCHIVE_POLICIES)
    assert {p['name'] for p in data['archive_policies']} == {
        expected_policy(m) for m in catalogue.METERS}


@pytest.mark.parametrize('text', [
    # flow-style metrics
    'resources: [{resource_type: instance, metrics: {cpu: null}}]\n',
    # the old list form of metrics
    'resources:\n  - resource_type: instance\n    metrics:\n      - cpu\n',
], ids=['flow-style', 'metrics-as-list'])
def test_layouts_not_extended_in_place_are_rewritten_right(text, tmp_path,
                                                           conf):
    result = gnocchi_merge.merge_text(text)
    assert result.rewritten
    seen, _ = ceilometer_reads(result.text, tmp_path, conf)
    assert seen['cpu'] == ('instance', 'ceilometer-low')
    for meter in catalogue.METERS:
        assert seen[meter.name] == ('instance', expected_policy(meter))
    assert not gnocchi_merge.merge_text(result.text).changed


@pytest.mark.parametrize('text', [
    # the instance resource without a metrics key
    'resources:\n  - resource_type: instance\n    attributes:\n'
    '      host: resource_metadata.host\n',
    # the instance resource built by a YAML merge key
    'base: &base\n  resource_type: instance\n  attributes:\n'
    '    host: resource_metadata.host\nresources:\n  - <<: *base\n',
], ids=['no-metrics-key', 'merge-key'])
def test_entries_not_extended_in_place_are_rewritten_right(text, tmp_path,
                                                           conf):
    result = gnocchi_merge.merge_text(text)
    assert result.rewritten and not result.added_resource
    seen, _ = ceilometer_reads(result.text, tmp_path, conf)
    for meter in catalogue.METERS:
        assert seen[meter.name] == ('instance', expected_policy(meter))
    [instance] = yaml.safe_load(result.text)['resources']
    assert instance['attributes'] == {'host': 'resource_metadata.host'}
    assert not gnocchi_merge.merge_text(result.text).changed


@pytest.mark.parametrize('text', ['- just\n- a list\n', 'resources: 3\n',
                                  'a: [unclosed\n'])
def test_not_a_resources_file(text):
    with pytest.raises(gnocchi_merge.MergeError):
        gnocchi_merge.merge_text(text)


def test_policy_choice_from_the_command_line(tmp_path, conf):
    wanted = gnocchi.mapping(rate_policy='ceilometer-low-rate',
                             gauge_policy='ceilometer-low')
    result = gnocchi_merge.merge_text(packaged_text(), wanted)
    assert result.added_policies == []
    assert result.foreign_policies == set()
    seen, _ = ceilometer_reads(result.text, tmp_path, conf)
    assert seen['perf.event.cpu_clock'][1] == 'ceilometer-low-rate'


# Property: whatever subset of our meters the operator already mapped, and
# however, the merge keeps those, adds exactly the others, and is stable.
_names = [m.name for m in catalogue.METERS]


@settings(max_examples=40, deadline=None)
@given(premapped=st.dictionaries(
    st.sampled_from(_names),
    st.sampled_from([None, 'low', 'ceilometer-low-rate', 'custom'])))
def test_merge_property(premapped):
    lines = ['resources:', '  - resource_type: instance', '    metrics:',
             '      cpu:']
    for name, policy in premapped.items():
        lines.append('      %s:' % name)
        if policy:
            lines.append('        archive_policy_name: %s' % policy)
    text = '\n'.join(lines) + '\n'
    result = gnocchi_merge.merge_text(text)
    data = yaml.safe_load(result.text)
    metrics = data['resources'][0]['metrics']
    for name, policy in premapped.items():
        want = {'archive_policy_name': policy} if policy else None
        assert metrics[name] == want
    assert set(result.added_metrics) == set(_names) - set(premapped)
    assert set(metrics) == set(_names) | {'cpu'}
    assert result.text.startswith(text)
    assert not gnocchi_merge.merge_text(result.text).changed


# --- The command


def run(argv, capsys):
    """`ceilometer-perf gnocchi ARGV`."""
    code = cli.main(['gnocchi'] + argv)
    return code, capsys.readouterr()


def test_command_merge_writes_backup_and_is_idempotent(tmp_path, capsys):
    path = tmp_path / 'gnocchi_resources.yaml'
    path.write_text(EDITED)
    os.chmod(path, 0o640)
    code, out = run(['merge', str(path)], capsys)
    assert code == 0
    [backup] = [p for p in tmp_path.iterdir() if p.name.endswith('.bak')]
    assert backup.read_text() == EDITED
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert 'kept your mapping of perf.event.cpu_clock' in out.out
    merged = path.read_text()

    code, out = run(['merge', str(path)], capsys)
    assert code == 0
    assert 'up to date' in out.out
    assert path.read_text() == merged
    assert len([p for p in tmp_path.iterdir()
                if p.name.endswith('.bak')]) == 1


def test_command_check_changes_nothing(tmp_path, capsys):
    path = tmp_path / 'gnocchi_resources.yaml'
    path.write_text(EDITED)
    code, out = run(['merge', '--check', '--diff', str(path)], capsys)
    assert code == 1
    assert '+      perf.event.task_clock:' in out.out
    assert path.read_text() == EDITED
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    run(['merge', str(path)], capsys)
    code, _ = run(['merge', '--check', str(path)], capsys)
    assert code == 0


def test_command_creates_a_missing_file_from_the_packaged_one(tmp_path,
                                                              capsys):
    path = tmp_path / 'gnocchi_resources.yaml'
    code, out = run(['merge', str(path)], capsys)
    assert code == 0
    assert 'created from Ceilometer' in out.out
    assert path.read_text() == gnocchi_merge.merge_text(packaged_text()).text


def test_command_writes_through_a_symlink(tmp_path, capsys):
    real = tmp_path / 'real.yaml'
    real.write_text(EDITED)
    link = tmp_path / 'gnocchi_resources.yaml'
    link.symlink_to(real)
    code, _ = run(['merge', str(link)], capsys)
    assert code == 0
    assert link.is_symlink()
    assert 'perf.event.task_clock' in real.read_text()


def test_command_refuses_a_broken_file(tmp_path, capsys):
    path = tmp_path / 'gnocchi_resources.yaml'
    path.write_text('resources: [unclosed\n')
    code, out = run(['merge', str(path)], capsys)
    assert code == 2
    assert 'not valid YAML' in out.err
    assert path.read_text() == 'resources: [unclosed\n'


def test_command_prints_the_mapping(capsys):
    code, out = run(['mapping'], capsys)
    assert code == 0
    assert out.out == gnocchi.render_mapping()


def test_command_policy_options(tmp_path, capsys):
    path = tmp_path / 'gnocchi_resources.yaml'
    path.write_text(EDITED)
    code, out = run(['merge', '--rate-policy', 'site-rate',
                     '--gauge-policy', 'ceilometer-low', str(path)], capsys)
    assert code == 0
    metrics = [r for r in yaml.safe_load(path.read_text())['resources']
               if r['resource_type'] == 'instance'][0]['metrics']
    assert metrics['perf.event.task_clock'] == {
        'archive_policy_name': 'site-rate'}
    assert metrics['cpu_l3_cache'] == {
        'archive_policy_name': 'ceilometer-low'}
    assert ('archive policy site-rate is not defined in this file'
            in out.out)
    assert 'ceilometer-low is not defined' not in out.out


def test_deprecated_alias_warns_and_does_the_same(tmp_path, capsys):
    old = tmp_path / 'old.yaml'
    new = tmp_path / 'new.yaml'
    old.write_text(EDITED)
    new.write_text(EDITED)
    code = cli.gnocchi_alias(['merge', '--check', str(old)])
    out = capsys.readouterr()
    assert code == 1 and old.read_text() == EDITED
    assert out.err.count('\n') == 1
    assert 'deprecated' in out.err
    assert 'use `ceilometer-perf gnocchi merge`' in out.err

    assert cli.gnocchi_alias(['merge', str(old)]) == 0
    alias_out = capsys.readouterr().out
    assert run(['merge', str(new)], capsys)[0] == 0
    assert old.read_text() == new.read_text() != EDITED
    # EDITED maps perf.event.cpu_clock and perf.vpmu already.
    assert 'added %d metrics' % (len(catalogue.METERS) - 2) in alias_out

    assert cli.gnocchi_alias(['mapping']) == 0
    assert capsys.readouterr().out == gnocchi.render_mapping()
