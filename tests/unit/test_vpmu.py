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

"""vPMU state: explicit, inferred from the CPU mode, cached per boot."""

import pytest

from ceilometer_perf.kinds import vpmu
from tests.unit import fakes
from tests.unit.conftest import poll

XML_CASES = [
    # (domain XML, enabled, decided_by, cpu_mode)
    ("<domain><features><pmu state='on'/></features></domain>",
     True, 'explicit', 'custom'),
    ("<domain><features><pmu state='off'/></features>"
     "<cpu mode='host-passthrough'/></domain>",
     False, 'explicit', 'host-passthrough'),
    ("<domain><features><pmu/></features></domain>",
     True, 'explicit', 'custom'),
    ("<domain><cpu mode='host-passthrough'/></domain>",
     True, 'inferred', 'host-passthrough'),
    ("<domain><cpu mode='maximum'/></domain>", True, 'inferred', 'maximum'),
    ("<domain><cpu mode='host-model'/></domain>",
     False, 'inferred', 'host-model'),
    ("<domain><cpu match='exact'><model>Skylake-Server</model></cpu>"
     "</domain>", False, 'inferred', 'custom'),
    ("<domain><features><acpi/></features></domain>",
     False, 'inferred', 'custom'),
    # x86 mode custom with QEMU's max (or host) type: pmu on by default.
    ("<domain><os><type arch='x86_64'>hvm</type></os><cpu mode='custom'>"
     "<model>max</model></cpu></domain>", True, 'inferred', 'custom'),
    # aarch64: every QEMU CPU type has a PMU; nova's custom mode uses max.
    ("<domain><os><type arch='aarch64'>hvm</type></os><cpu mode='custom'>"
     "<model>max</model></cpu></domain>", True, 'inferred', 'custom'),
    ("<domain><os><type arch='aarch64'>hvm</type></os><cpu mode='custom'>"
     "<model>cortex-a57</model></cpu></domain>", True, 'inferred',
     'custom'),
    ("<domain><os><type arch='aarch64'>hvm</type></os><cpu mode='custom'>"
     "<model>max</model></cpu><features><pmu state='off'/></features>"
     "</domain>", False, 'explicit', 'custom'),
    # Not inferred as on where we do not know QEMU's default.
    ("<domain><os><type arch='s390x'>hvm</type></os>"
     "<cpu mode='host-passthrough'/></domain>", False, 'inferred',
     'host-passthrough'),
]


@pytest.mark.parametrize('xml,enabled,decided_by,cpu_mode', XML_CASES)
def test_parse(xml, enabled, decided_by, cpu_mode):
    state = vpmu.parse_domain_xml(xml)
    assert (state.enabled, state.decided_by, state.cpu_mode) == (
        enabled, decided_by, cpu_mode)


def _entry(xml, uuid='u-1', domain_id=3):
    return {'uuid': uuid, 'name': 'instance-1', 'id': domain_id,
            'xml': xml, 'stats': {'state.state': 1}}


def test_sample_metadata_says_how_it_was_decided(make_host):
    host = make_host([_entry("<domain><cpu mode='maximum'/></domain>")])
    inst = fakes.instance('u-1', extra_specs={'hw:pmu': 'true'},
                          image_meta={'hw_pmu': 'false'})
    [sample] = poll(host, 'perf.vpmu', [inst])
    assert sample.volume == 1
    assert sample.unit == 'state' and sample.type == 'gauge'
    meta = sample.resource_metadata
    assert meta['vpmu_decided_by'] == 'inferred'
    assert meta['vpmu_cpu_mode'] == 'maximum'
    assert meta['flavor_hw_pmu'] is True
    assert meta['flavor_hw_pmu_raw'] == 'true'
    assert meta['image_hw_pmu'] is False
    assert meta['image_hw_pmu_raw'] == 'false'


@pytest.mark.parametrize('raw,meant', [
    # nova's strutils.bool_from_string (not strict) for the extra spec
    ('true', True), ('1', True), ('yes', True), ('On', True), ('Y', True),
    ('t', True), ('false', False), ('0', False), ('no', False),
    ('off', False), ('maybe', False), ('', False),
])
def test_flavor_extra_spec_as_nova_reads_it(raw, meant):
    assert vpmu.requested({'hw:pmu': raw}, None) == {
        'flavor_hw_pmu': meant, 'flavor_hw_pmu_raw': raw}


@pytest.mark.parametrize('raw,meant', [
    # nova writes an image property as str() of its boolean field
    ('True', True), ('False', False), (True, True), (False, False)])
def test_image_property_as_nova_writes_it(raw, meant):
    assert vpmu.requested({}, {'hw_pmu': raw}) == {
        'image_hw_pmu': meant, 'image_hw_pmu_raw': str(raw)}


def test_no_nova_request_no_keys(make_host):
    host = make_host([_entry("<domain><features><pmu state='off'/>"
                             "</features></domain>")])
    [sample] = poll(host, 'perf.vpmu', [fakes.instance('u-1')])
    assert sample.volume == 0
    assert 'flavor_hw_pmu' not in sample.resource_metadata
    assert 'image_hw_pmu' not in sample.resource_metadata
    assert not [k for k in sample.resource_metadata if k.endswith('_raw')]


def test_xml_read_once_per_boot_and_pruned(make_host):
    entry = _entry("<domain><features><pmu state='on'/></features></domain>")
    host = make_host([entry])
    inst = [fakes.instance('u-1')]
    for _ in range(5):
        assert poll(host, 'perf.vpmu', inst)[0].volume == 1
    assert host.fake.domains[0].xml_reads == 1
    # Hard reboot with a new setting: the domain id changes.
    entry['id'] = 4
    entry['xml'] = "<domain><features><pmu state='off'/></features></domain>"
    assert poll(host, 'perf.vpmu', inst)[0].volume == 0
    assert host.fake.domains[0].xml_reads == 2
    assert len(host.vpmu) == 1          # the old boot's entry is gone
    host.fake.domains[:] = []
    assert poll(host, 'perf.vpmu', inst) == []
    assert len(host.vpmu) == 0


def test_domain_vanished_before_xml_read(make_host):
    host = make_host([_entry('<domain/>'), _entry('<domain/>', uuid='u-2')])
    host.fake.domains[0].vanished = True
    samples = poll(host, 'perf.vpmu',
                   [fakes.instance('u-1'), fakes.instance('u-2')])
    assert [s.resource_id for s in samples] == ['u-2']


def test_hints_restart_nova_compute_then_hard_reboot():
    from ceilometer_perf import catalogue
    from ceilometer_perf import hints
    for kind in (catalogue.HARDWARE, catalogue.SOFTWARE):
        text = hints.ENABLE_EVENT[kind]
        assert 'restart nova-compute' in text
        assert text.index('restart nova-compute') < text.index(
            'hard reboot')
    # cmt / mbmt / mbml: never sent to nova.
    assert 'resctrl' in hints.ENABLE_EVENT[catalogue.RDT]
    assert 'add it' not in hints.ENABLE_EVENT[catalogue.RDT]


def test_check_never_offers_rdt_events_to_nova():
    from ceilometer_perf import catalogue
    from ceilometer_perf.ops import diagnosis
    from ceilometer_perf.ops import hostprobe
    host = {'hardware_pmu': {'ok': True, 'detail': ''},
            'rdt_perf_pmu': {'ok': True, 'detail': 'intel_cqm present'},
            'resctrl_problems': {}}
    for meter in catalogue.METERS:
        if set(meter.events) & set(catalogue.RDT_EVENTS):
            reason, fix = diagnosis.explain(
                meter, host, [{'name': 'a', 'perf_events_counted': []}])
            assert 'add cmt' not in fix and 'add mbm' not in fix, fix
            assert 'resctrl' in fix
    assert not set(hostprobe.countable_perf_events()) & set(
        catalogue.RDT_EVENTS)
