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

"""Cache and bandwidth meters on a real host without resctrl monitoring.

This host (a virtual machine, TCG guests) has neither the perf CMT/MBM PMU
nor resctrl, as most hosts without Intel RDT or AMD PQoS: the three meters
must produce nothing, quietly but for one explaining line, and leave the
other meters alone.
"""

import logging
import time

import libvirt
import pytest

from ceilometer_perf import stats
from ceilometer_perf.resctrl import host as resctrl_host
from tests.functional import agent as agent_mod
from tests.functional.conftest import localguests

RDT_METERS = ['cpu_l3_cache', 'memory.bandwidth.total',
              'memory.bandwidth.local']


@pytest.fixture
def plugin_log():
    """The plugin's log records (oslo.log setup drops pytest's handler)."""
    handler = agent_mod.Collect()
    logger = logging.getLogger('ceilometer_perf')
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_no_monitors_no_samples_one_line(guests, reads, plugin_log):
    agent = agent_mod.Agent([{'name': 'rdt', 'interval': 60,
                              'meters': RDT_METERS +
                              ['perf.event.cpu_clock']}])
    tables = []
    for cycle in range(3):
        if cycle:
            time.sleep(1.0)     # bandwidth is a rate between polls
        tables.append(agent_mod.by_meter(agent.poll()))
    for table in tables:
        assert not set(RDT_METERS) & set(table), table
        assert set(table['perf.event.cpu_clock']) == set(guests)

    # One bulk read per cycle; the cache meter in a task of cheap meters
    # adds no CPU_TOTAL (which waits on QEMU).  The real records say why
    # there is nothing: no monitor on any guest.
    assert [groups for groups, _ in reads] == [{'perf', 'memory'}] * 3
    for _, snap in reads:
        ours = [r for r in snap.records.values()
                if r.name.startswith(localguests.PREFIX)]
        assert len(ours) == len(guests)
        for record in ours:
            assert 'cpu.cache.monitor.count' not in record.stats
            assert not [k for k in record.stats
                        if k.startswith('memory.bandwidth.')]

    # No traceback, no error: one warning for the host, whatever the
    # number of guests, meters and cycles.
    assert not [r for r in plugin_log if r.exc_info]
    warnings = [r.getMessage() for r in plugin_log
                if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert 'nova does not configure resctrl monitors' in warnings[0]
    assert resctrl_host.host_support().summary() in warnings[0]

    # Alone in its task it reads libvirt's monitors (CPU_TOTAL): none.
    del reads[:]
    alone = agent_mod.Agent([{'name': 'cache', 'interval': 300,
                              'meters': ['cpu_l3_cache']}])
    assert 'cpu_l3_cache' not in agent_mod.by_meter(alone.poll())
    assert [groups for groups, _ in reads] == [{'perf', 'cpu_total'}]
    for record in reads[0][1].records.values():
        if record.name.startswith(localguests.PREFIX):
            assert record.stats['cpu.cache.monitor.count'] == 0


def test_host_probe_agrees_with_libvirt(hypervisor):
    offered = resctrl_host.libvirt_monitors(hypervisor.getCapabilities())
    support = resctrl_host.host_support()
    assert set(offered) == {f for f in stats.QUANTITIES
                            if support.supports(f)}
    if not offered:
        # What `ceilometer-perf check` will say instead.
        assert support.problems()


def test_tcg_guest_refuses_monitors(hypervisor):
    # Why no guest here can have a monitor: libvirt wants KVM domains for
    # <cachetune> and <memorytune>, before it even looks at resctrl.
    guest = localguests.Guest('rdt-monitor')
    for tune in ("<cachetune vcpus='0'><monitor level='3' vcpus='0'/>"
                 "</cachetune>",
                 "<memorytune vcpus='0'><monitor vcpus='0'/></memorytune>"):
        xml = localguests.domain_xml(guest).replace(
            '<vcpu>1</vcpu>', '<vcpu>1</vcpu><cputune>%s</cputune>' % tune)
        try:
            hypervisor.createXML(xml, 0).destroy()
        except libvirt.libvirtError as exc:
            assert 'only supported for KVM domains' in str(exc)
        else:
            pytest.fail('a TCG guest started with %s' % tune)
