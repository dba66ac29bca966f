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

"""The bulk reader and its connection, against a fake libvirt."""

import logging
import threading

import libvirt
import pytest

from ceilometer_perf import deadline
from ceilometer_perf import stats
from ceilometer_perf import state
from ceilometer_perf import opts
from ceilometer_perf import reader
from tests.unit import fakes
from tests.unit.conftest import poll


_libvirt_error = fakes.libvirt_error
BROKEN_PIPE = fakes.broken_pipe()
NO_DOMAIN = _libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU)


def test_uri_follows_ceilometer_options(conf):
    assert reader.libvirt_uri(conf) == 'qemu:///system'
    conf.set_override('libvirt_type', 'lxc')
    assert reader.libvirt_uri(conf) == 'lxc:///'
    conf.set_override('libvirt_uri', 'qemu+tcp://h/system')
    assert reader.libvirt_uri(conf) == 'qemu+tcp://h/system'


def test_reconnects_once_on_broken_pipe():
    entries = fakes.load('real-tcg-guests-perf-state.json')
    dead, fresh = fakes.FakeConnection(entries), fakes.FakeConnection(
        entries)
    dead.fail_with = BROKEN_PIPE
    conns = iter([dead, fresh])
    conn = reader.Connection('qemu:///system', opener=lambda uri: next(conns))
    snap = reader.BulkReader(conn).snapshot({}, {'perf'})
    assert len(snap.records) == 3
    assert dead.closed and len(fresh.calls) == 1 and conn.opened == 2


def test_other_errors_are_not_retried():
    fake = fakes.FakeConnection([])
    fake.fail_with = NO_DOMAIN
    conn = reader.Connection('qemu:///system', opener=lambda uri: fake)
    with pytest.raises(libvirt.libvirtError):
        reader.BulkReader(conn).snapshot({}, {'perf'})
    assert conn.opened == 1


def test_unreachable_libvirt_is_one_clear_error(make_host, conf, caplog):
    def refuse(uri):
        raise _libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR,
                             libvirt.VIR_FROM_RPC,
                             "Failed to connect socket to "
                             "'/run/libvirt/libvirt-sock-ro': No such file")
    host = state.HostState(conf, opener=refuse)
    inst = [fakes.instance('u-1')]
    with caplog.at_level(logging.INFO, logger='ceilometer_perf'):
        for _ in range(3):
            cache = {}
            assert poll(host, 'perf.event.cpu_clock', inst, cache) == []
            assert poll(host, 'perf.vpmu', inst, cache) == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert 'qemu:///system' in errors[0].getMessage()
    assert 'libvirt-sock-ro' in errors[0].getMessage()


def test_failed_read_not_repeated_within_cycle(make_host):
    host = make_host([])
    host.fake.fail_with = NO_DOMAIN
    cache = {}
    for name in ('perf.event.cpu_clock', 'perf.event.task_clock'):
        assert poll(host, name, [fakes.instance('u')], cache) == []
    assert len(host.fake.calls) == 1
    host.fake.fail_with = None
    assert poll(host, 'perf.event.cpu_clock', [], {}) == []
    assert len(host.fake.calls) == 2


def test_recovery_is_logged(make_host, conf, caplog):
    entries = fakes.load('real-tcg-guests-perf-state.json')
    fake = fakes.FakeConnection(entries)
    libvirtd = {'up': False}

    def opener(uri):
        if not libvirtd['up']:
            raise _libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR,
                                 libvirt.VIR_FROM_RPC, 'refused')
        return fake
    host = state.HostState(conf, opener=opener)
    inst = fakes.instances_for(entries)
    with caplog.at_level(logging.INFO, logger='ceilometer_perf'):
        assert poll(host, 'perf.event.cpu_clock', inst) == []
        libvirtd['up'] = True
        assert len(poll(host, 'perf.event.cpu_clock', inst)) == 3
    assert any('reachable again' in r.getMessage() for r in caplog.records)


def _reader_over_two_connections():
    """A reader, the connection it opens first and the one after."""
    entries = fakes.load('real-tcg-guests-perf-state.json')
    first, second = fakes.FakeConnection(entries), fakes.FakeConnection(
        entries)
    conns = iter([first, second])
    bulk = reader.BulkReader(reader.Connection(
        'qemu:///system', opener=lambda uri: next(conns)))
    return bulk, first, second


def test_snapshot_says_which_connection_it_came_from():
    bulk, first, _ = _reader_over_two_connections()
    assert bulk.snapshot({}, {'perf'}).epoch == 1
    assert bulk.snapshot({}, {'perf'}).epoch == 1
    # libvirtd restarted: the old connection breaks, a new one answers.
    first.fail_with = BROKEN_PIPE
    assert bulk.snapshot({}, {'perf'}).epoch == 2


def test_snapshot_merged_across_a_reconnect_has_no_epoch():
    bulk, first, _ = _reader_over_two_connections()
    cache = {}
    assert bulk.snapshot(cache, {'state'}).epoch == 1
    first.fail_with = BROKEN_PIPE
    snap = bulk.snapshot(cache, {'perf'})
    assert snap.groups == {'state', 'perf'} and snap.calls == 2
    assert snap.epoch is None


class _HungQemu(fakes.FakeConnection):
    """CPU_TOTAL reads wait until released, as on a stopped QEMU."""

    def __init__(self, entries):
        super().__init__(entries)
        self.entered = threading.Event()
        self.release = threading.Event()

    def getAllDomainStats(self, wanted, flags):
        if wanted & stats.FLAGS['cpu_total']:
            self.entered.set()
            self.release.wait()
        return super().getAllDomainStats(wanted, flags)


def test_a_task_stuck_on_a_hung_qemu_holds_up_no_other_task():
    entries = fakes.load('real-tcg-guests-perf-state.json')
    fake = _HungQemu(entries)
    bulk = reader.BulkReader(reader.Connection('qemu:///system',
                                               opener=lambda uri: fake))
    slow = threading.Thread(target=bulk.snapshot,
                            args=({}, {'cpu_total', 'vcpu'}), daemon=True)
    slow.start()
    fake.entered.wait()
    fast = {}
    perf_task = threading.Thread(
        target=lambda: fast.update(snap=bulk.snapshot({}, {'perf'})),
        daemon=True)
    perf_task.start()
    # Not a speed check: a deadlock guard, the read takes microseconds.
    perf_task.join(60)
    try:
        assert not perf_task.is_alive(), 'the perf task waited on the other'
        assert slow.is_alive()
        assert len(fast['snap'].records) == 3
    finally:
        fake.release.set()
        slow.join(60)


class _QemuMonitor(fakes.FakeConnection):
    """libvirt's domain job, as a CPU stats read meets a stopped QEMU.

    Once stop() is called, a read of CPU_TOTAL takes the job of the hung
    domain and waits until released; another read meanwhile waits for the
    job too, or with NOWAIT skips the keys that need the job (libvirt 9:
    cpu.haltpoll.*), as seen on our TCG guests.
    """

    def __init__(self, entries, hung=0):
        super().__init__(entries)
        self.hung = self.domains[hung]
        self.stopped = False
        self.release = threading.Event()
        self.job = threading.Lock()
        self.waiting = 0
        self.started = []

    def stop(self):
        self.stopped = True

    def getAllDomainStats(self, wanted, flags):
        self.started.append((wanted, flags))
        cpu = wanted & stats.FLAGS['cpu_total']
        if cpu and self.job.locked() and flags & stats.NOWAIT:
            result = super().getAllDomainStats(wanted, flags)
            return [(dom, {k: v for k, v in st.items()
                           if not (dom is self.hung
                                   and k.startswith('cpu.haltpoll.'))})
                    for dom, st in result]
        if cpu and self.stopped:
            with self.job:
                self.waiting += 1
                self.release.wait()
                self.waiting -= 1
        return super().getAllDomainStats(wanted, flags)


CPU_GROUPS = frozenset({'cpu_total', 'vcpu'})


def _cpu_records():
    # Recorded from our TCG guests: CPU_TOTAL, VCPU, PERF and STATE.
    return fakes.load_cycles('real-tcg-libvirtd-restart.json')[0]


def _settle(bulk):
    """Wait until the reads that outlived their deadline have ended."""
    for call in list(bulk.deadline.pending.values()):
        assert call.wait(10)


def _bulk(fake, timeout=0.2, nowait=True):
    return reader.BulkReader(
        reader.Connection('qemu:///system', opener=lambda uri: fake),
        nowait=nowait, timeout=timeout)


def test_cpu_read_goes_on_without_a_hung_qemu():
    fake = _QemuMonitor(_cpu_records())
    bulk = _bulk(fake)
    assert bulk.snapshot({}, CPU_GROUPS).stalled is None
    fake.stop()
    try:
        snap = bulk.snapshot({}, CPU_GROUPS)
        assert len(snap.records) == 3
        assert snap.stalled == {fake.hung.UUIDString(): (
            'cpu.haltpoll.fail.time', 'cpu.haltpoll.success.time')}
        assert fake.waiting == 1
        # Next cycles: the stuck read is still pending; no new one is
        # started (no thread piles up), the NOWAIT read answers at once.
        for _ in range(3):
            snap = bulk.snapshot({}, CPU_GROUPS)
            assert set(snap.stalled) == {fake.hung.UUIDString()}
        assert fake.waiting == 1
        assert len(fake.started) == 1 + 4 + 1
    finally:
        fake.release.set()
    fake.stopped = False
    _settle(bulk)
    snap = bulk.snapshot({}, CPU_GROUPS)
    assert snap.stalled is None and len(snap.records) == 3


def test_fallback_read_asks_nowait_even_when_nowait_is_off():
    fake = _QemuMonitor(_cpu_records())
    bulk = _bulk(fake, nowait=False)
    bulk.snapshot({}, CPU_GROUPS)
    fake.stop()
    try:
        snap = bulk.snapshot({}, CPU_GROUPS)
    finally:
        fake.release.set()
    assert set(snap.stalled) == {fake.hung.UUIDString()}
    _, first, fallback = fake.started
    assert not first[1] & stats.NOWAIT and fallback[1] & stats.NOWAIT


def test_perf_reads_never_go_through_a_worker_thread():
    class Where(fakes.FakeConnection):
        def getAllDomainStats(self, wanted, flags):
            self.thread = threading.current_thread()
            return super().getAllDomainStats(wanted, flags)
    fake = Where(fakes.load('real-tcg-guests-perf-state.json'))
    _bulk(fake).snapshot({}, {'perf', 'state'})
    assert fake.thread is threading.current_thread()
    _bulk(fake).snapshot({}, CPU_GROUPS)
    assert fake.thread is not threading.current_thread()
    _bulk(fake, timeout=0).snapshot({}, CPU_GROUPS)
    assert fake.thread is threading.current_thread()


def test_libvirt_that_answers_nothing_fails_the_cycle_only():
    class Wedged(fakes.FakeConnection):
        release = threading.Event()
        started = 0

        def getAllDomainStats(self, wanted, flags):
            self.started += 1
            self.release.wait()
            return super().getAllDomainStats(wanted, flags)
    fake = Wedged(_cpu_records())
    bulk = _bulk(fake)
    try:
        for _ in range(3):
            with pytest.raises(deadline.StatsTimeout, match='qemu:///system'):
                bulk.snapshot({}, CPU_GROUPS)
        # One blocked read, one blocked NOWAIT read, then none: no pile-up.
        assert fake.started == 2
    finally:
        fake.release.set()


def test_stalled_instance_is_logged_once_and_its_return_too(conf, caplog):
    entries = _cpu_records()
    fake = _QemuMonitor(entries)
    opts.register_opts(conf)
    conf.set_override('stats_timeout', 0.2, group='ceilometer_perf')
    host = state.HostState(conf, opener=lambda uri: fake)
    inst = fakes.instances_for(entries)
    hung = fake.hung.UUIDString()
    with caplog.at_level(logging.INFO, logger='ceilometer_perf'):
        poll(host, 'cpu.overhead', inst)
        fake.stop()
        try:
            for _ in range(3):
                got = poll(host, 'cpu.overhead', inst)
                # cpu.time and the vCPU times need no QEMU monitor: the
                # NOWAIT read still has them for every instance.
                assert {s.resource_id for s in got} == {e['uuid']
                                                        for e in entries}
        finally:
            fake.release.set()
        fake.stopped = False
        _settle(host.reader)
        poll(host, 'cpu.overhead', inst)
    stuck = [r.getMessage() for r in caplog.records
             if r.levelno == logging.WARNING]
    assert len(stuck) == 1 and hung in stuck[0]
    assert 'its cpu.haltpoll.fail.time, cpu.haltpoll.success.time are ' \
        'skipped' in stuck[0]
    assert any('answers again' in r.getMessage() and hung in r.getMessage()
               for r in caplog.records if r.levelno == logging.INFO)
    assert host.stalled == {}
