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

"""`ceilometer-perf poll|check` as an operator runs them, on real guests."""

import json
import os
import subprocess
import sys
import time

import pytest

from ceilometer_perf import catalogue
from tests.functional.conftest import localguests

CLI = os.path.join(os.path.dirname(sys.executable), 'ceilometer-perf')


def run(*args, user=None):
    cmd = [CLI] + list(args)
    if user:
        cmd = ['setpriv', '--reuid=%s' % user, '--regid=%s' % user,
               '--clear-groups', '--'] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HOME='/tmp'))
    assert 'Traceback' not in proc.stderr, proc.stderr
    return proc


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line]


def _ours(rows, guests):
    uuids = {g.uuid for g in guests.values()}
    return [r for r in rows if r['instance_id'] in uuids]


def test_poll_table(guests):
    proc = run('poll', '--meter', 'perf.event.cpu_clock', '--meter',
               'perf.vpmu')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ['INSTANCE', 'ID', 'METER', 'VOLUME', 'UNIT',
                                'TYPE']
    for guest in guests.values():
        mine = [x.split() for x in lines if guest.uuid in x]
        assert sorted(row[2] for row in mine) == ['perf.event.cpu_clock',
                                                  'perf.vpmu']


def test_poll_json_with_rates(guests):
    proc = run('poll', '--meter', 'perf.event.*_clock', '--format', 'json',
               '--interval', '1', '--count', '2')
    assert proc.returncode == 0, proc.stderr
    rows = _ours(_json_lines(proc.stdout), guests)
    assert {r['cycle'] for r in rows} == {1, 2}
    fields = {'cycle', 'timestamp', 'instance_id', 'instance_name', 'meter',
              'volume', 'unit', 'type', 'rate_per_second', 'metadata'}
    for row in rows:
        assert set(row) == fields
        assert row['unit'] == 'ns' and row['type'] == 'cumulative'
        if row['cycle'] == 1:
            assert row['rate_per_second'] is None
        else:
            # A busy-looping SeaBIOS guest uses a good share of a core.
            assert row['rate_per_second'] > 1e6
    assert len([r for r in rows if r['cycle'] == 2]) == 2 * len(guests)


def test_check_agrees_with_poll(guests, hypervisor):
    bare = localguests.Guest('no-nova-metadata', nova_metadata=False)
    localguests.start(hypervisor, [bare])
    try:
        time.sleep(1)
        check = run('check', '--format', 'json')
        poll = run('poll', '--format', 'json', '--interval', '1',
                   '--count', '2')
    finally:
        hypervisor.lookupByName(bare.domain_name).destroy()
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    polled = {}
    for row in _json_lines(poll.stdout):
        polled.setdefault(row['meter'], set()).add(row['instance_name'])
    names = set(guests)
    verdicts = {m['meter']: m for m in report['meters']}
    assert set(verdicts) == set(catalogue.BY_NAME)
    for meter, verdict in verdicts.items():
        ours = set(verdict['instances']) & names
        assert ours == polled.get(meter, set()) & names, meter
        assert verdict['ok'] == bool(polled.get(meter)), meter

    assert 'no usable hardware PMU' in \
        verdicts['perf.event.cpu_cycles']['reason']
    migr = verdicts['perf.event.cpu_migrations']
    assert migr['ok'] and 'pmu-off' in migr['reason']
    assert 'enabled_perf_events' in migr['reason']
    assert 'hard reboot' in migr['fix']
    # No perf CMT/MBM and no resctrl here: check says both.
    for meter, feature in (('cpu_l3_cache', 'llc_occupancy'),
                           ('memory.bandwidth.total', 'mbm_total_bytes')):
        reason = verdicts[meter]['reason']
        assert 'no perf' in reason and 'no resctrl %s' % feature in reason
        assert not verdicts[meter]['ok']

    by_name = {i['name']: i for i in report['instances']}
    assert by_name['pmu-on']['vpmu'] == {'enabled': True,
                                         'decided_by': 'explicit',
                                         'cpu_mode': 'custom'}
    assert by_name['pmu-unset']['vpmu']['decided_by'] == 'inferred'
    assert by_name['pmu-off']['perf_events_enabled'] == sorted(
        guests['pmu-off'].events)
    stray = by_name[bare.domain_name]
    assert not stray['discoverable']
    assert stray['nova_metadata_missing'] == [
        'the whole <nova:instance> block']
    assert not report['host']['hardware_pmu']['ok']
    assert report['host']['software_events']['ok']


def test_check_text_report(guests):
    proc = run('check')
    assert proc.returncode == 0, proc.stderr
    assert 'hardware PMU:' in proc.stdout
    assert 'perf.event.cpu_clock' in proc.stdout
    assert 'meters produce samples on this host' in proc.stdout


def test_check_exit_status_when_nothing_can_be_collected():
    # libvirt's test driver: one running domain, no nova metadata.
    proc = run('check', '--libvirt-uri', 'test:///default')
    assert proc.returncode == 1
    assert 'No meter can produce samples' in proc.stdout


@pytest.mark.parametrize('args,message', [
    (['poll', '--libvirt-uri', 'qemu+unix:///system?socket=/nonexistent'],
     'cannot open a read-only libvirt connection'),
    (['check', '--libvirt-uri', 'qemu:///nowhere'],
     'cannot open a read-only libvirt connection'),
    (['poll', '--meter', 'perf.cpu.cycles'],
     "unknown meter pattern 'perf.cpu.cycles'"),
    (['poll', '--config-file', '/nonexistent/ceilometer.conf'],
     'bad configuration'),
])
def test_clear_errors(args, message):
    proc = run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stderr.startswith('ceilometer-perf: error:')


def test_bad_config_file(tmp_path):
    bad = tmp_path / 'ceilometer.conf'
    bad.write_text('[DEFAULT\nlibvirt_type = qemu\n')
    proc = run('poll', '--config-file', str(bad))
    assert proc.returncode == 2
    assert 'Invalid section' in proc.stderr


def test_permission_denied(root_only_socket):
    proc = run('check', '--libvirt-uri',
               'qemu+unix:///system?socket=%s' % root_only_socket,
               user='65534')
    assert proc.returncode == 2
    assert 'Permission denied' in proc.stderr


def test_check_reports_configuration_the_agent_would_ignore(guests,
                                                             tmp_path):
    polling = tmp_path / 'polling.yaml'
    polling.write_text('sources:\n  - name: perf\n    interval: 60\n'
                       '    meters: [perf.event.cpu_clock, perf.ipcc]\n')
    conf = tmp_path / 'ceilometer.conf'
    conf.write_text('[polling]\ncfg_file = %s\n[ceilometer_perf]\n'
                    'stats_timeout = -3\n' % polling)
    proc = run('check', '--config-file', str(conf))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'Configuration: 2 problem(s)' in proc.stdout
    assert "  ERROR [ceilometer_perf] stats_timeout: Value for option " \
        "stats_timeout in %s is not valid: Should be greater than or equal " \
        "to 0; using the default, 10.0" % conf in proc.stdout
    assert "  ERROR polling source 'perf': no installed pollster provides " \
        "meter 'perf.ipcc' (did you mean 'perf.ipc'?)" in proc.stdout
    # The rest of the report is still there.
    assert 'meters produce samples on this host' in proc.stdout
    as_json = json.loads(run('check', '--config-file', str(conf),
                             '--format', 'json').stdout)
    assert len(as_json['config_problems']) == 2
