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

"""Helpers for the end-to-end chain: Gnocchi's and Aodh's REST APIs, the
log of tenants' accesses, and samples.

The guests' samples travel the whole real chain (ceilometer-polling ->
RabbitMQ -> ceilometer-agent-notification -> Gnocchi publisher ->
gnocchi-api -> gnocchi-metricd).  Meters this host cannot produce (no
hardware PMU, no RDT) come from our pollsters reading the BUILT record
tests/unit/records/documented-all-perf-events.json through a fake libvirt
connection; they are sent to RabbitMQ the way ceilometer-polling sends,
so they travel the same chain from there on.
"""

import copy
import re
import time

import oslo_messaging
import requests
from ceilometer import messaging
from ceilometer import service
from ceilometer.publisher import utils as publisher_utils
from oslo_utils import timeutils

from ceilometer_perf import state
from ceilometer_perf import catalogue
from ceilometer_perf.ops import gnocchi as mapping
from ceilometer_perf.ops import localagent
from ceilometer_perf import pollsters
from tests.unit import fakes

DOCUMENTED = 'documented-all-perf-events.json'


class ApiError(Exception):
    """An OpenStack API's answer of 300 or over (or Keystone's refusal)."""

    def __init__(self, response):
        self.status = response.status_code
        self.body = response.text
        super().__init__('%s %s -> %d %s' % (
            response.request.method, response.request.url,
            response.status_code, response.text[:500]))


class Api:
    """An OpenStack REST API, asked with a Keystone token."""

    def __init__(self, url, token):
        self.url = url.rstrip('/')
        self.session = requests.Session()
        self.session.headers['X-Auth-Token'] = token

    def request(self, method, path, **kwargs):
        response = self.session.request(method, self.url + '/' +
                                        path.lstrip('/'), timeout=30,
                                        **kwargs)
        if response.status_code >= 300:
            raise ApiError(response)
        return response.json() if response.text else None

    def get(self, path, **params):
        return self.request('GET', path, params=params)


class Gnocchi(Api):
    """Just enough of Gnocchi's v1 API."""

    def resource(self, uuid, rtype='instance'):
        return self.get('v1/resource/%s/%s' % (rtype, uuid))

    def metric(self, metric_id):
        return self.get('v1/metric/%s' % metric_id)

    def measures(self, metric_id, aggregation='mean', **params):
        return self.get('v1/metric/%s/measures' % metric_id,
                        aggregation=aggregation, **params)

    def archive_policy(self, name):
        return self.get('v1/archive_policy/%s' % name)


class Aodh(Api):
    """Just enough of Aodh's v2 API."""

    def alarm(self, alarm_id):
        return self.get('v2/alarms/%s' % alarm_id)


def keystone_token(keystone_url, user, password, project):
    """A project-scoped token, as a tenant's client gets one."""
    response = requests.post(
        keystone_url.rstrip('/') + '/v3/auth/tokens', timeout=30,
        json={'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'domain': {'id': 'default'},
                'password': password}}},
            'scope': {'project': {'name': project,
                                  'domain': {'id': 'default'}}}}})
    if response.status_code != 201:
        raise ApiError(response)
    return response.headers['X-Subject-Token']


def attempt(accesses, who, api, method, path, what, **kwargs):
    """(status, body) of one request; recorded in `accesses` (conftest's
    session log) as (who, what, answer)."""
    try:
        body = api.request(method, path, **kwargs)
        status = 200
    except ApiError as exc:
        status, body = exc.status, exc.body
    if status < 300:
        answer = '%d, %s' % (status, _summary(body))
    else:
        answer = '%d' % status
    accesses.append((who, what, answer))
    return status, body


def _summary(body):
    if isinstance(body, list):
        return '%d item(s)' % len(body)
    if isinstance(body, dict) and 'measures' in body:
        return 'measures of %s' % sorted(body['measures'])
    if isinstance(body, dict) and 'alarm_id' in body:
        return 'alarm %s' % body['alarm_id']
    return 'data'


def expected_aggregation(meter):
    """Where a meter's values show: the rate of a counter, else the mean."""
    return 'rate:mean' if meter.type == catalogue.CUMULATIVE else 'mean'


def landed(gnocchi, uuid, meters):
    """{meter: values} for those of `meters` with values on the resource
    (for a counter: values of its rate, which need two raw points)."""
    try:
        resource = gnocchi.resource(uuid)
    except ApiError as exc:
        if exc.status == 404:
            return {}
        raise
    found = {}
    for name in meters:
        metric_id = resource['metrics'].get(name)
        if metric_id is None:
            continue
        meter = catalogue.BY_NAME[name]
        # The finest level of its policy: the shipped polling interval.
        values = [v for _, _, v in gnocchi.measures(
            metric_id, expected_aggregation(meter),
            granularity=mapping.granularity_of(meter))]
        if values:
            found[name] = values
    return found


def wait_until_landed(gnocchi, expected, deadline_s):
    """Wait for every {uuid: meters} to have values; return what landed.

    A bounded wait for an asynchronous chain, not a timing assertion: the
    caller asserts on what is returned.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        got = {uuid: landed(gnocchi, uuid, meters)
               for uuid, meters in expected.items()}
        if all(set(got[u]) >= set(m) for u, m in expected.items()):
            return got
        if time.monotonic() > deadline:
            return got
        time.sleep(2)


def probe_guests(sources, uri, host, cycles=2, pause_s=1.5):
    """({uuid: meters}, {uuid: {(project_id, user_id)}}) our pollsters
    produce for the running guests, from Ceilometer's polling agent
    in-process (two cycles, for meters derived from the difference between
    polls): the meters, and the owners their samples name."""
    agent = localagent.on_libvirt(sources, uri, host)
    produced = {}
    owners = {}
    try:
        for cycle in range(cycles):
            if cycle:
                time.sleep(pause_s)
            for s in agent.poll():
                if s['counter_name'] in catalogue.BY_NAME:
                    produced.setdefault(s['resource_id'], set()).add(
                        s['counter_name'])
                    owners.setdefault(s['resource_id'], set()).add(
                        (s['project_id'], s['user_id']))
    finally:
        agent.close()
    return produced, owners


def documented_instance(host):
    entry = fakes.load(DOCUMENTED)[0]
    instance = fakes.instance(entry['uuid'], name=entry['name'])
    setattr(instance, 'OS-EXT-SRV-ATTR:host', host)
    return entry, instance


def _scaled(entry, factor):
    """The record after `factor` times the recorded interval: counters
    grow linearly, gauges stay."""
    grown = copy.deepcopy(entry)
    for meter in catalogue.METERS:
        if meter.type == catalogue.CUMULATIVE and meter.key in grown['stats']:
            grown['stats'][meter.key] *= factor
    return grown


# Cycles of the documented record sent so far in this process: a later
# call goes on from there, so its counters keep growing (a restart from the
# recorded value would read as a counter reset).
_SENT_CYCLES = [0]


def inject_documented(transport_url, host, cycles=3, pause_s=1.1):
    """Poll the documented record with our pollsters `cycles` times and
    send the samples to RabbitMQ as ceilometer-polling does.

    Returns (uuid, {meter: [volumes in order]}).
    """
    conf = service.prepare_service([], [])
    conf.set_override('host', host)
    entry, instance = documented_instance(host)
    fake = fakes.FakeConnection([entry])
    host_state = state.HostState(conf, opener=lambda uri: fake)
    instances = [instance]
    classes = [pollsters.POLLSTERS[m.class_name] for m in catalogue.METERS]
    transport = messaging.get_transport(conf, url=transport_url, cache=False)
    notifier = oslo_messaging.Notifier(
        transport,
        driver=conf.publisher_notifier.telemetry_driver,
        publisher_id='ceilometer.polling')
    sent = {}
    for cycle in range(cycles):
        if cycle:
            time.sleep(pause_s)
        _SENT_CYCLES[0] += 1
        fake.domains[0].entry = _scaled(entry, _SENT_CYCLES[0])
        cache = {}
        batch = []
        # As the polling manager does: one timestamp per task and cycle.
        stamp = timeutils.utcnow().isoformat()
        for cls in classes:
            pollster = cls(conf)
            pollster.host = host_state
            for sample in pollster.get_samples(None, cache, instances):
                sample.set_timestamp(stamp)
                sent.setdefault(sample.name, []).append(sample.volume)
                batch.append(publisher_utils.meter_message_from_counter(
                    sample, conf.publisher.telemetry_secret))
        notifier.sample({}, 'telemetry.polling', {'samples': batch})
    transport.cleanup()
    return entry['uuid'], sent


METRIC_REF = re.compile(r'\(metric\s+(\S+)\s+(\S+?)\)')


def metrics_in(operations):
    """[(metric name, aggregation)] an operations string refers to."""
    return METRIC_REF.findall(operations)
