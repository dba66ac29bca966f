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

"""Guests as nova 31 and nova 34 write them, under the Ceilometer release
installed (tools/matrix.sh runs this under each one requirements.txt
admits).

nova 31 (2025.1) writes <nova:flavor> without id and neither
<nova:extraSpecs> nor <nova:image>; nova 32 and later write all three.
Ceilometer fills the flavor id of the first from the Nova API (here the
loopback stand-in, through Ceilometer's own keystoneauth and novaclient
code): before 27 for every instance (servers.get), from 27 on only for
those (flavor lookup by name).
"""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.functional import agent as agent_mod
from tests.functional import conftest
from tests.functional.conftest import localguests

Guest = localguests.Guest
OLD, NEW = localguests.OLD_SHAPE, localguests.NEW_SHAPE
GUESTS = {g.name: g for g in (
    # nova 31: hw:pmu=true gave <pmu state='on'>; nothing else says so.
    Guest('n31-flavor-pmu-true', nova_version=OLD,
          nova_case='flavor-pmu-true'),
    # nova 31, nothing asked: host-model, no PMU under QEMU.
    Guest('n31-unset', nova_version=OLD, nova_case='unset-host-model'),
    # nova 34: hw:pmu=yes among several extra specs (nova reads it as true).
    Guest('n34-pmu-yes-many-specs', nova_version=NEW,
          nova_case='flavor-pmu-yes-many-specs'),
    # nova 34: the image's hw_pmu=false, written as str(False).
    Guest('n34-image-pmu-false', nova_version=NEW,
          nova_case='image-pmu-false'),
    # nova 34: non-ASCII and XML-special display name.
    Guest('n34-non-ascii', nova_version=NEW, nova_case='non-ascii-names',
          display_name='Sérveur ウェブ <α&β> "q"'),
)}
OLD_GUESTS = [g for g in GUESTS.values() if g.nova_version == OLD]
METERS = ['perf.event.cpu_clock', 'perf.event.context_switches',
          'perf.vpmu']
CLI = [sys.executable, '-m', 'ceilometer_perf.cmd.cli']


def _display(guest):
    return guest.display_name or guest.name


@pytest.fixture(scope='module')
def shaped(hypervisor, openstack_api_stand_in):
    for guest in GUESTS.values():
        conftest.register(openstack_api_stand_in, guest)
    localguests.stop_all(hypervisor)
    localguests.start(hypervisor, GUESTS.values())
    time.sleep(1.0)
    yield GUESTS
    localguests.stop_all(hypervisor)
    # The session's default guests (the `guests` fixture) were stopped
    # with the others: later modules poll them.
    localguests.start(hypervisor)
    time.sleep(1.0)


def _poll(meters=METERS):
    agent = agent_mod.Agent([{'name': 'shapes', 'interval': 60,
                              'meters': meters}])
    samples = [s for s in agent.poll() if s['counter_name'] in meters]
    agent.close()
    return samples


def test_both_shapes_discovered_and_polled(shaped, openstack_api_stand_in):
    api = openstack_api_stand_in
    api.forget()
    samples = _poll()
    by_id = {}
    for s in samples:
        by_id.setdefault(s['resource_id'], {})[s['counter_name']] = s
    for guest in shaped.values():
        mine = by_id.get(guest.uuid)
        assert mine and sorted(mine) == sorted(METERS), guest.name
        meta = mine['perf.vpmu']['resource_metadata']
        assert meta['display_name'] == _display(guest)
        # The flavor id: from the XML (nova >= 32) or from the Nova API.
        assert meta['flavor']['id'] == guest.flavor_id, guest.name
        assert mine['perf.event.cpu_clock']['counter_volume'] > 0

    servers = api.seen('/compute/v2.1/servers/')
    flavor_lookups = api.seen('/compute/v2.1/flavors')
    if agent_mod.CEILOMETER >= (27, 0):
        # Only the instances without a flavor id cost a Nova API call.
        assert servers == []
        assert flavor_lookups, api.requests
    else:
        # Before 27: the server of every instance, whatever its shape.
        assert sorted(set(p.rsplit('/', 1)[1] for p in servers)) == sorted(
            g.uuid for g in shaped.values())


def test_vpmu_as_nova_asked(shaped):
    vpmu = {s['resource_id']: s for s in _poll(['perf.vpmu'])}

    def meta(name):
        return vpmu[shaped[name].uuid]['resource_metadata']

    def volume(name):
        return vpmu[shaped[name].uuid]['counter_volume']

    assert volume('n31-flavor-pmu-true') == 1
    assert meta('n31-flavor-pmu-true')['vpmu_decided_by'] == 'explicit'
    # nova 31 records neither the extra spec nor the image property.
    for name in ('n31-flavor-pmu-true', 'n31-unset'):
        assert not [k for k in meta(name) if k.startswith(
            ('flavor_hw_pmu', 'image_hw_pmu'))], name
    # Not asked: host-model runs as a named model, QEMU gives no PMU.
    assert volume('n31-unset') == 0
    assert meta('n31-unset')['vpmu_decided_by'] == 'inferred'
    assert meta('n31-unset')['vpmu_cpu_mode'] == 'custom'

    assert volume('n34-pmu-yes-many-specs') == 1
    assert volume('n34-image-pmu-false') == 0
    if agent_mod.READS_EXTRA_SPECS:
        assert meta('n34-pmu-yes-many-specs')['flavor_hw_pmu'] is True
        assert meta('n34-pmu-yes-many-specs')['flavor_hw_pmu_raw'] == 'yes'
        assert meta('n34-image-pmu-false')['image_hw_pmu'] is False
        assert meta('n34-image-pmu-false')['image_hw_pmu_raw'] == 'False'
        assert 'flavor_hw_pmu' not in meta('n34-image-pmu-false')
    else:
        # Ceilometer 24 reads neither <nova:extraSpecs> nor <nova:image>.
        assert 'flavor_hw_pmu' not in meta('n34-pmu-yes-many-specs')
        assert 'image_hw_pmu' not in meta('n34-image-pmu-false')


def test_nova_api_unreachable(shaped, tmp_path):
    """What Ceilometer does when the Nova API cannot be reached: from 27
    on, nothing lost while every instance has its flavor id; otherwise no
    instance of this host is discovered (Ceilometer's behaviour, which
    the docs and `check` describe)."""
    conf = tmp_path / 'unreachable.conf'
    conf.write_text('[service_credentials]\nauth_type = password\n'
                    'auth_url = http://127.0.0.1:9/identity/v3\n'
                    'username = x\npassword = x\nproject_name = x\n'
                    'user_domain_id = default\nproject_domain_id = default\n'
                    '[keystone_authtoken]\n')
    agent = agent_mod.localagent.on_libvirt(
        [{'name': 'shapes', 'interval': 60, 'meters': ['perf.vpmu']}],
        'qemu:///system', 'functional-test', [str(conf)])
    mine = {g.uuid for g in shaped.values()}
    found = {'local_instances_cached': mine & {
        s['resource_id'] for s in agent.poll()
        if s['counter_name'] == 'perf.vpmu'}}
    # Ceilometer's own discovery, asked directly (a source naming it would
    # fall back to the pollsters' default when it finds nothing).
    found['local_instances'] = mine & {
        r.id for r in agent.manager.discover(['local_instances'])}
    agent.close()
    # Ceilometer's: one failed lookup, no instance at all.
    assert found['local_instances'] == set(), sorted(found['local_instances'])
    # Ours (the pollsters' default) loses only the instances whose lookup
    # failed: from Ceilometer 27 on, those whose flavor id needs the Nova
    # API (nova 31's); before, every instance is looked up (servers.get).
    expected = set()
    if agent_mod.CEILOMETER >= (27, 0):
        expected = {g.uuid for g in shaped.values() if g.nova_version == NEW}
    assert found['local_instances_cached'] == expected


def _cli(*args):
    proc = subprocess.run(
        CLI + list(args) + [
            '--config-file', agent_mod.CONFIG_FILES[0]],
        capture_output=True, text=True, timeout=180,
        env=dict(os.environ, HOME='/tmp'))
    assert 'Traceback' not in proc.stderr, proc.stderr
    return proc


def test_demo_poll(shaped):
    """The demo's command, `ceilometer-perf poll`, on both shapes."""
    proc = _cli('poll', '--meter', 'perf.event.*', '--meter', 'perf.vpmu',
                '--format', 'json')
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line]
    names = {r['instance_name'] for r in rows if r['meter'] == 'perf.vpmu'}
    assert {_display(g) for g in shaped.values()} <= names


def test_check_no_false_alarm_on_old_shape(shaped):
    proc = _cli('check')
    out = proc.stdout
    report = os.path.join(os.environ.get('CEILOMETER_PERF_REPORT_DIR',
                                         '/tmp'),
                          'ceilometer-perf-check-ceilometer-%d.txt'
                          % agent_mod.CEILOMETER[0])
    with open(report, 'w') as f:
        f.write(out)
    assert 'NOT discovered' not in out, out
    assert 'No meter can produce samples' not in out, out
    for guest in OLD_GUESTS:
        line = next(x for x in out.splitlines() if guest.uuid in x)
        assert 'flavor id from the Nova API' in line, line
    assert 'perf.vpmu' in out
