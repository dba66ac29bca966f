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

"""Aodh's own threshold evaluators, in-process, on alarms we define.

Run by the e2e and functional tests with the Aodh venv's python (tools/
consumers.sh builds it): imports nothing of ours.  Reads JSON on stdin:

    {"db": "/path/aodh.sqlite", "out": "/path/result.json",
     "transport_url": "fake:/",
     "alarms": [{"name": ..., "type": "gnocchi_resources_threshold",
                 "service_credentials": {...}, "rule": {...},
                 "thresholds": [t1, t2, ...]}]}

For each alarm: stored in Aodh's SQL storage in state "insufficient
data", then, for each threshold in turn, its rule updated to it (as the
API does) and the evaluator of its type (loaded from Aodh's
`aodh.evaluator` entry points, as aodh-evaluator does) run once on it.
Writes JSON to `out` (Aodh logs to stdout): per alarm, the state after
each evaluation with Aodh's reason, and the state transitions Aodh
recorded in its alarm history.

The evaluators build their own Gnocchi and Prometheus clients from
[service_credentials], written from the alarm's `service_credentials`:
Keystone password credentials for the e2e Gnocchi (the endpoint from the
catalogue, as in a deployment); for the functional tests' Prometheus,
which has no Keystone, gnocchiclient's `gnocchi-basic` plugin whose
`endpoint` is Prometheus' URL, which the evaluator asks the session for as
it would the catalogue.
"""

import datetime
import json
import os
import sys
import tempfile
import types
import uuid

from oslo_utils import timeutils
from stevedore import driver

from aodh import service
from aodh import storage
from aodh.storage import models

PROJECT = 'c0ffee00c0ffee00c0ffee00c0ffee00'
USER = 'feed0000feed0000feed0000feed0000'


def make_conf(db, transport_url, credentials):
    fd, path = tempfile.mkstemp(suffix='.conf', prefix='aodh-')
    with os.fdopen(fd, 'w') as f:
        f.write('[DEFAULT]\ntransport_url = %s\n'
                '[database]\nconnection = sqlite:///%s\n'
                '[service_credentials]\n' % (transport_url, db))
        for key, value in credentials.items():
            f.write('%s = %s\n' % (key, value))
    try:
        return service.prepare_service([], config_files=[path])
    finally:
        os.unlink(path)


def new_alarm(spec):
    now = timeutils.utcnow()
    return models.Alarm(
        alarm_id=str(uuid.uuid4()), type=spec['type'], enabled=True,
        name=spec['name'], description=spec.get('description', ''),
        timestamp=now, user_id=USER, project_id=PROJECT,
        state=models.Alarm.ALARM_INSUFFICIENT_DATA, state_timestamp=now,
        state_reason='Not evaluated yet', ok_actions=[], alarm_actions=[],
        insufficient_data_actions=[], repeat_actions=False,
        rule=dict(spec['rule']), time_constraints=[], severity='moderate',
        evaluate_timestamp=now)


def stored(conn, alarm_id):
    [alarm] = list(conn.get_alarms(alarm_id=alarm_id))
    return alarm


def run_alarm(conf, spec):
    conn = storage.get_connection_from_config(conf)
    conn.upgrade()
    evaluator = driver.DriverManager(
        'aodh.evaluator', spec['type'], invoke_on_load=True,
        invoke_args=(conf,)).driver
    evaluator.storage_conn = conn
    # Who Aodh records as the author of a transition (Keystone's service
    # user in a deployment).
    evaluator._ks_client = types.SimpleNamespace(user_id=USER,
                                                 project_id=PROJECT)
    alarm = conn.create_alarm(new_alarm(spec))
    evaluations = []
    for threshold in spec['thresholds']:
        alarm = stored(conn, alarm.alarm_id)
        alarm.rule = dict(alarm.rule, threshold=threshold)
        conn.update_alarm(alarm)
        alarm = stored(conn, alarm.alarm_id)
        evaluator.evaluate(alarm)
        after = stored(conn, alarm.alarm_id)
        evaluations.append({'threshold': threshold, 'state': after.state,
                            'reason': after.state_reason})
    changes = conn.get_alarm_changes(alarm.alarm_id, None)
    history = [{'timestamp': c.timestamp.isoformat(),
                'state': json.loads(c.detail)['state'],
                'reason': json.loads(c.detail)['transition_reason']}
               for c in sorted(changes, key=lambda c: c.timestamp)
               if c.type == models.AlarmChange.STATE_TRANSITION]
    return {'name': spec['name'], 'type': spec['type'],
            'rule': dict(spec['rule']), 'evaluations': evaluations,
            'history': history}


def main():
    args = json.load(sys.stdin)
    results = []
    for spec in args['alarms']:
        conf = make_conf(args['db'], args.get('transport_url', 'fake:/'),
                         spec['service_credentials'])
        results.append(run_alarm(conf, spec))
    with open(args['out'], 'w') as f:
        json.dump({'at': datetime.datetime.utcnow().isoformat(),
                   'alarms': results}, f)


if __name__ == '__main__':
    main()
