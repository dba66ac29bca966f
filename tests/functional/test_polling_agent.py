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

"""The plugin inside Ceilometer's real polling agent, on real TCG guests."""

import os
import time

import yaml


from ceilometer_perf import catalogue
from ceilometer_perf import state
from tests.functional import agent as agent_mod
from tests.functional import conftest
from tests.functional.conftest import localguests

ALL_METERS = [m.name for m in catalogue.METERS]
SOFTWARE = ['perf.event.%s' % e for e in sorted(catalogue.SOFTWARE_EVENTS)]


def _ours(samples):
    return [s for s in samples if s['counter_name'] in catalogue.BY_NAME]


def test_samples_from_real_guests(guests, libvirt_calls):
    agent = agent_mod.Agent([{'name': 'perf', 'interval': 60,
                              'meters': ALL_METERS}])
    first = agent_mod.by_meter(_ours(agent.poll()))
    time.sleep(1.5)
    second = agent_mod.by_meter(_ours(agent.poll()))

    # Software counters of every guest: present, never going back.
    for meter in ('perf.event.cpu_clock', 'perf.event.task_clock',
                  'perf.event.page_faults', 'perf.event.context_switches'):
        for name in guests:
            assert first[meter][name] >= 0, (meter, name)
            assert second[meter][name] >= first[meter][name], (meter, name)
    # Idle SeaBIOS guests keep burning CPU time and switching context.  A
    # QEMU may have taken all its page faults before libvirt attached the
    # counters (seen once in CI: 0), and they may stand still a second.
    for meter in ('perf.event.cpu_clock', 'perf.event.task_clock',
                  'perf.event.context_switches'):
        for name in guests:
            assert first[meter][name] > 0, (meter, name)
            assert second[meter][name] > first[meter][name], (meter, name)

    # Events a guest does not have in <perf>: no sample, never a zero.
    assert set(second['perf.event.cpu_migrations']) == {'pmu-on',
                                                        'pmu-unset'}
    assert set(second['perf.event.page_faults_maj']) == {'pmu-on',
                                                         'pmu-unset'}
    # No hardware PMU, no RDT here: those meters are absent altogether.
    for event in sorted(catalogue.HARDWARE_EVENTS):
        assert 'perf.event.%s' % event not in second
    for meter in ('cpu_l3_cache', 'memory.bandwidth.total',
                  'memory.bandwidth.local', 'perf.ipc',
                  'perf.cache_miss_ratio', 'perf.branch_miss_ratio'):
        assert meter not in second

    # vPMU: explicit on, explicit off, and unset under nova's x86 default
    # CPU mode host-model (a named model when running: QEMU gives no PMU).
    assert second['perf.vpmu'] == {'pmu-on': 1, 'pmu-off': 0,
                                   'pmu-unset': 0}

    # One bulk read per cycle.
    assert libvirt_calls['virConnectGetAllDomainStats'] == 2


def test_sample_shape_matches_ceilometer_compute_pollsters(guests):
    agent = agent_mod.Agent([{'name': 'perf', 'interval': 60,
                              'meters': ['perf.event.cpu_clock',
                                         'perf.vpmu']}])
    samples = _ours(agent.poll())
    clock = [s for s in samples
             if s['counter_name'] == 'perf.event.cpu_clock']
    assert len(clock) == len(guests)
    for s in clock:
        guest = guests[s['resource_metadata']['display_name']]
        assert s['resource_id'] == guest.uuid
        assert s['counter_type'] == 'cumulative'
        assert s['counter_unit'] == 'ns'
        assert s['project_id'] == localguests.PROJECT_ID
        assert s['user_id'] == localguests.USER_ID
        meta = s['resource_metadata']
        assert meta['name'] == guest.domain_name
        assert meta['flavor']['id'] == 'tcg-40'
        assert meta['instance_host'] == 'functional-test'
    vpmu = {s['resource_metadata']['display_name']: s['resource_metadata']
            for s in samples if s['counter_name'] == 'perf.vpmu'}
    assert vpmu['pmu-on']['vpmu_decided_by'] == 'explicit'
    if agent_mod.READS_EXTRA_SPECS:
        assert vpmu['pmu-on']['flavor_hw_pmu'] is True
        assert vpmu['pmu-on']['flavor_hw_pmu_raw'] == 'true'
        assert vpmu['pmu-off']['flavor_hw_pmu'] is False
    else:
        # Ceilometer 24 does not read <nova:extraSpecs>.
        assert 'flavor_hw_pmu' not in vpmu['pmu-on']
    assert vpmu['pmu-unset']['vpmu_decided_by'] == 'inferred'
    # libvirt runs nova's host-model as mode custom with a named model.
    assert vpmu['pmu-unset']['vpmu_cpu_mode'] == 'custom'
    assert 'flavor_hw_pmu' not in vpmu['pmu-unset']


def _plugin_host(agent):
    return state.host_state(agent.conf)


def test_one_bulk_call_whatever_the_number_of_guests(hypervisor, guests,
                                                     libvirt_calls):
    agent = agent_mod.Agent([{'name': 'perf', 'interval': 60,
                              'meters': ALL_METERS}])
    agent.poll()
    assert libvirt_calls['virConnectGetAllDomainStats'] == 1
    extra = [localguests.Guest('extra-%d' % i) for i in range(3)]
    localguests.start(hypervisor, extra)
    try:
        time.sleep(1.0)
        for _ in range(3):
            samples = _ours(agent.poll())
        names = {s['resource_metadata']['display_name'] for s in samples}
        assert {'extra-0', 'extra-1', 'extra-2'} <= names
        assert libvirt_calls['virConnectGetAllDomainStats'] == 4
        # The domain XML is read once per domain boot, not per cycle.
        assert _plugin_host(agent).vpmu.xml_reads == len(guests) + 3
    finally:
        for guest in extra:
            hypervisor.lookupByName(guest.domain_name).destroy()


def test_only_the_groups_of_polled_meters_are_read(guests, reads):
    agent = agent_mod.Agent([{'name': 'clocks', 'interval': 60,
                              'meters': ['perf.event.cpu_clock']},
                             {'name': 'vpmu', 'interval': 3600,
                              'meters': ['perf.vpmu']}])
    samples = _ours(agent.poll())
    assert {s['counter_name'] for s in samples} == {'perf.event.cpu_clock',
                                                    'perf.vpmu'}
    # Two intervals, two polling tasks, each reading only its own group.
    assert sorted((groups for groups, _ in reads), key=sorted) == [
        {'perf'}, {'state'}]


def test_shut_off_domain_yields_nothing(hypervisor, guests):
    persistent = localguests.Guest('stopped')
    hypervisor.defineXML(localguests.domain_xml(persistent))
    try:
        agent = agent_mod.Agent([{'name': 'perf', 'interval': 60,
                                  'meters': ALL_METERS}])
        samples = _ours(agent.poll())
        assert samples
        assert not [s for s in samples
                    if s['resource_id'] == persistent.uuid]
    finally:
        hypervisor.lookupByName(persistent.domain_name).undefine()


def test_sample_polling_yaml_as_shipped(guests, libvirt_calls):
    with open(os.path.join(conftest.ROOT, 'etc', 'ceilometer',
                           'polling.yaml')) as f:
        sources = yaml.safe_load(f)['sources']
    agent = agent_mod.Agent(sources)
    seen = agent_mod.by_meter(_ours(agent.poll()))
    for meter in SOFTWARE + ['perf.vpmu', 'cpu.overhead']:
        assert meter in seen, meter
    # Three intervals -> three tasks -> three bulk reads (PERF + MEMORY;
    # PERF + CPU_TOTAL + VCPU; STATE).
    assert libvirt_calls['virConnectGetAllDomainStats'] == 3
