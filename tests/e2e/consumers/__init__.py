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

"""The consumers of our meters, run with their own code in their own venvs.

tools/consumers.sh builds the Watcher and Aodh venvs once (stamped); the
scripts here run in them and talk to the e2e Gnocchi (or the functional
tests' Prometheus) over HTTP, as those services would.
"""

import datetime
import json
import os
import subprocess
import tempfile
import time

import pytest

from tools import ROOT

CONSUMERS = os.path.join(ROOT, 'tools', 'consumers.sh')
HERE = os.path.dirname(os.path.abspath(__file__))


def _unavailable(reason):
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail('needed in CI: %s' % reason)
    pytest.skip(reason)


def python_of(consumer):
    """The consumer's venv python, built if missing."""
    proc = subprocess.run([CONSUMERS, 'install', consumer],
                          capture_output=True, text=True)
    if proc.returncode:
        _unavailable('tools/consumers.sh install %s: %s'
                     % (consumer, proc.stderr.strip()[-2000:]))
    return subprocess.run([CONSUMERS, 'python', consumer],
                          capture_output=True, text=True,
                          check=True).stdout.strip()


def run(consumer, script, payload, timeout=300):
    """Run tests/e2e/consumers/SCRIPT in the consumer's venv with the JSON
    payload on stdin: its stdout (with `out` set, that file's JSON)."""
    python = python_of(consumer)
    with tempfile.TemporaryDirectory(prefix='cperf-%s-' % consumer) as tmp:
        payload = dict(payload)
        if payload.pop('out', None):
            payload['out'] = os.path.join(tmp, 'out.json')
        if 'db' in payload:
            payload['db'] = os.path.join(tmp, payload['db'])
        proc = subprocess.run(
            [python, os.path.join(HERE, script)], input=json.dumps(payload),
            capture_output=True, text=True, timeout=timeout, cwd=tmp)
        assert proc.returncode == 0, '%s failed:\n%s\n%s' % (
            script, proc.stdout[-3000:], proc.stderr[-3000:])
        if 'out' in payload:
            with open(payload['out']) as f:
                return json.load(f), proc.stdout + proc.stderr
        return json.loads(proc.stdout), proc.stderr


def keystone_auth(services, who):
    """keystoneauth v3 password options for one of conftest's `tenants`."""
    return {'auth_url': services['KEYSTONE_URL'].rstrip('/') + '/v3',
            'username': who['user'], 'password': who['password'],
            'project_name': who['project']}


def _stamp(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def wait_for_point(gnocchi, uuid, meter, granularity, aggregation, since,
                   deadline_s=90):
    """The newest (timestamp, value) of the meter at that granularity once
    Gnocchi has a point of a bucket that holds `since` or later: a bounded
    wait for metricd, not a timing assertion."""
    floor = since - since % granularity
    end = time.monotonic() + deadline_s
    while True:
        metric_id = gnocchi.resource(uuid)['metrics'][meter]
        points = gnocchi.measures(metric_id, aggregation,
                                  granularity=granularity)
        if points and _stamp(points[-1][0]) >= floor:
            return _stamp(points[-1][0]), points[-1][2]
        if time.monotonic() > end:
            pytest.fail('no %s %s point at %d s since %s in Gnocchi: %s'
                        % (meter, aggregation, granularity, since,
                           points[-3:]))
        time.sleep(1)
