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

"""tools/keystone_setup.py against a stand-in for Keystone's v3 API.

The e2e tests run it against the real Keystone once per start; here: what
it grants to whom, and that a second run (users found, not created) gives
the same ids, sets the passwords again and adds no duplicate service or
endpoint.  Keystone answers 409 to a name taken, as the real one does.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
import uuid

import pytest

from tools import ROOT

SCRIPT = os.path.join(ROOT, 'tools', 'keystone_setup.py')
PASSWORDS = {'ADMIN_PASSWORD': 'a', 'ALPHA_PASSWORD': 'b',
             'BETA_PASSWORD': 'c', 'CEILOMETER_PASSWORD': 'd',
             'GNOCCHI_PASSWORD': 'e', 'AODH_PASSWORD': 'f'}


class FakeKeystone(http.server.BaseHTTPRequestHandler):
    store = None
    calls = None

    def log_message(self, *args):
        pass

    def _answer(self, code, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b''
        self.send_response(code)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get('Content-Length', 0))
        return json.loads(self.rfile.read(length)) if length else None

    def do_POST(self):
        body = self._body()
        self.calls.append(('POST', self.path, body))
        if self.path == '/v3/auth/tokens':
            assert self.headers.get('X-Auth-Token') is None
            return self._answer(201, {}, [('X-Subject-Token', 'tok')])
        assert self.headers['X-Auth-Token'] == 'tok'
        kind = self.path.split('/')[2]
        item = body[kind[:-1]]
        if kind in ('roles', 'projects', 'users') and any(
                x['name'] == item['name'] for x in self.store[kind]):
            return self._answer(409, {'error': {'code': 409}})
        item = dict(item, id=uuid.uuid4().hex)
        self.store[kind].append(item)
        return self._answer(201, {kind[:-1]: item})

    def do_GET(self):
        self.calls.append(('GET', self.path, None))
        path, _, query = self.path.partition('?')
        kind = path.split('/')[2]
        wanted = dict(p.split('=') for p in query.split('&') if p)
        return self._answer(200, {kind: [
            x for x in self.store[kind]
            if all(x.get(k) == v for k, v in wanted.items())]})

    def do_PATCH(self):
        self.calls.append(('PATCH', self.path, self._body()))
        return self._answer(200, {})

    def do_PUT(self):
        self.calls.append(('PUT', self.path, None))
        _, _, project, _, user, _, role = self.path.split('/')[1:]
        self.store['grants'].add((project, user, role))
        return self._answer(204)


@pytest.fixture
def keystone():
    store = {'roles': [{'id': 'r-' + n, 'name': n}
                       for n in ('admin', 'member', 'reader')],
             'projects': [{'id': 'p-admin', 'name': 'admin',
                           'domain_id': 'default'}],
             'users': [], 'services': [], 'endpoints': [],
             'grants': set()}
    handler = type('Handler', (FakeKeystone,), {'store': store,
                                                'calls': []})
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1], handler
    server.shutdown()
    server.server_close()


def _run(url):
    proc = subprocess.run(
        [sys.executable, SCRIPT, url, 'http://127.0.0.1:1/', '5'],
        env=dict(os.environ, **PASSWORDS), capture_output=True, text=True,
        timeout=60)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split('=', 1) for line in proc.stdout.split())


def test_roles_projects_users_and_endpoints(keystone):
    url, fake = keystone
    ids = _run(url)
    store = fake.store
    name_of = {x['id']: x['name'] for kind in ('roles', 'projects', 'users')
               for x in store[kind]}
    grants = {tuple(name_of[i] for i in g) for g in store['grants']}
    assert grants == {('alpha', 'alpha-member', 'member'),
                      ('beta', 'beta-member', 'member'),
                      ('service', 'ceilometer', 'admin'),
                      ('service', 'aodh', 'admin'),
                      ('service', 'gnocchi', 'service')}
    assert {name_of[ids[k + '_PROJECT_ID']]
            for k in ('ALPHA', 'BETA', 'SERVICE')} == {
        'alpha', 'beta', 'service'}
    assert name_of[ids['ALPHA_USER_ID']] == 'alpha-member'
    passwords = {u['name']: u['password'] for u in store['users']}
    assert passwords == {'alpha-member': 'b', 'beta-member': 'c',
                         'ceilometer': 'd', 'gnocchi': 'e', 'aodh': 'f'}
    [service] = store['services']
    assert (service['name'], service['type']) == ('gnocchi', 'metric')
    assert sorted(e['interface'] for e in store['endpoints']) == [
        'admin', 'internal', 'public']
    # Logged in as the bootstrap admin, with its password.
    login = fake.calls[0][2]['auth']
    assert login['identity']['password']['user']['password'] == 'a'
    assert login['scope']['project']['name'] == 'admin'
    # Users just created get no second password request.
    assert not [c for c in fake.calls if c[0] == 'PATCH']


def test_a_second_run_finds_what_the_first_made(keystone):
    url, fake = keystone
    first = _run(url)
    del fake.calls[:]
    assert _run(url) == first
    assert len(fake.store['services']) == 1
    assert len(fake.store['endpoints']) == 3
    patched = sorted(c[1] for c in fake.calls if c[0] == 'PATCH')
    assert patched == sorted('/v3/users/' + first[k + '_USER_ID']
                             for k in ('ALPHA', 'BETA', 'CEILOMETER',
                                       'AODH', 'GNOCCHI'))
