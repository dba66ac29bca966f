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

"""The benchmark's claims, and cheaper samples, checked on real guests."""

import uuid

from ceilometer.compute.pollsters import util

from ceilometer_perf import catalogue
from tests.functional import agent as agent_mod
from tests.functional import conftest
from tools.bench import guests as bench_guests
from tools.bench import polling


def test_bench_counts_calls_on_real_guests(hypervisor):
    measured = bench_guests.run_guests([2], cycles=1, uri=conftest.URI)
    running, discovered, results = measured[2]
    discovery = results['discovery'].calls
    assert results['floor'].calls == {'virConnectGetAllDomainStats': 1}
    # Ceilometer's discovery: three calls per domain; ours: one listing.
    assert discovery['virDomainGetXMLDesc'] == discovered
    assert results['discovery-cached'].calls == {
        'virConnectGetAllDomainStats': 1}
    # One bulk stats call per polling task and cycle; in the agent, plus
    # the discovery's.
    for source in polling.shipped_sources():
        name = source['name']
        assert results['ours:' + name].calls == {
            'virConnectGetAllDomainStats': 1}, name
        assert results['agent:' + name].calls == {
            'virConnectGetAllDomainStats': 2}, name
        assert results['agent-before:' + name].calls == dict(
            discovery, virConnectGetAllDomainStats=1), name
    assert 0 < results['convert'].per_item
    # The bench guests count all nine software events.
    assert results['ours:perf_counters'].samples >= 2 * 9
    # Ceilometer's perf pollsters: several calls per instance.
    upstream = results['upstream'].calls
    assert upstream['virDomainLookupByUUIDString'] == discovered
    assert upstream['virDomainListGetStats'] == running
    assert sum(upstream.values()) >= 4 * running
    assert set(results['upstream-agent'].calls) >= set(discovery)
    # The guests are gone again.
    left = [d.name() for d in hypervisor.listAllDomains()
            if d.name().startswith('cperf-' + bench_guests.GUEST_PREFIX)]
    assert left == []


def test_agent_samples_are_ceilometers_own(guests):
    meters = ['perf.event.cpu_clock', 'perf.event.task_clock', 'perf.vpmu']
    agent = agent_mod.Agent([{'name': 'perf', 'interval': 60,
                              'meters': meters}])
    published = [s for s in agent.poll() if s['counter_name'] in meters]
    instances = {i.id: i for i in
                 agent.manager.discover(['local_instances_cached'], {})}
    assert instances == {i.id: i for i in
                         agent.manager.discover(['local_instances'], {})}
    assert len(published) == 3 * len(guests)
    for s in published:
        meter = catalogue.BY_NAME[s['counter_name']]
        meta = s['resource_metadata']
        extra = {k: v for k, v in meta.items()
                 if k.startswith(('vpmu_', 'flavor_hw_', 'image_hw_'))}
        reference = util.make_sample_from_instance(
            agent.conf, instances[s['resource_id']], name=meter.name,
            type=meter.type, unit=meter.unit, volume=s['counter_volume'],
            additional_metadata=extra)
        assert meta == reference.resource_metadata
        assert (s['user_id'], s['project_id']) == (reference.user_id,
                                                   reference.project_id)
    ids = [uuid.UUID(s['message_id']) for s in published]
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {1}
    assert {i.node for i in ids} == {uuid.getnode()}
