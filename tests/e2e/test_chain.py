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

"""Samples of real TCG guests land in a real Gnocchi, mapped as intended.

Chain: ceilometer-polling (our pollsters) -> RabbitMQ ->
ceilometer-agent-notification -> Gnocchi publisher (gnocchi_resources.yaml
= Ceilometer's packaged file merged by `ceilometer-perf gnocchi merge`)
-> gnocchi-api -> gnocchi-metricd -> PostgreSQL + file storage.
"""

import datetime
import os

import pytest

from ceilometer_perf import catalogue
from ceilometer_perf.ops import gnocchi as mapping
from tests.e2e import chain
from tests.e2e.conftest import HOST
from tests.unit import fakes

# Counters an idle SeaBIOS guest always advances between two polls; the
# other software counters may stand still (never go down).
ALWAYS_GROWING = {'perf.event.cpu_clock', 'perf.event.task_clock',
                  'perf.event.context_switches'}


def test_the_guests_produce_software_counters_and_vpmu(guests, produced):
    """What the rest relies on: the probe sees what the guests count."""
    for uuid, guest in guests.items():
        want = {'perf.event.%s' % e for e in guest.events} | {'perf.vpmu'}
        assert want <= produced[uuid], guest.name
        assert not {m for m in produced[uuid]
                    if catalogue.BY_NAME[m].event in
                    catalogue.HARDWARE_EVENTS | catalogue.RDT_EVENTS}


def test_every_meter_the_guests_produce_lands(guests, produced, landed):
    for uuid, guest in guests.items():
        missing = produced[uuid] - set(landed[uuid])
        assert not missing, '%s: not in Gnocchi: %s' % (guest.name,
                                                         sorted(missing))


def test_archive_policy_and_unit_of_every_metric(gnocchi, guests, produced,
                                                 landed, documented):
    doc_uuid, sent = documented
    expected = dict(produced)
    expected[doc_uuid] = set(sent)
    checked = 0
    for uuid, meters in expected.items():
        metrics = gnocchi.resource(uuid)['metrics']
        for name in meters:
            meter = catalogue.BY_NAME[name]
            metric = gnocchi.metric(metrics[name])
            assert metric['archive_policy']['name'] == mapping.policy_for(
                meter), name
            assert metric['unit'] == meter.unit, name
            checked += 1
    assert checked >= len(catalogue.METERS)


def test_our_archive_policies_were_created_as_defined(gnocchi, landed):
    for name, wanted in mapping.ARCHIVE_POLICIES.items():
        policy = gnocchi.archive_policy(name)
        assert sorted(policy['aggregation_methods']) == sorted(
            wanted['aggregation_methods'])
        assert policy['back_window'] == wanted['back_window']
        # Gnocchi answers granularities and timespans as durations, and
        # the points each level keeps.
        got = [(d['granularity'], d['points']) for d in policy['definition']]
        assert got == [(str(datetime.timedelta(seconds=g)), points)
                       for g, points in mapping.levels(wanted)], name


def test_instance_resource_attributes(gnocchi, guests, landed):
    for uuid, guest in guests.items():
        resource = gnocchi.resource(uuid)
        assert resource['display_name'] == guest.name
        assert resource['flavor_id'] == 'tcg-%d' % guest.memory_mib
        assert resource['flavor_name'] == 'm1.tcg'
        assert resource['host'] == HOST
        assert resource['project_id'] == guest.project_id
        assert resource['user_id'] == guest.user_id
        assert resource['ended_at'] is None


def test_every_sample_names_the_domains_nova_owner(guests, probed):
    """Ceilometer's polling agent with our pollsters: each sample's
    project_id and user_id are the <nova:owner> ids of its domain."""
    _, owners = probed
    for uuid, guest in guests.items():
        assert owners[uuid] == {(guest.project_id, guest.user_id)}, \
            guest.name


def test_a_domain_without_owner_yields_no_sample(gnocchi, ownerless,
                                                 probed, landed):
    """Never a sample attributed to a default project: none at all."""
    produced, owners = probed
    assert ownerless.uuid not in produced
    assert ownerless.uuid not in owners
    # Nor through the running chain, by the time everything else landed.
    with pytest.raises(chain.ApiError) as err:
        gnocchi.resource(ownerless.uuid, 'generic')
    assert err.value.status == 404


def test_software_counter_rates_are_sensible(guests, produced, landed):
    """Kernel perf counters never go down: their rates are >= 0."""
    for uuid, guest in guests.items():
        for name in produced[uuid]:
            meter = catalogue.BY_NAME[name]
            if meter.event not in catalogue.SOFTWARE_EVENTS:
                continue
            rates = landed[uuid][name]
            assert rates and min(rates) >= 0, (guest.name, name, rates)
            if name in ALWAYS_GROWING:
                assert min(rates) > 0, (guest.name, name, rates)
        # The guest's CPU time per polling interval is at most the interval
        # times the host's CPUs (it is ns of CPU per ~10 s).
        for name in ('perf.event.cpu_clock', 'perf.event.task_clock'):
            assert max(landed[uuid][name]) < (
                os.cpu_count() * 10e9 * 1.5), (guest.name, name)


def test_vpmu_state_in_gnocchi(guests, landed):
    want = {'e2e-pmu-on': 1.0, 'e2e-pmu-off': 0.0, 'e2e-pmu-unset': 1.0,
            'e2e-beta-pmu-on': 1.0}
    got = {g.name: set(landed[uuid]['perf.vpmu'])
           for uuid, g in guests.items()}
    assert got == {name: {v} for name, v in want.items()}


def test_documented_meters_land_with_their_values(documented, landed):
    """Meters this host cannot produce, from the BUILT documented record
    (tests/unit/records): they must land too, with the values sent."""
    doc_uuid, sent = documented
    entry = fakes.load(chain.DOCUMENTED)[0]
    assert set(landed[doc_uuid]) == set(sent)
    for name, values in landed[doc_uuid].items():
        meter = catalogue.BY_NAME[name]
        if meter.key:
            # A gauge as recorded; a counter polled three times, growing by
            # its recorded value each time: that value is its rate.
            assert values[-1] == pytest.approx(entry['stats'][meter.key]), \
                name
    assert landed[doc_uuid]['perf.vpmu'][-1] == 1.0


def test_no_meter_of_ours_dropped_by_the_publisher(services, landed):
    """The publisher drops unmapped meters with one warning each."""
    path = os.path.join(services['DIR'], 'log',
                        'ceilometer-agent-notification.log')
    with open(path) as f:
        log = f.read()
    for meter in catalogue.METERS:
        assert 'metric %s is not handled by Gnocchi' % meter.name not in log
