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

"""End-to-end harness: the whole chain, from TCG guests to Gnocchi.

One session starts libvirtd if none answers (tools/hypervisor.sh), then
tools/services.sh starts PostgreSQL, RabbitMQ, Keystone (projects alpha
and beta), Gnocchi (auth_mode keystone), Aodh (its API behind Keystone,
aodh-evaluator), ceilometer-agent-notification and ceilometer-polling
with their data in a temporary directory, once, and stops them at the
end, on failure too.  Then it boots the e2e guests (names `e2e-*`,
destroyed at the end, others' guests left alone): two per tenant, their
nova metadata naming the tenant's Keystone project and member user, and
one naming no owner.  Under CI=true anything that cannot be started
fails the run instead of skipping it.  Run it under the shared
hypervisor lock.
"""

import dataclasses
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import yaml

from ceilometer_perf import catalogue
from tests.e2e import chain
from tools import ROOT
from tools import localguests

HYPERVISOR = os.path.join(ROOT, 'tools', 'hypervisor.sh')
SERVICES = os.path.join(ROOT, 'tools', 'services.sh')
URI = 'qemu:///system'
HOST = 'e2e-compute'
POLL_INTERVAL_S = 10
TENANTS = ('alpha', 'beta')
# (tenant, guest): vPMU on, off (four events only), unset with CPU mode
# maximum; two per tenant.  Their owners are set once Keystone has ids.
GUESTS = (
    ('alpha', localguests.Guest('e2e-pmu-on', pmu='on', flavor_pmu='true')),
    ('alpha', localguests.Guest(
        'e2e-pmu-off', pmu='off', flavor_pmu='false',
        events=('cpu_clock', 'task_clock', 'page_faults',
                'context_switches'))),
    ('beta', localguests.Guest('e2e-pmu-unset', cpu_mode='maximum')),
    ('beta', localguests.Guest('e2e-beta-pmu-on', pmu='on',
                               flavor_pmu='true')),
)
# Nova metadata without <nova:owner>: must yield no sample at all.
OWNERLESS = localguests.Guest('e2e-no-owner', project_id=None)
SOURCES = [{'name': 'perf', 'interval': POLL_INTERVAL_S,
            'meters': [m.name for m in catalogue.METERS]}]
# Bounded wait for the asynchronous chain (samples every 10 s, metricd
# every second): generous, it only ends early when all has landed.
LANDING_DEADLINE_S = 150


def _unavailable(reason):
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail('needed in CI: %s' % reason)
    pytest.skip(reason)


def _run(argv):
    # close_fds (the default): daemons must not inherit the caller's
    # hypervisor lock.
    return subprocess.run(argv, capture_output=True, text=True)


@pytest.fixture(scope='session')
def hypervisor():
    was_up = _run([HYPERVISOR, 'status']).returncode == 0
    if not was_up:
        for action in ('install', 'start'):
            proc = _run([HYPERVISOR, action])
            if proc.returncode:
                _unavailable('tools/hypervisor.sh %s: %s' % (
                    action, proc.stderr.strip()[-2000:]))
    conn = localguests.connect(URI)
    yield conn
    conn.close()
    if not was_up:
        _run([HYPERVISOR, 'stop'])


def _destroy(conn, guests):
    for guest in guests:
        try:
            conn.lookupByName(guest.domain_name).destroy()
        except Exception:  # noqa: S110 - not running: nothing to do
            pass


@pytest.fixture(scope='session')
def tenants(services):
    """{tenant: {'project_id', 'user_id', 'user', 'project', 'password'}}
    of alpha and beta; 'admin': the cloud admin's user, project and
    password."""
    got = {t: {'project_id': services[t.upper() + '_PROJECT_ID'],
               'user_id': services[t.upper() + '_USER_ID'],
               'user': t + '-member', 'project': t,
               'password': services[t.upper() + '_PASSWORD']}
           for t in TENANTS}
    got['admin'] = {'user': 'admin', 'project': 'admin',
                    'password': services['ADMIN_PASSWORD']}
    return got


@pytest.fixture(scope='session')
def tenant_of():
    """{uuid: tenant} of the e2e guests."""
    return {guest.uuid: tenant for tenant, guest in GUESTS}


@pytest.fixture(scope='session')
def guests(hypervisor, tenants):
    """The e2e guests of alpha and beta, running: {uuid: Guest} (the
    ownerless one runs too, see `ownerless`)."""
    owned = [dataclasses.replace(g, project_id=tenants[t]['project_id'],
                                 user_id=tenants[t]['user_id'])
             for t, g in GUESTS]
    everyone = owned + [OWNERLESS]
    _destroy(hypervisor, everyone)
    localguests.start(hypervisor, everyone)
    try:
        time.sleep(1.0)
        yield {g.uuid: g for g in owned}
    finally:
        _destroy(hypervisor, everyone)


@pytest.fixture(scope='session')
def ownerless(guests):
    """The running guest whose nova metadata names no owner."""
    return OWNERLESS


def _read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().partition('=')
            env[key] = value
    return env


@pytest.fixture(scope='session')
def services(hypervisor):
    """The chain, started; yields DIR/services.env as a dict (+ DIR)."""
    proc = _run([SERVICES, 'install'])
    if proc.returncode:
        _unavailable('tools/services.sh install: %s'
                     % proc.stderr.strip()[-2000:])
    state = tempfile.mkdtemp(prefix='cperf-e2e-')
    with open(os.path.join(state, 'polling.yaml'), 'w') as f:
        yaml.safe_dump({'sources': SOURCES}, f)
    env = dict(os.environ, CEILOMETER_PERF_E2E_HOST=HOST, LIBVIRT_URI=URI)
    started = subprocess.run([SERVICES, 'start', state], env=env,
                             capture_output=True, text=True)
    try:
        if started.returncode:
            _unavailable('tools/services.sh start: %s'
                         % started.stderr.strip()[-3000:])
        info = _read_env(os.path.join(state, 'services.env'))
        info['DIR'] = state
        yield info
    finally:
        subprocess.run([SERVICES, 'stop', state], capture_output=True)
        if os.environ.get('CEILOMETER_PERF_KEEP_E2E'):
            print('e2e state kept in %s' % state)
        else:
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope='session')
def tokens(services, tenants):
    """{who: project-scoped Keystone token} of alpha's and beta's members
    and the cloud admin, as their clients get them."""
    return {who: chain.keystone_token(services['KEYSTONE_URL'], cred['user'],
                                      cred['password'], cred['project'])
            for who, cred in tenants.items()}


@pytest.fixture(scope='session')
def gnocchi(services, tokens):
    """Gnocchi as the cloud admin (what the chain tests read with)."""
    return chain.Gnocchi(services['GNOCCHI_URL'], tokens['admin'])


@pytest.fixture(scope='session')
def tenant_gnocchi(services, tokens):
    """{tenant: Gnocchi with that tenant member's project token}."""
    return {t: chain.Gnocchi(services['GNOCCHI_URL'], tokens[t])
            for t in TENANTS}


@pytest.fixture(scope='session')
def aodh(services, tokens):
    """{who: Aodh's API with that one's token}: alpha, beta, admin."""
    return {who: chain.Aodh(services['AODH_URL'], token)
            for who, token in tokens.items()}


@pytest.fixture(scope='session')
def accesses(services):
    """[(who, what, answer)]: every access the tenancy tests try, and its
    answer, written at the end of the session to DIR/accesses.txt
    (and to the file $CEILOMETER_PERF_E2E_ACCESSES names, if set)."""
    log = []
    yield log
    text = ''.join('%-6s %-78s %s\n' % row for row in log)
    paths = [os.path.join(services['DIR'], 'accesses.txt')]
    if os.environ.get('CEILOMETER_PERF_E2E_ACCESSES'):
        paths.append(os.environ['CEILOMETER_PERF_E2E_ACCESSES'])
    for path in paths:
        with open(path, 'w') as f:
            f.write(text)


@pytest.fixture(scope='session')
def probed(guests, ownerless):
    """({uuid: meters}, {uuid: {(project_id, user_id)}}): what Ceilometer's
    polling agent in-process makes of the guests here with our pollsters,
    the ownerless one included."""
    return chain.probe_guests(SOURCES, URI, HOST)


@pytest.fixture(scope='session')
def produced(guests, probed):
    """{uuid: meters} our pollsters produce for the e2e guests here: what
    must land in Gnocchi."""
    return {uuid: probed[0].get(uuid, set()) for uuid in guests}


@pytest.fixture(scope='session')
def documented(services):
    """The BUILT documented record's samples, sent onto RabbitMQ:
    (uuid, {meter: volumes})."""
    return chain.inject_documented(services['TRANSPORT_URL'], HOST)


@pytest.fixture(scope='session')
def landed(gnocchi, guests, produced, documented):
    """{uuid: {meter: values}} in Gnocchi once all expected has landed (or
    the deadline passed)."""
    expected = dict(produced)
    doc_uuid, sent = documented
    expected[doc_uuid] = set(sent)
    return chain.wait_until_landed(gnocchi, expected, LANDING_DEADLINE_S)
