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

"""Our samples through Ceilometer's own Prometheus exporter, and the rules.

The exporter is the installed Ceilometer's (ceilometer.polling.
prom_exporter); the samples come from the real pollsters on recorded bulk
stats.  tests/functional/test_prometheus.py does the same with a real
polling agent, real guests and a real Prometheus server.
"""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ceilometer import sample as ceilometer_sample
from ceilometer.compute.pollsters import util

from ceilometer_perf import catalogue
from ceilometer_perf.ops import doctables
from ceilometer_perf.ops import prometheus
from tests.unit import fakes
from tests.unit.conftest import poll

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RULES_DIR = os.path.join(ROOT, 'etc', 'prometheus')
RULES = os.path.join(RULES_DIR, 'ceilometer-perf.rules.yaml')
RULE_TESTS = os.path.join(RULES_DIR, 'ceilometer-perf.rules.test.yaml')

DOCUMENTED = 'documented-all-perf-events.json'
REAL_TCG = 'real-tcg-guests-perf-state.json'

# Labels that say which meter a series is; the others describe the
# instance and must be the same as for Ceilometer's own meters.
METER_LABELS = {'type', 'counter', 'unit'}


def _poll_cycle(host, instances):
    """Every catalogue meter once, sharing one cycle's cache."""
    cache = {}
    samples = []
    for meter in catalogue.METERS:
        samples += poll(host, meter.name, instances, cache)
    return samples


def _export(samples):
    return prometheus.export([prometheus.sample_message(s)
                              for s in samples])


def _first_label(meter_name):
    return meter_name.split('.')[0]


def _instance_labels(series, first):
    return {k: v for k, v in series.labels.items()
            if k not in METER_LABELS | {first}}


def _ceilometer_cpu_series(conf, instance):
    """Ceilometer's own `cpu` meter for the same instance, exported."""
    sample = util.make_sample_from_instance(
        conf, instance, name='cpu', type='cumulative', unit='ns', volume=1)
    [series] = _export([sample])
    return series


@pytest.mark.parametrize('record', [DOCUMENTED, REAL_TCG])
def test_our_samples_become_one_series_each_with_ceilometers_labels(
        make_host, conf, record):
    entries = fakes.load(record)
    instances = fakes.instances_for(entries)
    samples = _poll_cycle(make_host(entries), instances)
    series = _export(samples)
    assert len(series) == len(samples)
    by_uuid = {i.id: i for i in instances}
    for s in series:
        meter = catalogue.BY_NAME[s.labels['counter']]
        first = _first_label(meter.name)
        assert s.metric == 'ceilometer_' + meter.name.replace('.', '_')
        assert s.type == 'gauge'
        assert s.labels['unit'] == meter.unit
        # Our metadata (vPMU, monitors, ...) adds no label and changes
        # none: exactly the labels Ceilometer's own meters carry.
        theirs = _ceilometer_cpu_series(
            conf, by_uuid[s.labels['resource']])
        assert _instance_labels(s, first) == _instance_labels(theirs, 'cpu')


def test_every_stat_and_vpmu_row_is_exported(make_host):
    entries = fakes.load(DOCUMENTED)
    series = _export(_poll_cycle(make_host(entries),
                                 fakes.instances_for(entries)))
    exported = {s.labels['counter'] for s in series}
    assert {m.name for m in catalogue.METERS
            if m.kind in (catalogue.KIND_STAT, catalogue.KIND_VPMU)} <= \
        exported


def test_series_stay_one_per_instance_and_meter_across_cycles(make_host):
    """Label values must not change from cycle to cycle (cardinality)."""
    entries = fakes.load(REAL_TCG)
    host = make_host(entries)
    instances = fakes.instances_for(entries)
    first = _poll_cycle(host, instances)
    for dom in host.fake.domains:
        for key, value in dom.entry['stats'].items():
            if key.startswith('perf.'):
                dom.entry['stats'][key] = value + 1000
    second = _poll_cycle(host, instances)
    # The exporter keeps a metric's series until the next cycle purges it:
    # samples of two cycles in one registry show any label that varies.
    series = _export(first + second)
    keys = [(s.labels['counter'], s.labels['resource']) for s in series]
    assert len(keys) == len(set(keys))
    latest = {(s.name, s.resource_id): s.volume for s in first}
    latest.update({(s.name, s.resource_id): s.volume for s in second})
    assert set(keys) == set(latest)
    for s, key in zip(series, keys, strict=True):
        assert s.value == latest[key]


@pytest.mark.parametrize('meter', catalogue.METERS, ids=lambda m: m.name)
def test_every_catalogue_row_has_a_valid_prometheus_shape(meter):
    series = prometheus.example_series(meter)
    assert prometheus.METRIC_NAME.match(series.metric)
    first = _first_label(meter.name)
    assert first in series.labels
    for name in series.labels:
        assert prometheus.LABEL_NAME.match(name), name
        assert not name.startswith('__'), name
        assert name not in prometheus.TARGET_LABELS, name


def test_metric_names_are_unique_and_not_ceilometers():
    ours = [prometheus.example_series(m).metric for m in catalogue.METERS]
    assert len(ours) == len(set(ours))
    theirs = set()
    conf = prometheus.default_conf()
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group.startswith('ceilometer.poll.') and \
                    not ep.value.startswith('ceilometer_perf'):
                sample = util.make_sample_from_instance(
                    conf, prometheus.example_instance(), name=ep.name,
                    type=ceilometer_sample.TYPE_GAUGE, unit='x', volume=1)
                theirs.update(s.metric for s in _export([sample]))
    assert 'ceilometer_perf_cpu_cycles' in theirs  # so the check bites
    assert not theirs & set(ours)


def test_docs_prometheus_table_has_one_row_per_meter():
    """admin/prometheus.rst's table, as doc/source/_exts renders it."""
    exps = prometheus.expositions()
    table = doctables.prometheus_table(exps)
    assert doctables.missing_meters(table) == []
    assert doctables.first_column(table) == [m.name for m in
                                             catalogue.METERS]
    for exp, row in zip(exps, prometheus.table_rows(exps), strict=True):
        assert row[:2] == (exp.meter.name, exp.metric)
    assert 'Prometheus type of every metric: ``gauge``.' in table
    assert '``vm_instance``' in table


def test_docs_prometheus_table_check_can_fail():
    exps = prometheus.expositions()
    table = doctables.prometheus_table(exps[1:])
    assert doctables.missing_meters(table) == [exps[0].meter.name]


def test_table_rows_follow_the_catalogue():
    cycles = prometheus.exposition(catalogue.BY_NAME['perf.event.cpu_cycles'])
    assert cycles.meter_labels == {'perf': 'cpu_cycles', 'type': 'event'}
    assert cycles.read_as == 'rate(): cycle/s'
    assert prometheus.label_text(cycles) == 'perf="cpu_cycles", type="event"'
    l3 = prometheus.exposition(catalogue.BY_NAME['cpu_l3_cache'])
    assert l3.meter_labels['cpu_l3_cache'] == '<resource id>'
    assert l3.read_as == 'value: B'
    assert prometheus.label_text(l3) == ('cpu_l3_cache=<resource id>, '
                                         'type="cpu_l3_cache"')


# The rules.

def _rules():
    with open(RULES) as f:
        return [rule for group in yaml.safe_load(f)['groups']
                for rule in group['rules']]


EXPORTED = re.compile(r'(?<![:\w])(ceilometer_\w+)(?![:\w])')
RECORDED = re.compile(r'(?<![:\w])(\w+:\w+:\w+)(?![:\w])')


def test_rules_use_only_exported_metrics_and_defined_records():
    exported = {prometheus.example_series(m).metric
                for m in catalogue.METERS}
    rules = _rules()
    records = {r['record'] for r in rules if 'record' in r}
    used_metrics = set()
    for rule in rules:
        used_metrics.update(EXPORTED.findall(rule['expr']))
        for name in RECORDED.findall(rule['expr']):
            assert name in records, (rule, name)
    assert used_metrics <= exported, used_metrics - exported
    # The rules cover the software, hardware and RDT meters.
    assert {'ceilometer_perf_event_cpu_clock',
            'ceilometer_perf_event_instructions',
            'ceilometer_perf_event_cache_misses', 'ceilometer_cpu_l3_cache',
            'ceilometer_memory_bandwidth_total'} <= used_metrics
    alerts = {r['alert'] for r in rules if 'alert' in r}
    assert alerts == {'InstanceIpcDrop', 'InstanceCacheMissRatioSpike',
                      'NoisyNeighbourL3Cache',
                      'NoisyNeighbourMemoryBandwidth',
                      'InstanceMajorPageFaults'}


SERIES = re.compile(r'^\s*(\w+)\s*\{(.*)\}\s*$', re.S)
LABEL = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def test_rule_test_series_have_the_exporters_shape():
    """The promtool tests feed series shaped like the real exporter's."""
    by_metric = {prometheus.example_series(m).metric: m
                 for m in catalogue.METERS}
    with open(RULE_TESTS) as f:
        tests = yaml.safe_load(f)['tests']
    seen = set()
    for case in tests:
        for item in case['input_series']:
            name, body = SERIES.match(item['series']).groups()
            labels = dict(LABEL.findall(body))
            meter = by_metric[name]
            example = prometheus.example_series(meter)
            assert set(labels) == set(example.labels) | set(
                prometheus.TARGET_LABELS), name
            first = _first_label(meter.name)
            for key in METER_LABELS | {first}:
                want = example.labels[key]
                if want == prometheus.EXAMPLE_RESOURCE_ID:
                    want = labels['resource']
                assert labels[key] == want, (name, key)
            seen.add(meter.name)
    assert len(seen) >= 8


def _promtool():
    here = os.path.join(os.path.dirname(sys.executable), 'promtool')
    found = here if os.access(here, os.X_OK) else shutil.which('promtool')
    if found:
        return found
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail('promtool missing: tools/install.sh puts it in the venv')
    pytest.skip('promtool not installed (tools/install.sh installs it)')


def _run_promtool(*args):
    proc = subprocess.run([_promtool()] + list(args), capture_output=True,
                          text=True, cwd=RULES_DIR, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_promtool_check_rules():
    code, out = _run_promtool('check', 'rules', RULES)
    assert code == 0, out
    assert 'SUCCESS: %d rules found' % len(_rules()) in out


def test_promtool_unit_tests_of_the_rules():
    code, out = _run_promtool('test', 'rules', RULE_TESTS)
    assert code == 0, out
    assert 'SUCCESS' in out


def test_promtool_unit_tests_can_fail(tmp_path):
    """A broken threshold makes the shipped promtool tests fail."""
    with open(RULES) as f:
        rules = f.read()
    broken = rules.replace('resource:ceilometer_cpu_l3_cache:host_share '
                           '> 0.5', 'resource:ceilometer_cpu_l3_cache:'
                           'host_share > 0.9')
    assert broken != rules
    (tmp_path / os.path.basename(RULES)).write_text(broken)
    shutil.copy(RULE_TESTS, tmp_path)
    proc = subprocess.run(
        [_promtool(), 'test', 'rules', os.path.basename(RULE_TESTS)],
        capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert proc.returncode != 0
    assert 'NoisyNeighbourL3Cache' in proc.stdout + proc.stderr
