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

"""Our resctrl monitoring groups against the resctrl emulator.

The reconcile (ceilometer_perf/resctrl/reconcile.py) and the reader
(ceilometer_perf/resctrl/groups.py) work on the emulator's FUSE mount with
ordinary file calls; the QEMU processes are a fake /proc under a temp
dir (pid files, cmdline with -uuid, stat start time, thread names), and
their thread ids (above pid_max) are in the emulator's thread table.
Every test ends by checking the emulator's write log: no write ever
reached a CTRL_MON group's tasks, and no directory without our prefix
was created or removed.
"""

import errno
import os
import threading
import time
import uuid as uuidlib

import pytest

from ceilometer_perf import missing
from ceilometer_perf.resctrl import groups as rg
from ceilometer_perf.resctrl import reconcile

FAKE = 5_000_000          # > pid_max: never a real thread


class FakeHost:
    """Fake QEMU processes: a /proc and a libvirt run dir under tmp."""

    def __init__(self, tmp, emu):
        self.emu = emu
        self.proc_root = tmp / 'proc'
        self.run_dir = tmp / 'run'
        self.proc_root.mkdir()
        self.run_dir.mkdir()
        self.btime = int(time.time()) - 1000
        (self.proc_root / 'stat').write_text('cpu 0\nbtime %d\n'
                                             % self.btime)
        self.next = FAKE
        self.instances = {}

    def proc(self):
        return reconcile.Proc(str(self.proc_root), str(self.run_dir))

    def _tid(self):
        self.next += 1
        self.emu.add_thread(self.next)
        return self.next

    def boot(self, name, vcpus=2, others=('qemu-system-x86', 'IO mon_iothread',
                                          'worker'), accel='TCG', uuid=None):
        """A running QEMU: returns (uuid, pid, vcpu tids, other tids)."""
        uuid = uuid or str(uuidlib.uuid4())
        pid = self._tid()
        base = self.proc_root / str(pid)
        (base / 'task').mkdir(parents=True)
        (base / 'cmdline').write_text('\x00'.join(
            ['/usr/bin/qemu-system-x86_64', '-name', 'guest=' + name,
             '-uuid', uuid, '-smp', str(vcpus)]) + '\x00')
        ticks = int((time.time() - 10 - self.btime)
                    * os.sysconf('SC_CLK_TCK'))
        (base / 'stat').write_text(
            '%d (qemu-system-x86) S ' % pid +
            ' '.join(['0'] * 18 + [str(ticks)] + ['0'] * 5))
        vcpu_tids, other_tids = [], []
        self._thread(pid, pid, others[0])
        other_tids.append(pid)
        for comm in others[1:]:
            other_tids.append(self._thread(pid, self._tid(), comm))
        for n in range(vcpus):
            vcpu_tids.append(self._thread(pid, self._tid(),
                                          'CPU %d/%s' % (n, accel)))
        (self.run_dir / (name + '.pid')).write_text('%d\n' % pid)
        self.instances[uuid] = (name, pid)
        return uuid, pid, vcpu_tids, other_tids

    def _thread(self, pid, tid, comm):
        d = self.proc_root / str(pid) / 'task' / str(tid)
        d.mkdir()
        (d / 'comm').write_text(comm + '\n')
        return tid

    def kill(self, uuid):
        name, pid = self.instances.pop(uuid)
        for tid in os.listdir(self.proc_root / str(pid) / 'task'):
            self.emu.remove_thread(int(tid))
        (self.run_dir / (name + '.pid')).unlink()
        os.system('rm -rf %s' % (self.proc_root / str(pid)))   # noqa: S605

    def request(self, reserve=0, threads='vcpus', monitored=(), skip=()):
        return {'root': self.emu.mountpoint, 'threads': threads,
                'reserve': reserve, 'monitored': list(monitored),
                'instances': [(u, n, u in skip)
                              for u, (n, _) in sorted(self.instances.items())]}

    def run(self, **kw):
        return reconcile.run(self.request(**kw), proc=self.proc())


@pytest.fixture
def host(tmp_path, resctrl_emulator):
    h = FakeHost(tmp_path, resctrl_emulator)
    yield h
    assert resctrl_emulator.ctrl_mon_task_writes() == []
    for call in resctrl_emulator.calls():
        assert call.op in ('mkdir', 'rmdir', 'write'), call
        assert call.kind in (None, 'MON'), call
        if call.op != 'write':
            assert rg.uuid_of(call.path.rsplit('/', 1)[-1]), call
        else:
            assert call.path.endswith('/tasks'), call
            assert rg.uuid_of(call.path.split('/')[-2]), call
    assert resctrl_emulator.internal_errors == []


def name_of(uuid):
    return rg.group_name(uuid)


def test_one_group_per_instance_with_its_vcpu_threads(host):
    emu = host.emu
    a, _, a_vcpus, a_other = host.boot('a')
    b, _, b_vcpus, _ = host.boot('b', vcpus=1)
    result = host.run()
    assert result['problem'] is None, result
    assert result['groups'] == {a: ['mon_groups/' + name_of(a)],
                                b: ['mon_groups/' + name_of(b)]}
    assert result['threads'] == {a: 2, b: 1}
    assert emu.tasks('mon_groups/' + name_of(a)) == a_vcpus
    assert emu.tasks('mon_groups/' + name_of(b)) == b_vcpus
    for tid in a_other:
        assert emu.thread_groups(tid) == ('', None)
    # One write per thread, each on its own.
    writes = emu.calls('write', 'tasks')
    assert sorted(int(c.data) for c in writes) == sorted(a_vcpus + b_vcpus)

    # Nothing changed: nothing written, nothing made or removed.
    emu.clear_log()
    again = host.run()
    assert emu.log == []
    assert again['groups'] == result['groups']
    assert again['counts']['written'] == 0


def test_all_threads_mode(host):
    a, pid, vcpus, others = host.boot('a')
    host.run(threads='all')
    assert host.emu.tasks('mon_groups/' + name_of(a)) == sorted(
        vcpus + others)


@pytest.mark.parametrize('accel', ['KVM', 'TCG'])
def test_vcpu_threads_found_by_name(host, accel):
    a, _, vcpus, _ = host.boot('a', vcpus=3, accel=accel)
    host.run()
    assert host.emu.tasks('mon_groups/' + name_of(a)) == vcpus


def test_new_vcpu_thread_is_added_next_cycle(host):
    a, pid, vcpus, _ = host.boot('a', vcpus=1)
    host.run()
    new = host._thread(pid, host._tid(), 'CPU 1/TCG')
    host.emu.clear_log()
    host.run()
    assert [int(c.data) for c in host.emu.calls('write')] == [new]
    assert host.emu.tasks('mon_groups/' + name_of(a)) == vcpus + [new]


def test_stale_orphans_removed_foreign_untouched(host):
    emu = host.emu
    orphan = str(uuidlib.uuid4())
    emu.make_group('mon_groups/' + name_of(orphan))
    emu.make_group('mon_groups/pqos-123-0')
    emu.make_group('COS1')
    emu.make_group('COS1/mon_groups/' + name_of(orphan))
    emu.make_group('COS1/mon_groups/cadvisor-x')
    emu.make_group('mon_groups/ceilometer-perf-not-a-uuid')
    a, *_ = host.boot('a')
    result = host.run()
    assert sorted(emu.groups()) == sorted([
        'COS1', 'COS1/mon_groups/cadvisor-x',
        'mon_groups/ceilometer-perf-not-a-uuid', 'mon_groups/pqos-123-0',
        'mon_groups/' + name_of(a)])
    assert result['counts']['removed'] == 2
    assert sorted(result['foreign']) == sorted([
        'COS1', 'COS1/mon_groups/cadvisor-x',
        'mon_groups/ceilometer-perf-not-a-uuid', 'mon_groups/pqos-123-0'])


def test_destroyed_instance_group_removed(host):
    a, *_ = host.boot('a')
    b, *_ = host.boot('b')
    host.run()
    host.kill(a)
    result = host.run()
    assert host.emu.groups() == ['mon_groups/' + name_of(b)]
    assert result['counts']['removed'] == 1


def test_threads_in_a_ctrl_mon_group_get_a_mon_group_under_it(host):
    emu = host.emu
    a, _, vcpus, _ = host.boot('a', vcpus=2)
    emu.make_group('qemu-1-a-vcpus_0-1')
    for tid in vcpus:
        emu.move_task('qemu-1-a-vcpus_0-1', tid)
    result = host.run()
    path = 'qemu-1-a-vcpus_0-1/mon_groups/' + name_of(a)
    assert result['groups'] == {a: [path]}
    assert emu.tasks(path) == vcpus
    for tid in vcpus:     # still in libvirt's allocation group
        assert emu.thread_groups(tid) == ('qemu-1-a-vcpus_0-1', path)


def boot_with_last_vcpu_in(host, group, vcpus):
    """An instance whose last vCPU thread another tool put in group."""
    a, _, tids, _ = host.boot('a', vcpus=vcpus)
    host.emu.make_group(group)
    host.emu.move_task(group, tids[-1])
    return a, tids


def test_threads_split_over_two_ctrl_mon_groups(host):
    a, vcpus = boot_with_last_vcpu_in(host, 'COS2', 2)
    result = host.run()
    assert sorted(result['groups'][a]) == sorted([
        'mon_groups/' + name_of(a), 'COS2/mon_groups/' + name_of(a)])
    assert result['threads'][a] == 2


def test_threads_in_another_tools_mon_group_are_left_alone(host):
    emu = host.emu
    a, vcpus = boot_with_last_vcpu_in(host, 'mon_groups/pqos-1-0', 1)
    result = host.run()
    assert result['reasons'][a][0] == missing.RESCTRL_FOREIGN
    assert emu.thread_groups(vcpus[0]) == ('', 'mon_groups/pqos-1-0')
    assert emu.calls('mkdir') == []


def test_libvirt_monitored_instance_is_skipped_and_its_group_removed(host):
    a, *_ = host.boot('a')
    host.run()
    result = host.run(skip=(a,))
    assert host.emu.groups() == []
    assert a not in result['groups'] and a not in result['reasons']


# RMIDs: num_rmids=6 with the root's one, 5 free for groups.
@pytest.mark.resctrl(num_rmids=6)
@pytest.mark.parametrize('reserve,foreign,monitored', [
    (0, 0, 0), (2, 0, 0), (1, 2, 0), (3, 0, 1), (5, 0, 0), (2, 0, 3)])
def test_rmid_budget_and_priority(host, reserve, foreign, monitored):
    emu = host.emu
    for n in range(foreign):
        emu.make_group('mon_groups/pqos-%d' % n)
    uuids = sorted(host.boot('g%d' % n)[0] for n in range(5))
    # The last ones were monitored before (their groups were wiped).
    before = uuids[len(uuids) - monitored:] if monitored else []
    result = host.run(reserve=reserve, monitored=before)
    free = 5 - foreign
    budget = max(0, free - reserve)
    ours = [u for u in uuids if u in result['groups']]
    assert len(ours) == min(5, budget)
    assert emu.rmids()['free'] >= min(reserve, free)
    # Monitored ones first, then the others by uuid.
    expected = (before + [u for u in uuids if u not in before])[:budget]
    assert sorted(ours) == sorted(expected)
    for u in uuids:
        if u not in ours:
            assert result['reasons'][u][0] == missing.RESCTRL_NO_RMID
            assert 'reserve %d' % reserve in result['reasons'][u][1]
    assert result['rmids'] == {'total': 6, 'used': 1 + foreign + len(ours),
                               'ours': len(ours), 'reserve': reserve}


@pytest.mark.resctrl(num_rmids=3, limbo_seconds=None)
def test_limbo_then_created_when_released(host):
    emu = host.emu
    a, *_ = host.boot('a')
    b, *_ = host.boot('b')
    host.run()
    assert emu.rmids()['free'] == 0
    host.kill(a)
    c, *_ = host.boot('c')
    result = host.run()
    # a's RMID went to limbo: c waits, b keeps its group.
    assert result['reasons'][c] == [missing.RESCTRL_LIMBO, mock_any()]
    assert b in result['groups']
    emu.release_limbo()
    result = host.run()
    assert c in result['groups']


class mock_any:
    def __eq__(self, other):
        return True


@pytest.mark.resctrl(num_rmids=2)
def test_kernel_enospc(host, monkeypatch):
    # The plan sees one free RMID; another tool takes it meanwhile.
    a, *_ = host.boot('a')
    real_scan = rg.scan

    def scan(root):
        tree = real_scan(root)
        host.emu.make_group('mon_groups/pqos-late')
        return tree
    monkeypatch.setattr(rg, 'scan', scan)
    result = host.run()
    assert result['reasons'][a][0] == missing.RESCTRL_NO_RMID
    assert 'ENOSPC' in result['reasons'][a][1]


def test_group_removed_underneath_is_recreated(host):
    a, _, vcpus, _ = host.boot('a')
    host.run()
    host.emu.remove_group('mon_groups/' + name_of(a))
    result = host.run(monitored=[a])
    assert result['vanished'] == [a]
    assert host.emu.tasks('mon_groups/' + name_of(a)) == vcpus


def test_wipe_and_remount(host):
    a, _, vcpus, _ = host.boot('a')
    host.run()
    host.emu.wipe_mon_groups()
    assert host.run(monitored=[a])['vanished'] == [a]
    host.emu.remount()
    result = host.run(monitored=[a])
    assert result['vanished'] == [a]
    assert host.emu.tasks('mon_groups/' + name_of(a)) == vcpus


def test_not_mounted(host):
    host.boot('a')
    host.emu.set_mounted(False)
    result = host.run()
    assert result['problem'] == reconcile.UNUSABLE
    assert 'info/L3_MON' in result['detail']


def test_restart_adopts_groups(host):
    a, *_ = host.boot('a')
    host.run()
    host.emu.clear_log()
    # A new process: nothing remembered, the groups are adopted.
    result = host.run(monitored=())
    assert host.emu.log == []
    assert result['groups'] == {a: ['mon_groups/' + name_of(a)]}


def test_two_reconcilers_at_once(host):
    uuids = [host.boot('g%d' % n)[0] for n in range(4)]
    results, errors = [], []

    def one():
        try:
            results.append(host.run())
        except Exception as exc:      # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(host.emu.groups()) == sorted(
        'mon_groups/' + name_of(u) for u in uuids)
    assert len(host.emu.calls('mkdir')) == 4
    for r in results:
        assert r['problem'] is None and set(r['groups']) == set(uuids)


def test_lock_held_by_another_writer(host, monkeypatch):
    import fcntl
    host.boot('a')
    fd = os.open(host.emu.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    monkeypatch.setattr(reconcile, 'LOCK_TIMEOUT', 0.2)
    try:
        result = reconcile.run(host.request(), proc=host.proc())
    finally:
        os.close(fd)
    assert result['problem'] == reconcile.LOCKED
    assert host.emu.calls() == []


def test_no_privilege(host, monkeypatch):
    host.boot('a')

    def mkdir(path, mode=0o777):
        raise PermissionError(errno.EPERM, 'Operation not permitted')
    monkeypatch.setattr(reconcile.os, 'mkdir', mkdir)
    result = host.run()
    assert result['problem'] == reconcile.NO_PRIVILEGE
    assert 'mkdir' in result['detail']


@pytest.mark.parametrize('damage,words', [
    ('cmdline', 'is not the QEMU of'),
    ('pidfile', 'no pid file'),
    ('late-start', 'pid reused'),
    ('garbage', 'holds no pid'),
])
def test_qemu_must_be_verified(host, damage, words):
    a, pid, _, _ = host.boot('a')
    pidfile = host.run_dir / 'a.pid'
    if damage == 'cmdline':
        (host.proc_root / str(pid) / 'cmdline').write_text(
            'qemu\x00-uuid\x00%s\x00' % uuidlib.uuid4())
    elif damage == 'pidfile':
        pidfile.unlink()
    elif damage == 'late-start':
        os.utime(pidfile, (time.time() - 3600, time.time() - 3600))
    else:
        pidfile.write_text('nope\n')
    result = host.run()
    assert result['reasons'][a][0] == missing.RESCTRL_NO_THREADS
    assert words in result['reasons'][a][1]
    assert host.emu.calls('mkdir') == []


def test_unknown_threads_keep_their_group(host):
    a, *_ = host.boot('a')
    host.run()
    (host.run_dir / 'a.pid').unlink()     # libvirtd restarting, say
    result = host.run()
    assert result['groups'] == {a: ['mon_groups/' + name_of(a)]}
    assert host.emu.calls('rmdir') == []


def test_gone_thread_is_not_written(host):
    a, pid, vcpus, _ = host.boot('a', vcpus=2)
    host.emu.remove_thread(vcpus[0])      # exited, /proc not yet updated
    result = host.run()
    assert result['counts']['gone'] == 1
    assert host.emu.tasks('mon_groups/' + name_of(a)) == vcpus[1:]


def test_cpu_resctrl_groups_file_is_used_where_the_kernel_has_it(host):
    emu = host.emu
    a, pid, vcpus, _ = host.boot('a', vcpus=2)
    emu.make_group('COS1')
    emu.move_task('COS1', vcpus[0])
    # This kernel's /proc file says where each thread is.
    (host.proc_root / 'self').mkdir()
    (host.proc_root / 'self' / 'cpu_resctrl_groups').write_text('res:/\n')
    for tid in vcpus:
        d = host.proc_root / str(tid)
        d.mkdir()
        (d / 'cpu_resctrl_groups').write_text(emu.cpu_resctrl_groups(tid))
    result = host.run()
    assert sorted(result['groups'][a]) == sorted([
        'mon_groups/' + name_of(a), 'COS1/mon_groups/' + name_of(a)])


def test_parse_cpu_resctrl_groups(tmp_path):
    proc = reconcile.Proc(str(tmp_path))
    for tid, text, want in [(1, 'res:/\nmon:\n', ('', '')),
                            (2, 'res:COS1\nmon:x\n', ('COS1', 'x')),
                            (3, 'res:/\nmon:/mon_groups/y\n', ('', 'y'))]:
        (tmp_path / str(tid)).mkdir()
        (tmp_path / str(tid) / 'cpu_resctrl_groups').write_text(text)
        assert proc.resctrl_groups(tid) == want


U = '0f0e5cd2-6a3b-4b7e-9d0c-1a2b3c4d5e6f'


@pytest.mark.parametrize('change', [
    {'root': 'relative/path'},
    {'root': '/sys/fs/resctrl/../../etc'},
    {'root': None},
    {'threads': 'some'},
    {'reserve': -1},
    {'reserve': '3'},
    {'instances': [(U, '../../etc/shadow', False)]},
    {'instances': [(U, 'a/b', False)]},
    {'instances': [('not-a-uuid', 'a', False)]},
    {'instances': [('../x', 'a', False)]},
    {'instances': [(U, 'a')]},
    {'monitored': ['x']},
    'not a dict',
])
def test_privileged_side_refuses_bad_requests(change):
    request = {'root': '/sys/fs/resctrl', 'threads': 'vcpus', 'reserve': 0,
               'instances': [(U, 'instance-1', False)], 'monitored': []}
    if isinstance(change, dict):
        request.update(change)
    else:
        request = change
    with pytest.raises(ValueError):
        reconcile.validate_request(request)


@pytest.mark.parametrize('path', [
    'tasks', 'mon_groups/pqos-1/tasks', 'COS1/tasks', 'COS1/cpus',
    'mon_groups/%s/cpus' % rg.group_name(U), '../mon_groups/x',
    'a/b/mon_groups/%s' % rg.group_name(U), 'info/mon_groups/%s'
    % rg.group_name(U), '../mon_groups/%s' % rg.group_name(U)])
def test_only_our_group_paths_pass(path):
    with pytest.raises(ValueError):
        reconcile.check_path('/sys/fs/resctrl', path)


def test_our_group_paths_pass():
    for path in ('mon_groups/%s' % rg.group_name(U),
                 'COS1/mon_groups/%s/tasks' % rg.group_name(U)):
        assert reconcile.check_path('/r', path) == '/r/' + path


# ---------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------

@pytest.mark.resctrl(domains=(0, 2), snc=2)
def test_values_summed_over_l3_domains_not_sub_nodes(resctrl_emulator):
    emu = resctrl_emulator
    path = 'mon_groups/' + rg.group_name(U)
    os.mkdir(emu.path(path))
    # domain 0 has SNC nodes 0 and 1, domain 2 has 2 and 3
    for sub, value in ((0, 100), (1, 20), (2, 3000), (3, 4)):
        emu.set_value(path, 'llc_occupancy', 0 if sub < 2 else 2, value,
                      sub=sub)
    values = rg.read_feature(emu.mountpoint, [path], 'llc_occupancy')
    assert values == {(path, 'mon_L3_00'): 120, (path, 'mon_L3_02'): 3004}


@pytest.mark.parametrize('word', ['Unavailable', 'Unassigned', 'Error'])
def test_status_word_costs_only_that_meter(resctrl_emulator, word):
    emu = resctrl_emulator
    path = 'mon_groups/' + rg.group_name(U)
    os.mkdir(emu.path(path))
    emu.set_value(path, 'mbm_total_bytes', 1, word)
    emu.set_value(path, 'llc_occupancy', 0, 4096)
    values = rg.GroupValues(emu.mountpoint)
    groups = rg.InstanceGroups(paths=(path,), threads=2)
    got = values.value('mbm_total_bytes', groups, 1, ('m', U))
    assert got == missing.Missing(missing.RESCTRL_VALUE_UNAVAILABLE,
                                  detail=word)
    volume, meta = values.value('llc_occupancy', groups, 1, ('c', U))
    assert volume == 4096
    assert meta == {'monitoring_source': 'resctrl-group',
                    'resctrl_groups': [path], 'resctrl_domains': 2,
                    'monitored_threads': 2}


def test_bandwidth_rates(resctrl_emulator):
    emu = resctrl_emulator
    path = 'mon_groups/' + rg.group_name(U)
    os.mkdir(emu.path(path))
    values = rg.GroupValues(emu.mountpoint)
    groups = rg.InstanceGroups(paths=(path,))
    key = ('memory.bandwidth.total', U)
    # First poll: no baseline.
    assert values.value('mbm_total_bytes', groups, 1, key) == \
        missing.Missing(missing.NO_BASELINE)
    emu.add_bytes(path, 'mbm_total_bytes', 0, 3_000_000)
    emu.add_bytes(path, 'mbm_total_bytes', 1, 1_000_000)
    time.sleep(0.2)
    volume, meta = values.value('mbm_total_bytes', groups, 1, key)
    assert volume * meta['rate_interval_seconds'] == pytest.approx(
        4_000_000, rel=0.02)
    # A counter going down (the group was recreated): no value.
    os.rmdir(emu.path(path))
    os.mkdir(emu.path(path))
    assert values.value('mbm_total_bytes', groups, 1, key) == \
        missing.Missing(missing.NO_BASELINE)
    # A new boot of the domain (new domain id): no value either.
    emu.add_bytes(path, 'mbm_total_bytes', 0, 10)
    assert values.value('mbm_total_bytes', groups, 2, key) == \
        missing.Missing(missing.NO_BASELINE)
    # The group vanished.
    os.rmdir(emu.path(path))
    assert values.value('mbm_total_bytes', groups, 2, key).reason == \
        missing.RESCTRL_GROUP_GONE


def test_group_names():
    assert rg.group_name(U.upper()) == 'ceilometer-perf-' + U
    assert rg.uuid_of('ceilometer-perf-' + U) == U
    for bad in ('ceilometer-perf-' + U + 'x', 'pqos-1', U,
                'ceilometer-perf-' + U.upper()):
        assert rg.uuid_of(bad) is None
    with pytest.raises(ValueError):
        rg.group_name('../../x')


# ---------------------------------------------------------------------
# The agent's side (GroupSource), with a fake reconcile
# ---------------------------------------------------------------------

class Record:
    def __init__(self, uuid, name, stats=None, domain_id=1):
        self.uuid, self.name, self.domain_id = uuid, name, domain_id
        self.stats = stats or {}


class Snap:
    def __init__(self, records):
        self.records = {r.uuid: r for r in records}
        self.extras = {}


class Inst:
    def __init__(self, uuid):
        self.id = uuid


class Said:
    def __init__(self):
        from ceilometer_perf import notices
        self.notices = notices.Notices()
        self.said = []

    def say(self, name, *args):
        if self.notices.once(name, 20, name):
            self.said.append((name, args))


SETTINGS = {'resctrl_root': '/nonexistent', 'resctrl_manage_groups': True,
            'resctrl_threads': 'vcpus', 'resctrl_rmid_reserve': 8}


def source(tmp_path, run, method='in-process'):
    root = tmp_path / 'r'
    (root / 'info' / 'L3_MON').mkdir(parents=True)
    (root / 'mon_groups').mkdir()
    said = Said()
    src = rg.GroupSource(dict(SETTINGS, resctrl_root=str(root)), said,
                         method=method)
    src._runner = run
    return src, said, root


def test_group_source_reconciles_once_per_snapshot(tmp_path):
    requests = []

    def run(request):
        requests.append(request)
        return {'problem': None, 'groups': {U: ['mon_groups/x']},
                'threads': {U: 2}, 'reasons': {}, 'vanished': []}
    src, said, _ = source(tmp_path, run)
    other = '1f0e5cd2-6a3b-4b7e-9d0c-1a2b3c4d5e6f'
    snap = Snap([Record(U, 'instance-1'),
                 Record(other, 'instance-2',
                        stats={'cpu.cache.monitor.count': 1})])
    for _ in range(3):
        view = src.prepare(snap, [Inst(U), Inst(other)])
    assert len(requests) == 1
    assert requests[0]['instances'] == [(U, 'instance-1', False),
                                        (other, 'instance-2', True)]
    assert view[U].paths == ('mon_groups/x',) and view[U].threads == 2
    assert src.monitored == {U}


def test_group_source_survives_a_failing_reconcile(tmp_path):
    def run(request):
        raise RuntimeError('privsep daemon exited')
    src, said, root = source(tmp_path, run)
    (root / 'mon_groups' / rg.group_name(U)).mkdir()
    view = src.prepare(Snap([Record(U, 'i')]), [Inst(U)])
    # Groups someone else keeps are still read; said once, not retried
    # every cycle.
    assert view[U].paths == ('mon_groups/' + rg.group_name(U),)
    assert [n for n, _ in said.said] == ['resctrl-companion']
    src.prepare(Snap([Record(U, 'i')]), [Inst(U)])
    assert src._failed_at is not None


def test_group_source_bug_costs_only_these_meters(tmp_path):
    def run(request):
        return {'problem': None}          # malformed: KeyError inside
    src, said, _ = source(tmp_path, run)
    assert src.prepare(Snap([Record(U, 'i')]), [Inst(U)]) == {}
    assert [n for n, _ in said.said] == ['resctrl-error']


def test_group_source_not_in_host_namespace_reads_only(tmp_path):
    src, said, root = source(tmp_path, None, method='none')
    src._runner = None
    view = src.prepare(Snap([Record(U, 'i')]), [Inst(U)])
    assert view == {}
    assert [n for n, _ in said.said] == ['resctrl-no-privilege']


def test_group_source_unusable_root(tmp_path):
    said = Said()
    src = rg.GroupSource(dict(SETTINGS, resctrl_root=str(tmp_path)), said,
                         method='in-process')
    assert src.prepare(Snap([Record(U, 'i')]), [Inst(U)]) == {}
    assert [n for n, _ in said.said] == ['resctrl-unusable']
    off = rg.GroupSource(dict(SETTINGS, resctrl_root=str(tmp_path),
                              resctrl_manage_groups=False), Said())
    assert off.prepare(Snap([]), []) == {}


def test_privileged_method_choice(monkeypatch):
    from ceilometer_perf.resctrl import privileged
    monkeypatch.setattr(privileged, 'PRIVSEP_ALLOWED', True)
    assert privileged.how(euid=0, host_ns=True) == privileged.IN_PROCESS
    assert privileged.how(euid=0, host_ns=False) == privileged.NONE
    assert privileged.how(euid=1000, host_ns=True) == privileged.PRIVSEP
    assert privileged.how(euid=1000, host_ns=False) == privileged.NONE
    assert privileged.runner(privileged.IN_PROCESS) is reconcile.run
    assert privileged.runner(privileged.NONE) is None
    # The operator commands never start one (sudo could prompt).
    monkeypatch.setattr(privileged, 'PRIVSEP_ALLOWED', False)
    assert privileged.how(euid=1000, host_ns=True) == privileged.NONE


def test_host_pid_namespace_from_nspid(tmp_path):
    from ceilometer_perf.resctrl import privileged
    (tmp_path / 'self').mkdir()
    status = tmp_path / 'self' / 'status'
    status.write_text('Name:\tx\nNSpid:\t4242\n')
    assert privileged.in_host_pid_namespace(str(tmp_path))
    status.write_text('Name:\tx\nNSpid:\t4242\t17\n')
    assert not privileged.in_host_pid_namespace(str(tmp_path))


def test_privsep_entrypoint_in_process(resctrl_emulator, tmp_path):
    """Our privsep context's entrypoint, run in-process (client mode
    off), validates and reconciles like the agent's in-process call."""
    from ceilometer_perf.resctrl import privileged
    ctx = privileged.context()
    assert ctx.pypath == privileged.CONTEXT_PATH
    from oslo_privsep import capabilities
    from oslo_config import cfg
    assert cfg.CONF[privileged.CFG_SECTION].capabilities == [
        capabilities.CAP_DAC_OVERRIDE]
    entry = getattr(privileged, privileged.ENTRYPOINT)
    assert ctx.is_entrypoint(entry)
    ctx.set_client_mode(False)
    try:
        result = privileged.run_privileged({
            'root': resctrl_emulator.mountpoint, 'instances': [],
            'threads': 'vcpus', 'reserve': 0, 'monitored': []})
        assert result['problem'] is None
        with pytest.raises(ValueError):
            privileged.run_privileged({'root': 'relative'})
    finally:
        ctx.set_client_mode(True)
