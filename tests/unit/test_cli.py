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

"""The operator command: its surface, and its pure parts (patterns,
rates, diagnosis texts)."""

import configparser
import importlib
import os
import subprocess
import sys

import pytest
from xml.etree import ElementTree

from ceilometer_perf import catalogue
from ceilometer_perf.cmd import cli
from ceilometer_perf.ops import diagnosis
from ceilometer_perf.ops import hostprobe


@pytest.mark.parametrize('patterns,expected', [
    (['perf.vpmu'], ['perf.vpmu']),
    (['perf.event.*_clock'], ['perf.event.cpu_clock',
                              'perf.event.task_clock']),
    (['memory.*', 'memory.bandwidth.total'], ['memory.bandwidth.total',
                                              'memory.bandwidth.local']),
    (None, [m.name for m in catalogue.METERS]),
])
def test_select_meters(patterns, expected):
    assert cli.select_meters(patterns) == expected


def test_unknown_pattern_names_the_known_meters():
    with pytest.raises(cli.CommandError) as err:
        cli.select_meters(['perf.cpu.cycles'])
    assert "unknown meter pattern 'perf.cpu.cycles'" in str(err.value)
    assert 'perf.event.cpu_cycles' in str(err.value)


def _sample(volume, type_='cumulative', meter='perf.event.cpu_clock'):
    return {'resource_id': 'r1', 'counter_name': meter,
            'counter_volume': volume, 'counter_type': type_}


def test_rates_only_for_cumulative_and_never_across_a_reset():
    rates = cli.SampleRates()
    assert rates.rate(_sample(100), 10.0) is None
    assert rates.rate(_sample(300), 12.0) == 100.0
    assert rates.rate(_sample(50), 14.0) is None       # counter reset
    assert rates.rate(_sample(250), 16.0) == 100.0
    assert rates.rate(_sample(1, 'gauge', 'perf.vpmu'), 18.0) is None


NOVA_XML = """<domain><metadata>
<nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
  <nova:name>web-1</nova:name>%s
  <nova:owner><nova:user uuid="u"/><nova:project uuid="p"/></nova:owner>
</nova:instance></metadata></domain>"""


@pytest.mark.parametrize('flavor,missing', [
    ('<nova:flavor name="m1" id="7"/>', []),
    ('<nova:flavor name="m1"/>', ['flavor id']),
    ('', ['flavor']),
])
def test_nova_metadata_discovery_needs(flavor, missing):
    root = ElementTree.fromstring(NOVA_XML % flavor)
    assert diagnosis.nova_metadata(root) == ('web-1', missing)


def test_no_nova_metadata():
    root = ElementTree.fromstring('<domain><name>x</name></domain>')
    assert diagnosis.nova_metadata(root)[1] == [
        'the whole <nova:instance> block']


HOST = {'hardware_pmu': {'ok': False, 'detail': 'host has no usable '
                         'hardware PMU (perf_event_open failed: ENOENT)'},
        'rdt_perf_pmu': {'ok': False, 'detail': 'no intel_cqm'},
        'resctrl_problems': {'llc_occupancy': ['resctrl is not mounted'],
                             'mbm_total_bytes': [],
                             'mbm_local_bytes': []}}
INSTANCES = [{'name': 'a', 'perf_events_counted': ['cpu_clock']},
             {'name': 'b', 'perf_events_counted': []}]


@pytest.mark.parametrize('meter,reason,fix', [
    ('perf.event.cpu_cycles', 'cpu_cycles: host has no usable hardware PMU',
     'host PMU'),
    ('perf.event.cpu_clock', 'cpu_clock: not in nova [libvirt] '
     'enabled_perf_events for instance b', 'hard reboot'),
    ('cpu_l3_cache', 'no perf cmt (no intel_cqm) and no resctrl '
     'llc_occupancy: resctrl is not mounted', 'resctrl mounted'),
    ('memory.bandwidth.total', 'no resctrl mbm_total_bytes monitor or '
     'group of ours on instance a, b', 'resctrl_manage_groups = true'),
])
def test_explain(meter, reason, fix):
    got_reason, got_fix = diagnosis.explain(catalogue.BY_NAME[meter], HOST,
                                            INSTANCES)
    assert got_reason.startswith(reason)
    assert fix in got_fix


def test_rdt_perf_pmu_probe(tmp_path):
    assert not hostprobe.rdt_perf_pmu(str(tmp_path)).ok
    (tmp_path / 'intel_cqm').mkdir()
    assert hostprobe.rdt_perf_pmu(str(tmp_path)).ok


def test_software_event_probe_opens_a_real_event():
    # Every Linux kernel has the cpu-clock software event.
    assert hostprobe.software_events().ok


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_console_scripts():
    """One command; the old Gnocchi one is an alias into it."""
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    scripts = dict(
        line.replace(' ', '').split('=') for line in
        parser.get('entry_points', 'console_scripts').split('\n') if line)
    assert scripts == {
        'ceilometer-perf': 'ceilometer_perf.cmd.cli:main',
        'ceilometer-perf-gnocchi': 'ceilometer_perf.cmd.cli:gnocchi_alias'}
    for target in scripts.values():
        module, function = target.split(':')
        assert callable(getattr(importlib.import_module(module), function))
        assert not module.startswith('ceilometer_perf.ops')


@pytest.mark.parametrize('argv', [
    ['poll', '--help'], ['check', '--help'], ['merge-polling', '--help'],
    ['gnocchi', 'merge', '--help'], ['gnocchi', 'mapping', '--help'],
    ['perf-events', '--help']])
def test_subcommands(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith('usage: ceilometer-perf ' + ' '.join(argv[:-1]))
    if 'merge' in ' '.join(argv):
        for option in ('--check', '--diff', '--no-backup'):
            assert option in usage
    if argv[:2] == ['gnocchi', 'merge']:
        assert '--rate-policy' in usage and '--gauge-policy' in usage


# What an offline subcommand must not load: libvirt, Ceilometer's polling
# machinery (any of Ceilometer), the agent's reader and pollsters.
_LOADED = """
import sys
from ceilometer_perf.cmd import cli
code = cli.main(sys.argv[1:], out=open(__import__('os').devnull, 'w'))
print(code, ' '.join(sorted(
    m for m in sys.modules
    if m.split('.')[0] in ('libvirt', 'ceilometer') or m in (
        'ceilometer_perf.reader', 'ceilometer_perf.pollsters',
        'ceilometer_perf.ops.localagent'))))
"""

@pytest.mark.parametrize('argv', [
    ['gnocchi', 'mapping'],
    ['gnocchi', 'merge', '--check', '{tmp}/gnocchi_resources.yaml'],
    ['merge-polling', '--check', '{tmp}/polling.yaml'],
    ['perf-events'],
], ids=lambda argv: ' '.join(argv[:2]))
def test_offline_subcommands_load_no_libvirt(argv, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, '-c', _LOADED] +
        [a.format(tmp=tmp_path) for a in argv],
        capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    code, _, loaded = proc.stdout.strip().partition(' ')
    assert code in ('0', '1')
    assert loaded == ''


def test_deprecated_alias_as_installed(tmp_path):
    """What pip's `ceilometer-perf-gnocchi` script runs."""
    path = tmp_path / 'gnocchi_resources.yaml'
    proc = subprocess.run(
        [sys.executable, '-c', 'import sys\n'
         'from ceilometer_perf.cmd.cli import gnocchi_alias\n'
         'sys.exit(gnocchi_alias())', 'merge', str(path)],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        'ceilometer-perf-gnocchi is deprecated and will be removed: use '
        '`ceilometer-perf gnocchi merge` (or `ceilometer-perf gnocchi '
        'mapping`)']
    assert "created from Ceilometer's packaged" in proc.stdout
    assert 'perf.event.cpu_clock:' in path.read_text()
