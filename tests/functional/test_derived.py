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

"""Derived meters on real guests, through Ceilometer's real polling agent.

One test restarts libvirtd (tools/hypervisor.sh restart-libvirtd) and
another stops a QEMU with SIGSTOP: run the functional tests under the
shared lock (`flock /var/tmp/cperf-hv.lock ...`) where others share the
hypervisor.  libvirtd is running again when they end.

This host has no hardware PMU, so no real IPC or miss ratio can be
produced here: the restart test feeds perf.ipc's pollster two software
clocks (cpu_clock over task_clock) instead of instructions over cycles.
Everything else is the shipped code path: the agent, the bulk read, the
reconnect, the reset detection.
"""

import dataclasses
import os
import signal
import threading
import time

import pytest

from ceilometer_perf import catalogue
from ceilometer_perf.kinds import derived
from ceilometer_perf import pollsters
from ceilometer_perf import reader
from tests.functional import agent as agent_mod
from tests.functional.conftest import localguests


def _ours(samples, name):
    return {s['resource_metadata']['display_name']: s for s in samples
            if s['counter_name'] == name}


def _raw_overhead(stats):
    vcpu = sum(v for k, v in stats.items()
               if k.startswith('vcpu.') and k.endswith('.time'))
    return stats['cpu.time'] - vcpu


def _by_name(snapshot):
    return {r.name[len(localguests.PREFIX):]: r.stats
            for r in snapshot.records.values()}


def test_overhead_on_real_guests(guests, reads):
    agent = agent_mod.Agent([{'name': 'overhead', 'interval': 300,
                              'meters': ['cpu.overhead']}])
    volumes = []
    for cycle in range(3):
        if cycle:
            time.sleep(1.0)
        samples = _ours(agent.poll(), 'cpu.overhead')
        groups, snap = reads[-1]
        assert groups == {'cpu_total', 'vcpu'}
        stats = _by_name(snap)
        assert set(samples) == set(guests)
        for name, sample in samples.items():
            assert sample['counter_type'] == 'cumulative'
            assert sample['counter_unit'] == 'ns'
            volume = sample['counter_volume']
            raw = _raw_overhead(stats[name])
            if cycle == 0:
                assert volume == raw
            jitter = derived.VCPU_TICK_NS * (stats[name]['vcpu.current'] + 1)
            assert max(raw, 0) <= volume <= max(raw, 0) + jitter
            # A TCG guest's QEMU does real work outside its vCPU thread.
            assert 0 < volume < stats[name]['cpu.time']
        volumes.append({n: s['counter_volume'] for n, s in samples.items()})
    assert len(reads) == 3                   # one bulk read per cycle
    for before, after in zip(volumes, volumes[1:], strict=False):
        for name in guests:
            assert after[name] >= before[name]


CLOCKS = dataclasses.replace(catalogue.BY_NAME['perf.ipc'],
                             inputs=('perf.cpu_clock', 'perf.task_clock'))


def _clock_ratio(before, after, name):
    """What perf.ipc (fed the clocks) must say from two raw samples."""
    clock = (after['perf.event.cpu_clock'][name]['counter_volume']
             - before['perf.event.cpu_clock'][name]['counter_volume'])
    task = (after['perf.event.task_clock'][name]['counter_volume']
            - before['perf.event.task_clock'][name]['counter_volume'])
    return clock / task


@pytest.fixture
def fresh_guests_after(hypervisor, guests):
    """The session's guests, rebooted afterwards.

    A libvirtd restart leaves their perf counters near zero (an idle guest
    takes no new page faults); other tests expect counts since boot.
    """
    yield guests
    localguests.stop_all(hypervisor)
    localguests.start(hypervisor)
    time.sleep(1.0)


def test_libvirtd_restart_gives_no_bogus_derived_sample(
        hypervisor, fresh_guests_after, monkeypatch):
    guests = fresh_guests_after
    monkeypatch.setattr(pollsters.POLLSTERS['PerfIpcPollster'], 'meter',
                        CLOCKS)
    agent = agent_mod.Agent([
        {'name': 'perf', 'interval': 60,
         'meters': ['perf.ipc', 'perf.event.cpu_clock',
                    'perf.event.task_clock']},
        {'name': 'overhead', 'interval': 300, 'meters': ['cpu.overhead']}])
    ids = {g.name: hypervisor.lookupByName(g.domain_name).ID()
           for g in guests.values()}

    def cycle():
        samples = agent.poll()
        return {name: _ours(samples, name)
                for name in ('perf.ipc', 'perf.event.cpu_clock',
                             'perf.event.task_clock', 'cpu.overhead')}

    polls = [cycle()]
    assert polls[0]['perf.ipc'] == {}        # no baseline yet
    time.sleep(1.0)
    polls.append(cycle())
    hypervisor.restart_libvirtd()
    polls.append(cycle())
    time.sleep(1.0)
    polls.append(cycle())

    # The restart really reset the counters of the same domains.
    assert {g.name: hypervisor.lookupByName(g.domain_name).ID()
            for g in guests.values()} == ids
    for name in guests:
        before = polls[1]['perf.event.cpu_clock'][name]['counter_volume']
        after = polls[2]['perf.event.cpu_clock'][name]['counter_volume']
        assert after < before
    # Nothing derived across the restart ...
    assert polls[2]['perf.ipc'] == {}
    # ... and honest values on either side of it.
    for index in (1, 3):
        ratios = polls[index]['perf.ipc']
        assert set(ratios) == set(guests)
        for name, sample in ratios.items():
            assert sample['counter_type'] == 'gauge'
            assert sample['counter_volume'] == pytest.approx(
                _clock_ratio(polls[index - 1], polls[index], name))
            assert 0 < sample['counter_volume'] <= CLOCKS.ceiling
    # cpu.time and the vCPU times live in the kernel: cpu.overhead goes
    # on through the restart, never backwards.
    for name in guests:
        series = [p['cpu.overhead'][name]['counter_volume'] for p in polls]
        assert series == sorted(series) and series[0] > 0


def test_task_on_a_hung_qemu_holds_up_no_other_task(hypervisor, guests,
                                                    monkeypatch):
    inside_cpu_read = threading.Event()
    real = reader.BulkReader._read

    def spy(self, groups):
        if 'cpu_total' in groups:
            inside_cpu_read.set()
        return real(self, groups)
    monkeypatch.setattr(reader.BulkReader, '_read', spy)
    hung = localguests.Guest('hung')
    localguests.start(hypervisor, [hung])
    try:
        time.sleep(1.0)
        agent = agent_mod.Agent([
            {'name': 'perf', 'interval': 60,
             'meters': ['perf.event.cpu_clock']},
            {'name': 'overhead', 'interval': 300,
             'meters': ['cpu.overhead']}])
        overhead_task, perf_task = agent.tasks[300], agent.tasks[60]
        agent.poll()                          # connection open, warmed up
        inside_cpu_read.clear()
        with open('/run/libvirt/qemu/%s.pid' % hung.domain_name) as f:
            qemu = int(f.read())
        os.kill(qemu, signal.SIGSTOP)
        try:
            slow = threading.Thread(target=overhead_task.poll_and_notify,
                                    daemon=True)
            slow.start()
            assert inside_cpu_read.wait(120)
            fast = threading.Thread(target=perf_task.poll_and_notify,
                                    daemon=True)
            fast.start()
            # A deadlock guard, not a speed check: the read takes ~1 ms.
            fast.join(120)
            assert not fast.is_alive(), 'the perf task waited on the other'
            # The overhead task is still stuck in libvirt on the QEMU.
            assert slow.is_alive()
        finally:
            os.kill(qemu, signal.SIGCONT)
        slow.join(120)
        assert not slow.is_alive()
        samples = agent.recorder.samples
        clock = _ours(samples, 'perf.event.cpu_clock')
        assert set(clock) == set(guests) | {'hung'}
        # After SIGCONT the stuck read finished with every guest.
        assert set(_ours(samples, 'cpu.overhead')) == set(guests) | {'hung'}
    finally:
        hypervisor.lookupByName(hung.domain_name).destroy()
