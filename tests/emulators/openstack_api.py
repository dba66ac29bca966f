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

"""A loopback HTTP stand-in for the Keystone and Nova calls of discovery.

Ceilometer's libvirt_metadata discovery asks the Nova API for what the
domain XML lacks: before 27 always (the server, for its flavor id and,
from 25 on, its metadata), from 27 on only for an instance whose
<nova:flavor> has no id (nova < 32): the flavor list, to find it by name.
It does so through its own code: keystoneauth's password plugin against
Keystone v3, then python-novaclient on the compute endpoint of the token's
catalog.  This server answers exactly those requests, on 127.0.0.1, so
that code runs unchanged over real HTTP:

    GET  /identity/v3                 version discovery
    POST /identity/v3/auth/tokens     a token with a one-endpoint catalog
    GET  /compute/v2.1/servers/<id>   a server it knows, else 404
    GET  /compute/v2.1/flavors        the flavors it knows (id, name)
    GET  /compute/v2.1/flavors/detail the flavors it knows, in full
    GET  /compute/v2.1/flavors/<id>   one flavor, else 404

Anything else answers 404 and is recorded, like every request, in
`requests` (method, path) for the tests to look at.  Servers and flavors
are registered with add_server() / add_flavor().
"""

import datetime
import http.server
import json
import threading
import urllib.parse
import uuid

TOKEN = 'cperf-stand-in-token'
USER = {'id': '7f1b5b5a3f5a4d4e9b1a2c3d4e5f6a7b', 'name': 'ceilometer',
        'domain': {'id': 'default', 'name': 'Default'}}
PROJECT = {'id': '5e0d8ce4c0a8436fb8b1bd4e50c1e1d1', 'name': 'service',
           'domain': {'id': 'default', 'name': 'Default'}}
PASSWORD = 'stand-in'
REGION = 'RegionOne'


class OpenStackStandIn:
    """The server, in a thread: start(), then stop()."""

    def __init__(self):
        self.flavors = {}           # id -> flavor dict
        self.servers = {}           # id -> server dict
        self.requests = []          # (method, path with query)
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    # -- data ------------------------------------------------------------
    def add_flavor(self, flavor_id, name, ram=40, vcpus=1, disk=0,
                   extra_specs=None):
        self.flavors[flavor_id] = {
            'id': flavor_id, 'name': name, 'ram': ram, 'vcpus': vcpus,
            'disk': disk, 'swap': '', 'OS-FLV-EXT-DATA:ephemeral': 0,
            'os-flavor-access:is_public': True, 'rxtx_factor': 1.0,
            'OS-FLV-DISABLED:disabled': False,
            'extra_specs': dict(extra_specs or {}),
            'links': []}

    def add_server(self, server_id, name, flavor_id, metadata=None,
                   tenant_id=PROJECT['id'], user_id=USER['id']):
        self.servers[server_id] = {
            'id': server_id, 'name': name, 'status': 'ACTIVE',
            'tenant_id': tenant_id, 'user_id': user_id,
            'flavor': {'id': flavor_id, 'links': []},
            'image': '', 'metadata': dict(metadata or {}),
            'addresses': {}, 'links': [], 'hostId': '',
            'OS-EXT-STS:vm_state': 'active'}

    def seen(self, prefix=''):
        """Paths requested so far that start with `prefix`."""
        with self._lock:
            return [p for _, p in self.requests if p.startswith(prefix)]

    def forget(self):
        with self._lock:
            del self.requests[:]

    # -- server ----------------------------------------------------------
    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return 'http://%s:%d' % (host, port)

    @property
    def auth_url(self):
        return self.url + '/identity/v3'

    def config_lines(self):
        """ceilometer.conf lines pointing Ceilometer's clients here."""
        return ['[service_credentials]',
                'auth_type = password',
                'auth_url = %s' % self.auth_url,
                'username = %s' % USER['name'],
                'password = %s' % PASSWORD,
                'project_name = %s' % PROJECT['name'],
                'user_domain_id = default',
                'project_domain_id = default',
                'region_name = %s' % REGION,
                'interface = public']

    def start(self):
        stand_in = self

        class Handler(_Handler):
            api = stand_in
        self._httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name='openstack-stand-in',
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None

    def record(self, method, path):
        with self._lock:
            self.requests.append((method, path))

    # -- answers ---------------------------------------------------------
    def token(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp = '%Y-%m-%dT%H:%M:%S.000000Z'
        compute = self.url + '/compute/v2.1'
        return {'token': {
            'methods': ['password'],
            'issued_at': now.strftime(stamp),
            'expires_at': (now + datetime.timedelta(hours=1)).strftime(
                stamp),
            'user': USER, 'project': PROJECT,
            'roles': [{'id': 'r1', 'name': 'admin'}],
            'catalog': [{
                'type': 'compute', 'name': 'nova', 'id': 'nova-service',
                'endpoints': [{'id': str(uuid.uuid4()),
                               'interface': iface, 'region': REGION,
                               'region_id': REGION, 'url': compute}
                              for iface in ('public', 'internal',
                                            'admin')]}]}}

    def version(self):
        return {'version': {
            'id': 'v3.14', 'status': 'stable',
            'updated': '2020-04-07T00:00:00Z',
            'links': [{'rel': 'self', 'href': self.auth_url + '/'}],
            'media-types': [{'base': 'application/json',
                             'type': 'application/vnd.openstack.identity-v3'
                                     '+json'}]}}


class _Handler(http.server.BaseHTTPRequestHandler):
    api = None
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):     # quiet: tests read .requests
        pass

    def _send(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b''
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, what='Not found'):
        self._send(404, {'itemNotFound': {'code': 404, 'message': what}})

    def _authorized(self):
        if self.headers.get('X-Auth-Token') == TOKEN:
            return True
        self._send(401, {'error': {'code': 401, 'title': 'Unauthorized',
                                   'message': 'no valid token'}})
        return False

    def do_GET(self):  # noqa: N802 - http.server's name
        self.api.record('GET', self.path)
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip('/')
        if path == '/identity/v3':
            return self._send(200, self.api.version())
        if not path.startswith('/compute/v2.1'):
            return self._not_found()
        if not self._authorized():
            return None
        rest = path[len('/compute/v2.1'):]
        if rest == '/flavors':
            return self._send(200, {'flavors': [
                {'id': f['id'], 'name': f['name'], 'links': []}
                for f in self.api.flavors.values()]})
        if rest == '/flavors/detail':
            return self._send(200, {'flavors': list(
                self.api.flavors.values())})
        if rest.startswith('/flavors/'):
            flavor = self.api.flavors.get(rest[len('/flavors/'):])
            if flavor is None:
                return self._not_found('Flavor could not be found.')
            return self._send(200, {'flavor': flavor})
        if rest.startswith('/servers/'):
            server = self.api.servers.get(rest[len('/servers/'):])
            if server is None:
                return self._not_found('Instance could not be found.')
            return self._send(200, {'server': server})
        return self._not_found()

    def do_POST(self):  # noqa: N802 - http.server's name
        self.api.record('POST', self.path)
        length = int(self.headers.get('Content-Length') or 0)
        body = json.loads(self.rfile.read(length) or b'{}')
        if self.path.rstrip('/') != '/identity/v3/auth/tokens':
            return self._not_found()
        password = body.get('auth', {}).get('identity', {}).get(
            'password', {}).get('user', {}).get('password')
        if password != PASSWORD:
            return self._send(401, {'error': {
                'code': 401, 'title': 'Unauthorized',
                'message': 'The request you have made requires '
                           'authentication.'}})
        return self._send(201, self.api.token(),
                          headers=[('X-Subject-Token', TOKEN)])
