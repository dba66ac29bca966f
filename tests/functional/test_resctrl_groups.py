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

"""Per-instance resctrl groups: real guests, real agent, emulated kernel.

Real TCG guests on the real libvirtd, Ceilometer's real polling manager
loading our pollsters, and the resctrl emulator (tests/emulators) mounted
with FUSE and handed to the agent as resctrl_root.  The agent runs as
root in the host's PID namespace, so it reconciles in-process: it reads
the real /run/libvirt/qemu pid files and the real /proc of the real QEMU
processes, and writes their real thread ids into the emulator.  After
every test the emulator's write log must show no write to a CTRL_MON
group's tasks and no directory touched without our prefix.
"""

import logging
import os
import threading
import time

import pytest

from ceilometer_perf.resctrl import groups as rg
from tests.functional import agent as agent_mod
from tests.functional.conftest import localguests

METERS = ['cpu_l3_cache', 'memory.bandwidth.total', 'memory.bandwidth.local']
EXTRA = localguests.Guest('rdt-extra')


@pytest.fixture
def plugin_log():
    handler = agent_mod.Collect()
    logger = logging.getLogger('ceilometer_perf')
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def emu(resctrl_emulator):
    yield resctrl_emulator
    assert resctrl_emulator.ctrl_mon_task_writes() == []
    for call in resctrl_emulator.calls():
        assert call.kind in (None, 'MON'), call
        if call.op == 'write':
            assert call.path.endswith('/tasks')
            assert rg.uuid_of(call.path.split('/')[-2]), call
        else:
            assert rg.uuid_of(call.path.rsplit('/', 1)[-1]), call


def make_agent(emu, reserve=0, threads='vcpus'):
    return agent_mod.Agent(
        [{'name': 'rdt', 'interval': 60, 'meters': METERS}],
        overrides={('ceilometer_perf', 'resctrl_root'): emu.mountpoint,
                   ('ceilometer_perf', 'resctrl_manage_groups'): True,
                   ('ceilometer_perf', 'resctrl_rmid_reserve'): reserve,
                   ('ceilometer_perf', 'resctrl_threads'): threads})


def ours(samples):
    """{meter: {uuid: sample}} of our guests' samples."""
    out = {}
    for s in samples:
        if s['resource_metadata'].get('display_name') is None:
            continue
        out.setdefault(s['counter_name'], {})[s['resource_id']] = s
    return out


def qemu_threads(guest):
    """(pid, vCPU thread ids, all thread ids) of a guest's real QEMU."""
    with open('/run/libvirt/qemu/%s.pid' % guest.domain_name) as f:
        pid = int(f.read())
    tids = sorted(int(t) for t in os.listdir('/proc/%d/task' % pid))
    vcpus = []
    for tid in tids:
        with open('/proc/%d/task/%d/comm' % (pid, tid)) as f:
            if f.read().startswith('CPU '):
                vcpus.append(tid)
    return pid, vcpus, tids


def group(uuid, parent=''):
    return rg.mon_path(parent, rg.group_name(uuid))


def test_groups_hold_exactly_the_vcpu_threads_and_values_match(
        guests, emu, plugin_log):
    agent = make_agent(emu)
    first = ours(agent.poll())
    for guest in guests.values():
        path = group(guest.uuid)
        _, vcpus, _ = qemu_threads(guest)
        assert vcpus, 'TCG QEMU names its vCPU threads'
        assert emu.tasks(path) == vcpus
        # A new instance has a value in the cycle that made its group.
        sample = first['cpu_l3_cache'][guest.uuid]
        assert sample['counter_volume'] == 0
        meta = sample['resource_metadata']
        assert meta['monitoring_source'] == 'resctrl-group'
        assert meta['resctrl_groups'] == [path]
        assert meta['monitored_threads'] == len(vcpus)
    # Bandwidth is a rate: none in the first cycle.
    assert 'memory.bandwidth.total' not in first

    occupancy, traffic = {}, {}
    for n, guest in enumerate(guests.values()):
        path = group(guest.uuid)
        emu.set_value(path, 'llc_occupancy', 0, 1 << 20 + n)
        emu.set_value(path, 'llc_occupancy', 1, 4096 * (n + 1))
        occupancy[guest.uuid] = (1 << 20 + n) + 4096 * (n + 1)
    agent.poll()
    for n, guest in enumerate(guests.values()):
        path = group(guest.uuid)
        emu.add_bytes(path, 'mbm_total_bytes', 0, 5_000_000 * (n + 1))
        emu.add_bytes(path, 'mbm_total_bytes', 1, 1_000_000)
        emu.add_bytes(path, 'mbm_local_bytes', 0, 700_000)
        traffic[guest.uuid] = (5_000_000 * (n + 1) + 1_000_000, 700_000)
    time.sleep(0.5)
    third = ours(agent.poll())
    for guest in guests.values():
        assert third['cpu_l3_cache'][guest.uuid]['counter_volume'] == \
            occupancy[guest.uuid]
        for meter, sent in zip(METERS[1:], traffic[guest.uuid],
                               strict=True):
            s = third[meter][guest.uuid]
            seconds = s['resource_metadata']['rate_interval_seconds']
            assert 0.4 < seconds < 30
            assert s['counter_volume'] * seconds == pytest.approx(
                sent, rel=0.01)
            assert s['counter_unit'] == 'B/s'
    # Nothing changed since the first cycle: nothing written since.
    assert len(emu.calls('mkdir')) == len(guests)
    assert len(emu.calls('write')) == sum(
        len(qemu_threads(g)[1]) for g in guests.values())
    assert not [line for line in plugin_log.lines(logging.WARNING)
                if 'resctrl' in line]


def test_all_threads_mode(guests, emu):
    agent = make_agent(emu, threads='all')
    agent.poll()
    for guest in guests.values():
        _, _, tids = qemu_threads(guest)
        assert set(emu.tasks(group(guest.uuid))) <= set(tids)
        # Threads that exited between the read and the write excepted.
        assert len(emu.tasks(group(guest.uuid))) >= len(tids) - 2


def test_destroyed_guest_group_gone_next_cycle(guests, hypervisor, emu):
    localguests.start(hypervisor, [EXTRA])
    try:
        agent = make_agent(emu)
        agent.poll()
        assert group(EXTRA.uuid) in emu.groups()
    finally:
        hypervisor.lookupByName(EXTRA.domain_name).destroy()
    samples = ours(agent.poll())
    assert group(EXTRA.uuid) not in emu.groups()
    assert sorted(emu.groups()) == sorted(group(g.uuid)
                                          for g in guests.values())
    assert EXTRA.uuid not in samples['cpu_l3_cache']
    assert len(samples['cpu_l3_cache']) >= len(guests)


def test_orphans_removed_at_start_foreign_untouched(guests, emu):
    orphan = '00000000-0000-4000-8000-000000000001'
    emu.make_group(group(orphan))
    emu.make_group('COS1')
    emu.make_group(group(orphan, 'COS1'))
    emu.make_group('mon_groups/pqos-4242-0')
    emu.make_group('COS1/mon_groups/cadvisor-abc')
    make_agent(emu).poll()
    assert sorted(emu.groups()) == sorted(
        ['COS1', 'mon_groups/pqos-4242-0', 'COS1/mon_groups/cadvisor-abc']
        + [group(g.uuid) for g in guests.values()])
    assert len(emu.calls('rmdir')) == 2


def test_guest_in_a_ctrl_mon_group_monitored_under_it(guests, emu):
    guest = guests['pmu-on']
    _, vcpus, _ = qemu_threads(guest)
    ctrl = 'qemu-1-%s-vcpus_0' % guest.domain_name
    emu.make_group(ctrl)
    for tid in vcpus:
        emu.move_task(ctrl, tid)          # as libvirt's <cachetune> does
    emu.set_value(ctrl, 'llc_occupancy', 0, 999)
    agent = make_agent(emu)
    agent.poll()
    path = group(guest.uuid, ctrl)
    assert emu.tasks(path) == vcpus
    assert group(guest.uuid) not in emu.groups()
    for tid in vcpus:
        assert emu.thread_groups(tid) == (ctrl, path)
    emu.set_value(path, 'llc_occupancy', 1, 5000)
    sample = ours(agent.poll())['cpu_l3_cache'][guest.uuid]
    assert sample['counter_volume'] == 5000
    assert sample['resource_metadata']['resctrl_groups'] == [path]


@pytest.mark.resctrl(num_rmids=3)
def test_rmids_exhausted_logged_once_others_monitored(guests, emu,
                                                      plugin_log):
    agent = make_agent(emu)
    for _ in range(3):
        samples = ours(agent.poll())
    # The root holds one RMID: two groups, the third instance waits.
    assert len(emu.groups()) == 2
    assert len(samples['cpu_l3_cache']) == 2
    lines = [line for line in plugin_log.lines(logging.WARNING)
             if 'RMID' in line]
    assert len(lines) == 1, lines
    assert 'resctrl_rmid_reserve' in lines[0]
    assert 'ceilometer-perf check' in lines[0]
    # Stable: the same two every cycle, nothing retried in vain.
    assert len(emu.calls('mkdir')) == 2


@pytest.mark.resctrl(num_rmids=5, limbo_seconds=None)
def test_limbo_then_monitored_when_released(guests, emu, plugin_log):
    emu.make_group('mon_groups/pqos-1')
    emu.make_group('mon_groups/pqos-2')
    emu.remove_group('mon_groups/pqos-1')
    emu.remove_group('mon_groups/pqos-2')     # two RMIDs now in limbo
    agent = make_agent(emu)
    agent.poll()
    assert len(emu.groups()) == 2
    lines = [line for line in plugin_log.lines(logging.WARNING)
             if 'limbo' in line]
    assert len(lines) == 1 and 'RMID' in lines[0], lines
    emu.release_limbo()
    samples = ours(agent.poll())
    assert len(emu.groups()) == 3
    assert set(samples['cpu_l3_cache']) >= {g.uuid for g in guests.values()}


def test_group_removed_underneath_wipe_and_remount(guests, emu, plugin_log):
    agent = make_agent(emu)
    agent.poll()
    guest = guests['pmu-off']
    _, vcpus, _ = qemu_threads(guest)
    emu.remove_group(group(guest.uuid))
    agent.poll()
    assert emu.tasks(group(guest.uuid)) == vcpus
    emu.wipe_mon_groups()                 # pqos -r
    agent.poll()
    emu.remount()
    samples = ours(agent.poll())
    for g in guests.values():
        assert emu.tasks(group(g.uuid)) == qemu_threads(g)[1]
        assert g.uuid in samples['cpu_l3_cache']
    lines = [line for line in plugin_log.lines(logging.WARNING)
             if 'vanished' in line]
    assert len(lines) == 1, lines
    assert 'pqos -r' in lines[0]


def test_unmounted_logged_once_then_recovered(guests, emu, plugin_log):
    agent = make_agent(emu)
    emu.set_mounted(False)
    for _ in range(2):
        assert 'cpu_l3_cache' not in ours(agent.poll())
    lines = [line for line in plugin_log.lines(logging.WARNING)
             if 'resctrl_manage_groups is on' in line]
    assert len(lines) == 1, lines
    emu.set_mounted(True)
    samples = ours(agent.poll())
    assert set(samples['cpu_l3_cache']) >= {g.uuid for g in guests.values()}


def test_agent_restart_adopts_groups(guests, emu):
    make_agent(emu).poll()
    emu.clear_log()
    samples = ours(make_agent(emu).poll())    # a new process, same host
    assert emu.calls('mkdir') == [] and emu.calls('rmdir') == []
    assert emu.calls('write') == []
    assert sorted(emu.groups()) == sorted(group(g.uuid)
                                          for g in guests.values())
    assert set(samples['cpu_l3_cache']) >= {g.uuid for g in guests.values()}


def test_two_reconcilers_at_once(guests, emu):
    agents = [make_agent(emu) for _ in range(2)]
    errors = []

    def poll(agent):
        try:
            for _ in range(3):
                agent.poll()
        except Exception as exc:     # pragma: no cover - asserted below
            errors.append(exc)
    threads = [threading.Thread(target=poll, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(emu.groups()) == sorted(group(g.uuid)
                                          for g in guests.values())
    assert len(emu.calls('mkdir')) == len(guests)
    assert [c for c in emu.calls() if c.errno] == []


def _children_caps():
    """{pid: CapEff} of this process's children."""
    caps = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/status' % pid) as f:
                fields = dict(line.split(':', 1) for line in f if ':' in line)
        except OSError:
            continue
        if int(fields['PPid']) == os.getpid():
            caps[int(pid)] = int(fields['CapEff'], 16)
    return caps


def test_privsep_daemon_with_only_cap_dac_override(guests, emu):
    """Our privsep context, its daemon really forked and stripped to
    CAP_DAC_OVERRIDE (uid 0 kept), reconciles the real guests."""
    from oslo_privsep import priv_context

    from ceilometer_perf.resctrl import privileged
    # The kernel's mon_groups directories are read-only even for root.
    assert not os.stat(emu.path('mon_groups')).st_mode & 0o222
    ctx = privileged.context()
    before = set(_children_caps())
    ctx.start(method=priv_context.Method.FORK)
    try:
        daemons = {p: c for p, c in _children_caps().items()
                   if p not in before}
        assert list(daemons.values()) == [1 << 1], daemons   # DAC_OVERRIDE
        result = privileged.run_privileged({
            'root': emu.mountpoint, 'threads': 'vcpus', 'reserve': 0,
            'monitored': [], 'instances': [
                (g.uuid, g.domain_name, False) for g in guests.values()]})
        assert result['problem'] is None, result
        for guest in guests.values():
            assert emu.tasks(group(guest.uuid)) == qemu_threads(guest)[1]
        with pytest.raises(Exception, match='absolute normalised'):
            privileged.run_privileged({'root': emu.mountpoint + '/../x'})
    finally:
        ctx.stop()
