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

"""The e2e chain's Keystone contents, created through its v3 API.

After `keystone-manage bootstrap` (the `admin` user, project and role):
projects `service`, `alpha` and `beta`; a member user per tenant
(`alpha-member`, `beta-member`); the `ceilometer` service user with the
`admin` role on `service` (what Ceilometer's install guide gives it: its
Gnocchi publisher looks the `service` project up to filter it out and
ceilometer-upgrade creates resource types); the `aodh` service user,
`admin` on `service` as Aodh's install guide has it (its evaluators read
every tenant's metrics in Gnocchi, its API validates tokens); the
`gnocchi` service user with only the `service` role (keystonemiddleware
validates tokens with it); the `metric` service `gnocchi` and its
endpoints, where Ceilometer's publisher finds Gnocchi.  Prints shell
assignments (ids and passwords) for services.env.  Standard library
only: runs under any python3.

    ADMIN_PASSWORD=... ALPHA_PASSWORD=... BETA_PASSWORD=... \
    CEILOMETER_PASSWORD=... AODH_PASSWORD=... GNOCCHI_PASSWORD=... \
        keystone_setup.py KEYSTONE_URL GNOCCHI_URL [DEADLINE_S]

Prints the ids as shell assignments (ALPHA_PROJECT_ID=..., ...); the
passwords are the caller's.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

DOMAIN = 'default'
REGION = 'RegionOne'
TENANTS = ('alpha', 'beta')
# user: (project, role)
USERS = {'alpha-member': ('alpha', 'member'),
         'beta-member': ('beta', 'member'),
         'ceilometer': ('service', 'admin'),
         'aodh': ('service', 'admin'),
         'gnocchi': ('service', 'service')}


class Keystone:
    def __init__(self, url):
        if not url.startswith(('http://', 'https://')):
            raise SystemExit('keystone_setup: not an HTTP URL: %s' % url)
        self.url = url.rstrip('/')
        self.token = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        # An http(s) URL: checked in __init__.
        req = urllib.request.Request(self.url + path, data=data,  # noqa: S310
                                     method=method)
        req.add_header('Content-Type', 'application/json')
        if self.token:
            req.add_header('X-Auth-Token', self.token)
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            text = resp.read()
            return resp.headers, json.loads(text) if text else None

    def login(self, user, password, project):
        headers, _ = self.call('POST', '/v3/auth/tokens', token_request(
            user, password, project))
        self.token = headers['X-Subject-Token']

    def find_or_create(self, kind, name, body, **filters):
        """(id, created) of the `kind` (e.g. 'projects') called `name`.

        Creates first, looks up on a conflict: on a fresh Keystone one
        request (each costs seconds on a busy test host).
        """
        try:
            _, made = self.call('POST', '/v3/' + kind,
                                {kind[:-1]: dict(body, name=name)})
            return made[kind[:-1]]['id'], True
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
        query = '&'.join(['name=%s' % name] +
                         ['%s=%s' % kv for kv in sorted(filters.items())])
        _, found = self.call('GET', '/v3/%s?%s' % (kind, query))
        return found[kind][0]['id'], False

    def grant(self, project_id, user_id, role_id):
        self.call('PUT', '/v3/projects/%s/users/%s/roles/%s' % (
            project_id, user_id, role_id))


def token_request(user, password, project):
    """The body of a project-scoped password token request."""
    return {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': user, 'domain': {'id': DOMAIN},
            'password': password}}},
        'scope': {'project': {'name': project,
                              'domain': {'id': DOMAIN}}}}}


def wait_for_token(keystone, password, deadline_s):
    """Log in as admin, retrying while Keystone comes up."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            keystone.login('admin', password, 'admin')
            return
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            if time.monotonic() > deadline:
                raise SystemExit('keystone_setup: no token from %s after '
                                 '%d s: %s' % (keystone.url, deadline_s,
                                               exc)) from exc
            time.sleep(1)


def provision(keystone, gnocchi_url, passwords):
    """Create what the chain needs; {name: id} for services.env.

    `passwords`: {user: password}; a user found (a second run) gets it.
    """
    out = {}
    roles = {name: keystone.find_or_create('roles', name, {})[0]
             for name in ('admin', 'member', 'reader', 'service')}
    projects = {name: keystone.find_or_create(
        'projects', name, {'domain_id': DOMAIN,
                           'description': 'ceilometer-perf e2e'},
        domain_id=DOMAIN)[0]
        for name in ('service',) + TENANTS}
    for user, (project, role) in USERS.items():
        password = passwords[user]
        user_id, created = keystone.find_or_create(
            'users', user, {'domain_id': DOMAIN, 'password': password,
                            'default_project_id': projects[project]},
            domain_id=DOMAIN)
        if not created:
            # Found (a second run): the password given now.
            keystone.call('PATCH', '/v3/users/' + user_id,
                          {'user': {'password': password}})
        keystone.grant(projects[project], user_id, roles[role])
        key = user.split('-')[0].upper()
        out[key + '_USER_ID'] = user_id
    for project, project_id in projects.items():
        out[project.upper() + '_PROJECT_ID'] = project_id
    # Service names are not unique in Keystone: look up first.
    _, found = keystone.call('GET', '/v3/services?type=metric')
    if found['services']:
        service_id = found['services'][0]['id']
    else:
        _, made = keystone.call('POST', '/v3/services', {'service': {
            'name': 'gnocchi', 'type': 'metric'}})
        service_id = made['service']['id']
    _, existing = keystone.call('GET', '/v3/endpoints?service_id=%s'
                                % service_id)
    have = {e['interface'] for e in existing['endpoints']}
    for interface in ('public', 'internal', 'admin'):
        if interface not in have:
            keystone.call('POST', '/v3/endpoints', {'endpoint': {
                'service_id': service_id, 'interface': interface,
                'url': gnocchi_url, 'region_id': REGION}})
    return out


def main(argv):
    url, gnocchi_url = argv[1:3]
    deadline_s = int(argv[3]) if len(argv) > 3 else 240
    passwords = {user: os.environ[user.split('-')[0].upper() + '_PASSWORD']
                 for user in USERS}
    keystone = Keystone(url)
    wait_for_token(keystone, os.environ['ADMIN_PASSWORD'], deadline_s)
    for key, value in sorted(provision(keystone, gnocchi_url,
                                       passwords).items()):
        print('%s=%s' % (key, value))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
