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

"""The devstack plugin's phases, run for real against temporary files.

A small shim provides the devstack functions the plugin calls (iniset,
setup_develop, ...); the plugin runs the real `ceilometer-perf` command.
"""

import configparser
import os
import stat
import subprocess
import sys

import pytest
import yaml

from ceilometer_perf.ops import hostprobe
from ceilometer_perf.ops import polling_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SHIM = os.path.join(ROOT, 'tests', 'devstack', 'shim.sh')

OPERATOR_POLLING = """\
# The site's polling: devstack must keep this comment.
sources:
  - name: some_pollsters
    interval: 300
    meters:
      - cpu
      - memory.usage
  - name: perf_vpmu
    interval: 1200
    meters:
      - perf.vpmu
"""


@pytest.fixture
def env(tmp_path):
    conf_dir = tmp_path / 'etc-ceilometer'
    conf_dir.mkdir()
    (conf_dir / 'polling.yaml').write_text(OPERATOR_POLLING)
    os.chmod(conf_dir / 'polling.yaml', 0o640)
    nova = tmp_path / 'nova-cpu.conf'
    nova.write_text('[DEFAULT]\ndebug = True\n\n[libvirt]\nvirt_type = qemu\n')
    env = {'DEST': str(tmp_path), 'CEILOMETER_CONF_DIR': str(conf_dir),
           'NOVA_CPU_CONF': str(nova), 'NOVA_CONF': '/nonexistent',
           'SHIM_LOG': str(tmp_path / 'shim.log'),
           'SHIM_BIN': os.path.dirname(sys.executable),
           'ENABLED_SERVICES': 'n-cpu,ceilometer-acompute',
           'PATH': os.environ['PATH'], 'HOME': str(tmp_path)}
    # The command runs the package under test (a checkout on PYTHONPATH),
    # not whichever one is installed.
    if os.environ.get('PYTHONPATH'):
        env['PYTHONPATH'] = os.environ['PYTHONPATH']
    return env


def phase(env, *args, **overrides):
    script = ('set -eu\nsource %s\nsource %s/devstack/settings\n'
              'source %s/devstack/plugin.sh %s\n'
              % (SHIM, ROOT, ROOT, ' '.join(args)))
    proc = subprocess.run(['bash', '-c', script], capture_output=True,
                          text=True, env=dict(env, **overrides), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def _ini(path):
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser


def test_install_phase(env):
    phase(env, 'stack', 'install')
    with open(env['SHIM_LOG']) as f:
        assert 'setup_develop %s/ceilometer-perf' % env['DEST'] in f.read()


def test_post_config_auto_events_and_polling_merge(env):
    phase(env, 'stack', 'post-config')
    nova = _ini(env['NOVA_CPU_CONF'])
    events = nova.get('libvirt', 'enabled_perf_events').split(',')
    assert events == hostprobe.countable_perf_events()
    # This host has no hardware PMU: such an event would stop guests.
    assert 'cpu_clock' in events and 'cpu_cycles' not in events
    assert nova.get('libvirt', 'virt_type') == 'qemu'
    assert nova.get('DEFAULT', 'debug') == 'True'

    polling_path = os.path.join(env['CEILOMETER_CONF_DIR'], 'polling.yaml')
    with open(polling_path) as f:
        polling = yaml.safe_load(f)
    by_name = {s['name']: s for s in polling['sources']}
    assert by_name['some_pollsters']['meters'] == ['cpu', 'memory.usage']
    # The operator's own perf_vpmu source wins over ours.
    assert by_name['perf_vpmu']['interval'] == 1200
    assert by_name['perf_counters']['meters'] == \
        polling_yaml.polling_sources()[0]['meters']
    backups = [n for n in os.listdir(env['CEILOMETER_CONF_DIR'])
               if n.endswith('.bak')]
    assert len(backups) == 1
    # Only lines added: the operator's comment and mode stay.
    with open(polling_path) as f:
        assert f.read().startswith(OPERATOR_POLLING)
    assert stat.S_IMODE(os.stat(polling_path).st_mode) == 0o640

    # Idempotent: a second run changes nothing and writes no backup.
    with open(polling_path) as f:
        before = f.read()
    phase(env, 'stack', 'post-config')
    with open(polling_path) as f:
        assert f.read() == before
    assert len([n for n in os.listdir(env['CEILOMETER_CONF_DIR'])
                if n.endswith('.bak')]) == 1

    phase(env, 'clean')
    assert not [n for n in os.listdir(env['CEILOMETER_CONF_DIR'])
                if n.endswith('.bak')]


def test_explicit_and_empty_event_lists(env):
    phase(env, 'stack', 'post-config',
          CEILOMETER_PERF_ENABLED_PERF_EVENTS='cpu_clock,task_clock',
          CEILOMETER_PERF_POLLING='False')
    nova = _ini(env['NOVA_CPU_CONF'])
    assert nova.get('libvirt', 'enabled_perf_events') == \
        'cpu_clock,task_clock'
    with open(os.path.join(env['CEILOMETER_CONF_DIR'], 'polling.yaml')) as f:
        assert f.read() == OPERATOR_POLLING

    phase(env, 'stack', 'post-config', CEILOMETER_PERF_ENABLED_PERF_EVENTS='',
          CEILOMETER_PERF_POLLING='False')
    assert _ini(env['NOVA_CPU_CONF']).get(
        'libvirt', 'enabled_perf_events') == 'cpu_clock,task_clock'


def test_never_gives_nova_rdt_events(env):
    # nova drops cmt, mbmt and mbml on every kernel: the plugin never
    # writes them, asked explicitly or not.
    phase(env, 'stack', 'post-config',
          CEILOMETER_PERF_ENABLED_PERF_EVENTS='cmt,cpu_clock,mbmt,mbml',
          CEILOMETER_PERF_POLLING='False')
    assert _ini(env['NOVA_CPU_CONF']).get(
        'libvirt', 'enabled_perf_events') == 'cpu_clock'
    assert not set(hostprobe.countable_perf_events()) & {
        'cmt', 'mbmt', 'mbml'}


def test_bashate_clean():
    for path, ignore in (('devstack/plugin.sh', 'E006'),
                         ('devstack/settings', 'E005,E006'),
                         ('tests/devstack/shim.sh', 'E006')):
        proc = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), 'bashate'),
             '-i', ignore, os.path.join(ROOT, path)],
            capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gnocchi_mapping_merged_when_gnocchi_runs(env):
    from ceilometer_perf import catalogue
    proc = phase(env, 'stack', 'post-config',
                 ENABLED_SERVICES='n-cpu,gnocchi-api',
                 CEILOMETER_PERF_ENABLED_PERF_EVENTS='')
    # The current command, not the deprecated ceilometer-perf-gnocchi.
    assert 'deprecated' not in proc.stderr
    path = os.path.join(env['CEILOMETER_CONF_DIR'], 'gnocchi_resources.yaml')
    with open(path) as f:
        mapping = yaml.safe_load(f)
    instance = [r for r in mapping['resources']
                if r['resource_type'] == 'instance'][0]
    assert set(catalogue.BY_NAME) <= set(instance['metrics'])
    with open(path) as f:
        before = f.read()
    phase(env, 'stack', 'post-config',
          ENABLED_SERVICES='n-cpu,gnocchi-api',
          CEILOMETER_PERF_ENABLED_PERF_EVENTS='')
    with open(path) as f:
        assert f.read() == before
