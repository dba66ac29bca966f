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

"""Ceilometer's polling agent with its Prometheus exporter, really scraped.

A real `ceilometer-polling --polling-namespaces compute` process (the
console script) with [polling] enable_prometheus_exporter on and
notifications off, TCG guests of our own, the endpoint parsed with
prometheus_client's text parser; then a real Prometheus server scraping
that endpoint with the shipped rules.  Every process started here is
stopped at the end, whatever happens.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from prometheus_client import parser as prom_parser
import yaml

from ceilometer_perf import catalogue
from ceilometer_perf.ops import prometheus
from tests.functional import conftest
from tests.functional.conftest import localguests

BIN = os.path.dirname(sys.executable)
RULES = os.path.join(conftest.ROOT, 'etc', 'prometheus',
                     'ceilometer-perf.rules.yaml')
HOST = 'prom-functional'
POLL_INTERVAL = 2

FEW_EVENTS = ('cpu_clock', 'task_clock', 'context_switches',
              'page_faults_maj')
GUESTS = {g.name: g for g in (
    localguests.Guest('prom-all', pmu='on', flavor_pmu='true'),
    localguests.Guest('prom-few', pmu='off', events=FEW_EVENTS),
)}
METRIC = {m.name: prometheus.example_series(m).metric
          for m in catalogue.METERS}
METER_OF_METRIC = {metric: name for name, metric in METRIC.items()}


def _enabled(guest):
    return {'perf.event.%s' % e for e in guest.events}


def _binary(name):
    here = os.path.join(BIN, name)
    found = here if os.access(here, os.X_OK) else shutil.which(name)
    if found:
        return found
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail('%s missing: tools/install.sh installs it' % name)
    pytest.skip('%s not installed (tools/install.sh installs it)' % name)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _start(cmd, log_path):
    with open(log_path, 'w') as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(proc):
    """Stop the process and every child of its session, and make sure."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # cotyledon's workers are in the group; none may outlive the master.
    for _ in range(50):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError('processes of group %d survived' % proc.pid)


def _tail(path, lines=40):
    with open(path) as f:
        return ''.join(f.readlines()[-lines:])


def _get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


def _wait_for(what, check, proc, log_path, deadline=90):
    """check() until it returns something true; fail with the log."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail('%s exited (%s) before %s:\n%s' % (
                proc.args[0], proc.returncode, what, _tail(log_path)))
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    pytest.fail('no %s within %ds; log:\n%s' % (what, deadline,
                                                  _tail(log_path)))


@dataclasses.dataclass
class Series:
    type: str
    labels: dict
    value: float


def scrape(url):
    """{(metric, guest name): Series} of our guests' series."""
    by_uuid = {g.uuid: g.name for g in GUESTS.values()}
    found = {}
    for family in prom_parser.text_string_to_metric_families(_get(url)):
        for s in family.samples:
            guest = by_uuid.get(s.labels.get('resource'))
            if guest is None:
                continue
            key = (s.name, guest)
            assert key not in found, 'two series for %s' % (key,)
            found[key] = Series(family.type, dict(s.labels), s.value)
    return found


@pytest.fixture(scope='module')
def prom_guests(hypervisor):
    localguests.start(hypervisor, GUESTS.values())
    try:
        time.sleep(1.0)
        yield GUESTS
    finally:
        for guest in GUESTS.values():
            try:
                hypervisor.lookupByName(guest.domain_name).destroy()
            except Exception:
                pass


@dataclasses.dataclass
class Agent:
    proc: subprocess.Popen
    url: str
    address: str
    log: str


@pytest.fixture(scope='module')
def polling_agent(prom_guests, tmp_path_factory):
    conf_dir = tmp_path_factory.mktemp('ceilometer')
    address = '127.0.0.1:%d' % _free_port()
    polling_yaml = conf_dir / 'polling.yaml'
    polling_yaml.write_text(yaml.safe_dump({'sources': [
        {'name': 'perf', 'interval': POLL_INTERVAL,
         'meters': [m.name for m in catalogue.METERS]}]}))
    (conf_dir / 'ceilometer.conf').write_text(
        '[DEFAULT]\n'
        'libvirt_type = qemu\n'
        'host = %(host)s\n'
        '[compute]\n'
        'instance_discovery_method = libvirt_metadata\n'
        '[polling]\n'
        'cfg_file = %(polling)s\n'
        'enable_prometheus_exporter = true\n'
        'prometheus_listen_addresses = %(address)s\n'
        'enable_notifications = false\n'
        # Ceilometer's help asks for batches above the samples per metric
        # with the exporter; 27 purges per pollster run, so 1 must work.
        'batch_size = 1\n' % {'host': HOST, 'polling': polling_yaml,
                              'address': address})
    log = str(conf_dir / 'ceilometer-polling.log')
    proc = _start([os.path.join(BIN, 'ceilometer-polling'),
                   '--config-dir', str(conf_dir),
                   '--polling-namespaces', 'compute'], log)
    try:
        url = 'http://%s/metrics' % address
        names = set(GUESTS)

        def every_guest_exposed():
            found = scrape(url)
            ours = {g for (m, g) in found
                    if m == METRIC['perf.event.cpu_clock']}
            return ours == names and found
        _wait_for('cpu_clock series for every guest', every_guest_exposed,
                  proc, log)
        yield Agent(proc, url, address, log)
    finally:
        _stop(proc)


# What each guest must show: its enabled events and its vPMU state.
EXPECTED = {(METRIC[m], g.name) for g in GUESTS.values()
            for m in _enabled(g) | {'perf.vpmu'}}


def _full_scrape(agent, newer_than=None):
    """A scrape with every expected series (and newer CPU clocks).

    The exporter drops and refills a metric each cycle: a scrape at that
    instant misses it, so take the next one that has them all.
    """
    clock = METRIC['perf.event.cpu_clock']

    def full():
        found = scrape(agent.url)
        if not EXPECTED <= set(found):
            return None
        if newer_than and not all(
                found[(clock, g)].value > newer_than[(clock, g)].value
                for g in GUESTS):
            return None
        return found
    return _wait_for('a scrape with every expected series', full,
                     agent.proc, agent.log)


def test_every_guest_meter_is_scraped_and_counters_grow(polling_agent):
    first = _full_scrape(polling_agent)
    second = _full_scrape(polling_agent, newer_than=first)
    assert 'Traceback' not in _tail(polling_agent.log, 10**6)

    host_id = hashlib.sha224(
        (localguests.PROJECT_ID + HOST).encode()).hexdigest()
    for name, guest in GUESTS.items():
        produced = {METER_OF_METRIC[m] for (m, g) in second if g == name}
        # Every enabled software event, no other event: no hardware PMU
        # and no RDT here, and a disabled event has no series.
        assert {m for m in produced if catalogue.BY_NAME[m].event} == \
            _enabled(guest), name
        assert 'perf.vpmu' in produced
        for meter_name in produced:
            meter = catalogue.BY_NAME[meter_name]
            metric = METRIC[meter_name]
            old, new = first[(metric, name)], second[(metric, name)]
            assert new.type == 'gauge'
            example = prometheus.example_series(meter)
            assert set(new.labels) == set(example.labels)
            assert new.labels == old.labels
            assert new.labels['resource'] == guest.uuid
            assert new.labels['resource_name'] == '%s:%s' % (
                guest.name, guest.domain_name)
            assert new.labels['project'] == localguests.PROJECT_ID
            assert new.labels['user'] == localguests.USER_ID
            assert new.labels['flavor_id'] == 'tcg-40'
            assert new.labels['flavor_name'] == 'm1.tcg'
            assert new.labels['vm_instance'] == host_id
            assert new.labels['counter'] == meter.name
            assert new.labels['unit'] == meter.unit
            if meter.event:
                assert new.labels['perf'] == meter.event
                assert new.labels['type'] == 'event'
            if meter.type == catalogue.CUMULATIVE:
                assert new.value >= old.value >= 0, meter_name
    for name in GUESTS:
        for event in ('cpu_clock', 'task_clock', 'context_switches'):
            metric = METRIC['perf.event.%s' % event]
            assert second[(metric, name)].value > \
                first[(metric, name)].value, (name, event)
    vpmu = METRIC['perf.vpmu']
    assert second[(vpmu, 'prom-all')].value == 1
    assert second[(vpmu, 'prom-few')].value == 0


def _query(base, expr):
    url = '%s/api/v1/query?%s' % (base, urllib.parse.urlencode(
        {'query': expr}))
    answer = json.loads(_get(url))
    assert answer['status'] == 'success', answer
    return answer['data']['result']


def _by_guest(result):
    by_uuid = {g.uuid: g.name for g in GUESTS.values()}
    return {by_uuid[r['metric']['resource']]: float(r['value'][1])
            for r in result if r['metric'].get('resource') in by_uuid}


# The scrape target's fully qualified name, as Watcher's Prometheus
# datasource expects on every target (doc/source/admin/prometheus.rst).
FQDN = 'prom-functional.example.com'


@dataclasses.dataclass
class Prometheus:
    proc: subprocess.Popen
    base: str
    log: str


@pytest.fixture(scope='module')
def prometheus_server(polling_agent, tmp_path_factory):
    """A real Prometheus scraping the agent with the shipped rules."""
    binary = _binary('prometheus')
    tmp_path = tmp_path_factory.mktemp('prometheus')
    port = _free_port()
    config = tmp_path / 'prometheus.yml'
    config.write_text(yaml.safe_dump({
        'global': {'scrape_interval': '1s', 'evaluation_interval': '1s'},
        'rule_files': [RULES],
        'scrape_configs': [{'job_name': 'ceilometer', 'static_configs': [
            {'targets': [polling_agent.address],
             'labels': {'fqdn': FQDN}}]}]}))
    log = str(tmp_path / 'prometheus.log')
    proc = _start([binary, '--config.file=%s' % config,
                   '--storage.tsdb.path=%s' % (tmp_path / 'data'),
                   '--web.listen-address=127.0.0.1:%d' % port], log)
    try:
        yield Prometheus(proc, 'http://127.0.0.1:%d' % port, log)
    finally:
        _stop(proc)


def test_prometheus_evaluates_the_shipped_rules(polling_agent,
                                                prometheus_server):
    proc = prometheus_server.proc
    log = prometheus_server.log
    base = prometheus_server.base
    # A rate over scrapes that all fell between two polls is rightly
    # zero: let the scraped data span several polling intervals.
    scrapes = 4 * POLL_INTERVAL + 1
    _wait_for('%d scrapes' % scrapes, lambda: _query(
        base, 'count_over_time(up{job="ceilometer"}[5m]) >= %d'
        % scrapes), proc, log)
    cores = _query(base, 'resource:ceilometer_perf_cpu_clock:cores_rate5m')
    assert set(_by_guest(cores)) == set(GUESTS)

    def all_rules_evaluated():
        groups = json.loads(_get(base + '/api/v1/rules'))['data'][
            'groups']
        rules = [r for g in groups for r in g['rules']]
        done = all(not r['lastEvaluation'].startswith('0001')
                   for r in rules)
        return done and rules
    rules = _wait_for('every rule evaluated', all_rules_evaluated, proc,
                      log)
    with open(RULES) as f:
        shipped = [r for g in yaml.safe_load(f)['groups']
                   for r in g['rules']]
    assert len(rules) == len(shipped)
    for rule in rules:
        assert rule['health'] == 'ok', rule
        assert not rule.get('lastError'), rule

    assert _query(base, 'up{job="ceilometer"}')[0]['value'][1] == '1'
    # Idle SeaBIOS guests use some CPU time, in cores (not ns/s).
    for name, value in _by_guest(cores).items():
        assert 0 < value < os.cpu_count(), (name, value)
    switches = _by_guest(_query(
        base, 'resource:ceilometer_perf_context_switches:rate5m'))
    assert set(switches) == set(GUESTS)
    assert all(v > 0 for v in switches.values()), switches
    # cpu_migrations is enabled for prom-all only.
    migrations = _by_guest(_query(
        base, 'resource:ceilometer_perf_cpu_migrations:rate5m'))
    assert set(migrations) == {'prom-all'}
    faults = _by_guest(_query(
        base, 'resource:ceilometer_perf_page_faults_maj:rate5m'))
    assert set(faults) == set(GUESTS)
    assert all(v >= 0 for v in faults.values())
    # One series per guest, still carrying what names the instance,
    # rid of what named the meter; `instance` is the scrape target.
    for result in _query(
            base, 'resource:ceilometer_perf_cpu_clock:cores_rate5m'):
        labels = result['metric']
        if labels.get('resource') not in {g.uuid
                                          for g in GUESTS.values()}:
            continue
        assert labels['instance'] == polling_agent.address
        assert labels['fqdn'] == FQDN
        assert not {'perf', 'type', 'counter', 'unit'} & set(labels)
        assert {'resource', 'resource_name', 'project'} <= set(labels)
    # No hardware PMU or RDT here: those rules give no series at all
    # for our guests (not zeros, not NaN).
    for expr in ('resource:ceilometer_perf_ipc:ratio_rate5m',
                 'resource:ceilometer_perf_cache_miss:ratio_rate5m',
                 'resource:ceilometer_cpu_l3_cache:host_share',
                 'resource:ceilometer_memory_bandwidth_total:'
                 'host_share'):
        assert not _by_guest(_query(base, expr)), expr


def test_aodh_prometheus_alarm_on_a_recording_rule(prometheus_server):
    """Aodh 23's own `prometheus` evaluator (tools/consumers.sh's venv,
    in-process) on the recipe of doc/source/admin/consumers.rst: an
    instance using more than THRESHOLD host cores over 5 minutes, from the
    shipped recording rule.  `alarm` under the data, `ok` over it, never
    "insufficient data"."""
    from tests.e2e import consumers

    guest = GUESTS['prom-all']
    query = ('resource:ceilometer_perf_cpu_clock:cores_rate5m{resource="%s"}'
             % guest.uuid)
    base = prometheus_server.base
    _wait_for('the recording rule for %s' % guest.name, lambda: _query(
        base, query), prometheus_server.proc, prometheus_server.log)
    # An idle guest uses some CPU time (> 0 cores), never more than the
    # host has.
    result, log = consumers.run('aodh', 'aodh_evaluate.py', {
        'db': 'aodh.sqlite', 'out': True, 'transport_url': 'fake:/',
        'alarms': [{
            'name': 'instance busy on its host', 'type': 'prometheus',
            'service_credentials': {'auth_type': 'gnocchi-basic',
                                    'user': 'admin', 'endpoint': base},
            'rule': {'query': query, 'comparison_operator': 'gt'},
            'thresholds': [0, os.cpu_count()]}]})
    [alarm] = result['alarms']
    print('Aodh prometheus alarm %r on %s: %s' % (
        alarm['name'], query, ' -> '.join(
            ['insufficient data'] + ['%s (%s)' % (h['state'], h['reason'])
                                     for h in alarm['history']])))
    states = [e['state'] for e in alarm['evaluations']]
    assert states == ['alarm', 'ok'], (alarm['evaluations'], log[-3000:])
    assert [h['state'] for h in alarm['history']] == ['alarm', 'ok']
    compared = float(alarm['evaluations'][0]['reason'].rsplit(
        'most recent: ', 1)[1])
    assert 0 < compared < os.cpu_count()
