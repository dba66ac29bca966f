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

"""The resctrl emulator (tests/emulators/resctrlfs.py) against the kernel
document's rules, through ordinary file calls on the FUSE mount.

Each test names the part of Documentation/filesystems/resctrl.rst (or of
fs/resctrl, via the reference notes) whose rule it checks.  Thread ids
above the kernel's pid_max (2**22) are threads of the test's own table:
no host thread can have them.
"""

import errno
import fcntl
import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from tests.emulators import resctrlfs

FAKE = 5_000_000          # > pid_max: never a real thread
NO_SUCH_TASK = 4_999_999  # never a real thread, never in the table


def write(path, data):
    """One write() of data, as the product does (unbuffered)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        return os.write(fd, data.encode())
    finally:
        os.close(fd)


def read(path):
    with open(path) as f:
        return f.read()


def errno_of(call, *args):
    with pytest.raises(OSError) as info:
        call(*args)
    return info.value.errno


# -- Info directory -----------------------------------------------------

@pytest.mark.resctrl(num_rmids=32, l3_size=32 << 20)
def test_root_and_info(resctrl_emulator):
    """doc "Info directory" and "Resource alloc and monitor groups": the
    root is the default group with tasks, cpus, cpus_list, schemata,
    mon_data and mon_groups; info/L3_MON says num_rmids, mon_features,
    max_threshold_occupancy; info/last_cmd_status reads "ok"."""
    emu = resctrl_emulator
    assert sorted(os.listdir(emu.path())) == [
        'cpus', 'cpus_list', 'info', 'mon_data', 'mon_groups', 'schemata',
        'tasks']
    assert sorted(os.listdir(emu.path('info'))) == [
        'L3', 'L3_MON', 'last_cmd_status']
    assert read(emu.path('info/L3_MON/num_rmids')) == '32\n'
    assert read(emu.path('info/L3_MON/mon_features')).split() == [
        'llc_occupancy', 'mbm_total_bytes', 'mbm_local_bytes']
    assert read(emu.path('info/L3_MON/max_threshold_occupancy')) \
        == '%d\n' % (1 << 20)
    assert read(emu.path('info/last_cmd_status')) == 'ok\n'
    assert 'mbm_assign_mode' not in os.listdir(emu.path('info/L3_MON'))


@pytest.mark.resctrl(events=('llc_occupancy', 'mbm_total_bytes'),
                     bmec=True)
def test_mon_features_configurable(resctrl_emulator):
    """doc "mon_features": only the enabled events, and with BMEC the
    *_config lines; a group's mon_L3_XX holds exactly those events."""
    emu = resctrl_emulator
    assert read(emu.path('info/L3_MON/mon_features')).split() == [
        'llc_occupancy', 'mbm_total_bytes', 'mbm_total_bytes_config']
    assert read(emu.path('info/L3_MON/mbm_total_bytes_config')) \
        == '0=0x7f;1=0x7f\n'
    assert sorted(os.listdir(emu.path('mon_data/mon_L3_00'))) == [
        'llc_occupancy', 'mbm_total_bytes']


def test_modes(resctrl_emulator):
    """fs/resctrl file modes: values 0444, tasks/cpus 0644, the root
    dr-xr-xr-x, a group made by mkdir gets the mkdir mode; a 0444 file
    cannot be opened for writing, even by root (kernfs EACCES)."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'), 0o755)

    def mode(*parts):
        return stat.S_IMODE(os.stat(emu.path(*parts)).st_mode)

    assert mode() == 0o555
    assert mode('mon_groups/g') == 0o755
    assert stat.S_ISDIR(os.stat(emu.path('mon_groups/g')).st_mode)
    assert mode('mon_groups/g/tasks') == 0o644
    assert mode('mon_groups/g/cpus') == 0o644
    assert mode('mon_groups/g/mon_data/mon_L3_01/llc_occupancy') == 0o444
    assert mode('info/last_cmd_status') == 0o444
    assert errno_of(write, emu.path('info/L3_MON/num_rmids'), '9') \
        == errno.EACCES


# -- Groups -------------------------------------------------------------

@pytest.mark.resctrl(domains=(0, 2))
def test_mon_group_auto_populated_ids_with_gaps(resctrl_emulator):
    """doc "mon_data": one mon_L3_XX per L3 cache; doc "Cache IDs": ids
    may have gaps.  mbm_*_bytes start at 0 and llc_occupancy near 0."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    assert sorted(os.listdir(emu.path('mon_groups/g'))) == [
        'cpus', 'cpus_list', 'mon_data', 'tasks']
    assert sorted(os.listdir(emu.path('mon_groups/g/mon_data'))) == [
        'mon_L3_00', 'mon_L3_02']
    for d in ('00', '02'):
        base = emu.path('mon_groups/g/mon_data/mon_L3_' + d)
        assert sorted(os.listdir(base)) == [
            'llc_occupancy', 'mbm_local_bytes', 'mbm_total_bytes']
        for event in os.listdir(base):
            assert read(os.path.join(base, event)) == '0\n'
    assert not os.path.exists(emu.path('mon_groups/g/mon_data/mon_L3_01'))
    assert read(emu.path('mon_groups/g/tasks')) == ''


def test_ctrl_mon_group(resctrl_emulator):
    """doc "Resource alloc and monitor groups": a top-level directory is
    a CTRL_MON group with its own schemata, mon_data and mon_groups, in
    which MON groups can be made."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    assert sorted(os.listdir(emu.path('COS1'))) == [
        'cpus', 'cpus_list', 'mon_data', 'mon_groups', 'schemata', 'tasks']
    os.mkdir(emu.path('COS1/mon_groups/m'))
    assert os.listdir(emu.path('COS1/mon_groups')) == ['m']
    assert 'COS1' in os.listdir(emu.path())
    assert emu.groups() == ['COS1', 'COS1/mon_groups/m']
    assert emu.groups(resctrlfs.MON) == ['COS1/mon_groups/m']


def test_mkdir_only_where_the_kernel_allows(resctrl_emulator):
    """fs/resctrl rdtgroup_mkdir(): EPERM outside the root and the
    mon_groups directories (no MON group inside a MON group, none in
    info/ or mon_data/); EEXIST for a taken name; EINVAL for a name with
    a newline."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    for place in ('info', 'info/L3_MON', 'mon_data', 'mon_data/mon_L3_00',
                  'mon_groups/g', 'mon_groups/g/mon_data'):
        assert errno_of(os.mkdir, emu.path(place, 'x')) == errno.EPERM, \
            place
    assert errno_of(os.mkdir, emu.path('mon_groups/g/mon_groups/x')) \
        == errno.ENOENT
    assert errno_of(os.mkdir, emu.path('mon_groups/mon_groups')) \
        == errno.EPERM
    assert errno_of(os.mkdir, emu.path('mon_groups/g')) == errno.EEXIST
    assert errno_of(os.mkdir, emu.path('info')) == errno.EEXIST
    assert errno_of(os.mkdir, emu.path('mon_groups/a\nb')) == errno.EINVAL
    assert emu.groups() == ['mon_groups/g']


@pytest.mark.resctrl(alloc=False)
def test_monitoring_only_host(resctrl_emulator):
    """doc "Example 3" (monitoring without allocation): no CTRL_MON
    groups can be made, no schemata; MON groups under the root still
    work."""
    emu = resctrl_emulator
    assert errno_of(os.mkdir, emu.path('COS1')) == errno.EPERM
    assert 'schemata' not in os.listdir(emu.path())
    assert 'L3' not in os.listdir(emu.path('info'))
    os.mkdir(emu.path('mon_groups/g'))


def test_rmdir_only_groups(resctrl_emulator):
    """fs/resctrl rdtgroup_rmdir(): only CTRL_MON and MON group
    directories can be removed (EPERM otherwise), with tasks inside."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    for place in ('info', 'mon_groups', 'mon_data', 'COS1/mon_groups',
                  'COS1/mon_data/mon_L3_00'):
        assert errno_of(os.rmdir, emu.path(place)) == errno.EPERM, place
    assert errno_of(os.rmdir, emu.path('mon_groups/none')) == errno.ENOENT
    emu.add_thread(FAKE)
    write(emu.path('COS1/tasks'), '%d' % FAKE)
    os.rmdir(emu.path('COS1'))
    assert emu.groups() == []


# -- RMIDs ---------------------------------------------------------------

@pytest.mark.resctrl(num_rmids=4)
def test_rmid_exhaustion_enospc(resctrl_emulator):
    """doc "Notes on cache occupancy monitoring and control": creation
    "may fail if we run out of ... RMIDs"; one host-wide pool, the root
    holds one, every CTRL_MON and MON group one: ENOSPC and "Out of
    RMIDs" in last_cmd_status."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    os.mkdir(emu.path('mon_groups/a'))
    os.mkdir(emu.path('COS1/mon_groups/b'))
    assert emu.rmids() == {'total': 4, 'used': 4, 'free': 0, 'limbo': 0}
    assert errno_of(os.mkdir, emu.path('mon_groups/c')) == errno.ENOSPC
    assert read(emu.path('info/last_cmd_status')) == 'Out of RMIDs\n'
    assert errno_of(os.mkdir, emu.path('COS2')) == errno.ENOSPC
    assert len({emu.rmid(g) for g in emu.groups()} | {0}) == 4
    os.rmdir(emu.path('mon_groups/a'))
    os.mkdir(emu.path('mon_groups/c'))
    assert read(emu.path('info/last_cmd_status')) == 'ok\n'


@pytest.mark.resctrl(num_rmids=3, limbo_seconds=None)
def test_limbo_ebusy_until_released(resctrl_emulator):
    """doc "max_threshold_occupancy - generic concepts": a freed RMID
    waits in limbo; with no free RMID but some in limbo, mkdir is EBUSY
    (ENOSPC only when none is in limbo)."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/a'))
    os.mkdir(emu.path('mon_groups/b'))
    os.rmdir(emu.path('mon_groups/a'))
    assert emu.rmids() == {'total': 3, 'used': 2, 'free': 0, 'limbo': 1}
    assert errno_of(os.mkdir, emu.path('mon_groups/c')) == errno.EBUSY
    assert read(emu.path('info/last_cmd_status')) == 'Out of RMIDs\n'
    emu.release_limbo()
    os.mkdir(emu.path('mon_groups/c'))
    assert errno_of(os.mkdir, emu.path('mon_groups/d')) == errno.ENOSPC


@pytest.mark.resctrl(num_rmids=2, limbo_seconds=0.3)
def test_limbo_for_a_time(resctrl_emulator):
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/a'))
    os.rmdir(emu.path('mon_groups/a'))
    assert errno_of(os.mkdir, emu.path('mon_groups/a')) == errno.EBUSY
    time.sleep(0.35)
    os.mkdir(emu.path('mon_groups/a'))


@pytest.mark.resctrl(num_rmids=2, limbo_seconds=None,
                     events=resctrlfs.MBM_EVENTS)
def test_no_limbo_without_llc_occupancy(resctrl_emulator):
    """Limbo exists because a freed RMID still tags cache lines; without
    llc_occupancy monitoring an RMID is free at once."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/a'))
    os.rmdir(emu.path('mon_groups/a'))
    os.mkdir(emu.path('mon_groups/b'))


@pytest.mark.resctrl(num_closids=2)
def test_closid_exhaustion(resctrl_emulator):
    """doc: a CTRL_MON directory "may fail if we run out of either
    CLOSID or RMID"."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    assert errno_of(os.mkdir, emu.path('COS2')) == errno.ENOSPC
    assert read(emu.path('info/last_cmd_status')) == 'Out of CLOSIDs\n'


# -- tasks ---------------------------------------------------------------

def test_one_thread_per_number(resctrl_emulator):
    """doc "tasks": writing a task id adds that task (a thread), not its
    process; the test process's other thread stays in the root."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert write(emu.path('mon_groups/g/tasks'), '%d\n' % os.getpid()) \
            == len('%d\n' % os.getpid())
        assert read(emu.path('mon_groups/g/tasks')) == '%d\n' % os.getpid()
        assert emu.thread_groups(other.native_id) == ('', None)
        assert emu.thread_groups(os.getpid()) == ('', 'mon_groups/g')
        assert emu.cpu_resctrl_groups(os.getpid()) == 'res:/\nmon:g\n'
        root_tasks = read(emu.path('tasks')).split()
        assert str(os.getpid()) in root_tasks   # a CTRL_MON lists its MONs'
        assert str(other.native_id) in root_tasks
    finally:
        stop.set()
        other.join()


def test_comma_list_aborts_at_first_failure(resctrl_emulator):
    """doc "tasks": comma-separated ids are assigned in order; the first
    failure aborts and the ones before it stay."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    for tid in (FAKE + 1, FAKE + 2, FAKE + 3):
        emu.add_thread(tid)
    assert errno_of(write, emu.path('mon_groups/g/tasks'), '%d,%d,%d' % (
        FAKE + 1, NO_SUCH_TASK, FAKE + 3)) == errno.ESRCH
    assert emu.tasks('mon_groups/g') == [FAKE + 1]
    write(emu.path('mon_groups/g/tasks'), '%d,%d' % (FAKE + 2, FAKE + 3))
    assert emu.tasks('mon_groups/g') == [FAKE + 1, FAKE + 2, FAKE + 3]
    assert errno_of(write, emu.path('mon_groups/g/tasks'), 'x1') \
        == errno.EINVAL
    assert read(emu.path('info/last_cmd_status')) \
        == 'Task list parsing error pid x1\n'


def test_unknown_thread_esrch(resctrl_emulator):
    """fs/resctrl rdtgroup_move_task(): an id no task has is ESRCH, "No
    task N"; an exited thread leaves its group."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    path = emu.path('mon_groups/g/tasks')
    assert errno_of(write, path, '%d\n' % NO_SUCH_TASK) == errno.ESRCH
    assert read(emu.path('info/last_cmd_status')) == (
        'No task %d\nError while processing task %d\n'
        % (NO_SUCH_TASK, NO_SUCH_TASK))
    emu.add_thread(FAKE)
    write(path, str(FAKE))
    emu.remove_thread(FAKE)
    assert read(path) == ''
    assert errno_of(write, path, str(FAKE)) == errno.ESRCH


def test_thread_existence_override(resctrl_emulator):
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    emu.thread_exists = lambda tid: tid == 7
    write(emu.path('mon_groups/g/tasks'), '7')
    assert errno_of(write, emu.path('mon_groups/g/tasks'),
                    str(os.getpid())) == errno.ESRCH


def test_mon_group_refuses_thread_of_another_ctrl_mon(resctrl_emulator):
    """doc "tasks": a MON group takes only threads of its CTRL_MON parent
    (EINVAL, "Can't move task to different control group"), e.g. a vCPU
    thread libvirt put in its <cachetune> group; a MON group under that
    CTRL_MON group takes it."""
    emu = resctrl_emulator
    libvirt = 'qemu-1-vm-vcpus_0-1'
    emu.make_group(libvirt)
    emu.add_thread(FAKE)
    emu.move_task(libvirt, FAKE)
    os.mkdir(emu.path('mon_groups/x'))
    assert errno_of(write, emu.path('mon_groups/x/tasks'), str(FAKE)) \
        == errno.EINVAL
    assert read(emu.path('info/last_cmd_status')) == (
        "Can't move task to different control group\n"
        "Error while processing task %d\n" % FAKE)
    os.mkdir(emu.path(libvirt, 'mon_groups/x'))
    write(emu.path(libvirt, 'mon_groups/x/tasks'), str(FAKE))
    assert emu.thread_groups(FAKE) == (libvirt, libvirt + '/mon_groups/x')
    assert emu.cpu_resctrl_groups(FAKE) == 'res:%s\nmon:x\n' % libvirt
    assert emu.tasks(libvirt) == [FAKE]


def test_ctrl_mon_tasks_write_moves_and_is_recorded(resctrl_emulator):
    """doc "tasks": a write into a CTRL_MON group's tasks (the root's
    too) takes the thread out of its CTRL_MON and MON groups: allowed,
    but it changes the thread's allocation, so the log marks it."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    os.mkdir(emu.path('mon_groups/g'))
    emu.add_thread(FAKE)
    write(emu.path('mon_groups/g/tasks'), str(FAKE))
    assert emu.ctrl_mon_task_writes() == []
    write(emu.path('COS1/tasks'), str(FAKE))
    assert emu.thread_groups(FAKE) == ('COS1', None)
    assert read(emu.path('COS1/tasks')) == '%d\n' % FAKE
    assert str(FAKE) not in read(emu.path('tasks')).split()
    write(emu.path('tasks'), str(FAKE))
    assert emu.thread_groups(FAKE) == ('', None)
    assert [c.path for c in emu.ctrl_mon_task_writes()] == [
        '/COS1/tasks', '/tasks']


def test_created_threads_inherit(resctrl_emulator):
    """doc "Example 2": a task created later starts in its creator's
    group."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    emu.add_thread(FAKE)
    write(emu.path('mon_groups/g/tasks'), str(FAKE))
    emu.add_thread(FAKE + 1, parent=FAKE)
    assert emu.tasks('mon_groups/g') == [FAKE, FAKE + 1]


def test_rmdir_gives_tasks_to_the_parent(resctrl_emulator):
    """doc "Resource alloc and monitor groups": removing a directory
    moves its tasks and cpus to the parent; removing a CTRL_MON group
    removes its MON groups (their RMIDs are freed)."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    os.mkdir(emu.path('COS1/mon_groups/m'))
    os.mkdir(emu.path('COS1/mon_groups/n'))
    for tid in (FAKE, FAKE + 1):
        emu.add_thread(tid)
        write(emu.path('COS1/tasks'), str(tid))
    write(emu.path('COS1/mon_groups/m/tasks'), str(FAKE))
    write(emu.path('COS1/mon_groups/n/tasks'), str(FAKE + 1))
    write(emu.path('COS1/cpus_list'), '1')
    write(emu.path('COS1/mon_groups/n/cpus_list'), '1')
    os.rmdir(emu.path('COS1/mon_groups/m'))
    assert emu.thread_groups(FAKE) == ('COS1', None)
    assert read(emu.path('COS1/tasks')).split() == [str(FAKE),
                                                    str(FAKE + 1)]
    used = emu.rmids()['used']
    os.rmdir(emu.path('COS1'))
    assert emu.thread_groups(FAKE + 1) == ('', None)
    assert emu.groups() == []
    assert emu.rmids()['used'] == used - 2 == 1
    assert read(emu.path('cpus_list')) == '0-%d\n' % (emu.ncpus - 1)


def test_move_mon_group_to_another_ctrl_mon(resctrl_emulator):
    """doc "Resource alloc and monitor groups": a MON group directory can
    move to another CTRL_MON group's mon_groups, keeping its data and
    tasks (which now belong to the new CTRL_MON group); not a MON group
    that monitors CPUs, and (fs/resctrl rdtgroup_rename()) only MON
    groups."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    os.mkdir(emu.path('mon_groups/m'))
    emu.add_thread(FAKE)
    write(emu.path('mon_groups/m/tasks'), str(FAKE))
    emu.set_value('mon_groups/m', 'mbm_total_bytes', 0, 77)
    ino = os.stat(emu.path('mon_groups/m')).st_ino
    os.rename(emu.path('mon_groups/m'), emu.path('COS1/mon_groups/n'))
    assert emu.thread_groups(FAKE) == ('COS1', 'COS1/mon_groups/n')
    assert os.stat(emu.path('COS1/mon_groups/n')).st_ino == ino
    assert read(emu.path(
        'COS1/mon_groups/n/mon_data/mon_L3_00/mbm_total_bytes')) == '77\n'
    assert errno_of(os.rename, emu.path('COS1'), emu.path('COS2')) \
        == errno.EPERM
    assert read(emu.path('info/last_cmd_status')) \
        == 'Source must be a MON group\n'
    write(emu.path('COS1/cpus_list'), '0')
    write(emu.path('COS1/mon_groups/n/cpus_list'), '0')
    assert errno_of(os.rename, emu.path('COS1/mon_groups/n'),
                    emu.path('mon_groups/n')) == errno.EPERM
    assert emu.calls('rename')[0].data == '/COS1/mon_groups/n'


# -- cpus and schemata ----------------------------------------------------

@pytest.mark.resctrl(ncpus=40)
def test_cpus(resctrl_emulator):
    """doc "cpus": a bitmask of the group's CPUs (cpus_list: ranges); a
    MON group may only hold CPUs of its parent; the default group cannot
    drop CPUs; a CTRL_MON group takes CPUs from the others."""
    emu = resctrl_emulator
    assert read(emu.path('cpus')) == 'ff,ffffffff\n'
    assert read(emu.path('cpus_list')) == '0-39\n'
    os.mkdir(emu.path('COS1'))
    os.mkdir(emu.path('COS1/mon_groups/m'))
    write(emu.path('COS1/cpus'), '30')
    assert read(emu.path('COS1/cpus_list')) == '4-5\n'
    assert read(emu.path('cpus_list')) == '0-3,6-39\n'
    assert errno_of(write, emu.path('COS1/mon_groups/m/cpus_list'), '3') \
        == errno.EINVAL
    assert read(emu.path('info/last_cmd_status')) \
        == 'Can only add CPUs to mongroup that belong to parent\n'
    write(emu.path('COS1/mon_groups/m/cpus_list'), '5')
    assert errno_of(write, emu.path('cpus_list'), '0-3') == errno.EINVAL
    assert errno_of(write, emu.path('COS1/cpus_list'), '40') \
        == errno.EINVAL
    assert [c.path for c in emu.calls('write', 'cpus_list')][-1] \
        == '/COS1/cpus_list'


def test_schemata(resctrl_emulator):
    """doc "Info directory" example: "mask f7 has non-consecutive
    1-bits" for L3:0=f7 (EINVAL); a valid line changes that domain."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    assert read(emu.path('COS1/schemata')) == 'L3:0=fffff;1=fffff\n'
    assert errno_of(write, emu.path('COS1/schemata'), 'L3:0=f7\n') \
        == errno.EINVAL
    assert read(emu.path('info/last_cmd_status')) \
        == 'mask f7 has non-consecutive 1-bits\n'
    write(emu.path('COS1/schemata'), 'L3:1=ff0\n')
    assert read(emu.path('COS1/schemata')) == 'L3:0=fffff;1=ff0\n'
    assert errno_of(write, emu.path('COS1/schemata'), 'MB:0=50\n') \
        == errno.EINVAL


# -- counters --------------------------------------------------------------

@pytest.mark.resctrl(domains=(0, 2))
def test_counters_driven_by_the_test(resctrl_emulator):
    """doc "mon_data": decimal values per group and domain, or the words
    rdtgroup_mondata_show() prints; a CTRL_MON group's file is the sum
    over its own tasks and its MON groups."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/a'))
    os.mkdir(emu.path('mon_groups/b'))

    def value(group, d, event):
        return read(os.path.join(emu.path(group), 'mon_data',
                                 'mon_L3_%02d' % d, event))

    emu.set_value('mon_groups/a', 'llc_occupancy', 2, 4415488)
    emu.set_value('mon_groups/b', 'llc_occupancy', 2, 1000)
    emu.set_value('', 'llc_occupancy', 2, 5)
    assert value('mon_groups/a', 2, 'llc_occupancy') == '4415488\n'
    assert value('mon_groups/a', 0, 'llc_occupancy') == '0\n'
    assert value('', 2, 'llc_occupancy') == '%d\n' % (4415488 + 1000 + 5)
    emu.add_bytes('mon_groups/a', 'mbm_total_bytes', 0, 1420165120)
    emu.add_bytes('mon_groups/a', 'mbm_total_bytes', 0, 10)
    assert value('mon_groups/a', 0, 'mbm_total_bytes') == '1420165130\n'
    for word in resctrlfs.STATUS_WORDS:
        emu.set_value('mon_groups/b', 'mbm_local_bytes', 0, word)
        assert value('mon_groups/b', 0, 'mbm_local_bytes') == word + '\n'
        assert emu.value('mon_groups/b', 'mbm_local_bytes', 0) == word
    emu.set_value('mon_groups/b', 'mbm_local_bytes', 0, 'Error')
    assert value('', 0, 'mbm_local_bytes') == 'Error\n'
    with pytest.raises(ValueError):
        emu.set_value('mon_groups/b', 'mbm_local_bytes', 0, 'bogus')
    os.rmdir(emu.path('mon_groups/a'))
    os.mkdir(emu.path('mon_groups/a'))
    assert value('mon_groups/a', 0, 'mbm_total_bytes') == '0\n'


def test_reads_of_a_removed_group(resctrl_emulator):
    """kernfs: a file held open across the rmdir of its group reads
    ENODEV; a recreated group is a new directory (new inode)."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    ino = os.stat(emu.path('mon_groups/g')).st_ino
    f = open(emu.path('mon_groups/g/mon_data/mon_L3_00/llc_occupancy'))
    try:
        os.rmdir(emu.path('mon_groups/g'))
        assert errno_of(f.read) == errno.ENODEV
    finally:
        f.close()
    os.mkdir(emu.path('mon_groups/g'))
    assert os.stat(emu.path('mon_groups/g')).st_ino != ino


@pytest.mark.resctrl(domains=(0, 1), snc=2)
def test_sub_numa_cluster(resctrl_emulator):
    """doc "Notes on Sub-NUMA Cluster mode": mon_L3_XX holds a
    mon_sub_L3_YY per node and its own files are their sum."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    base = emu.path('mon_groups/g/mon_data')
    assert sorted(os.listdir(os.path.join(base, 'mon_L3_01'))) == [
        'llc_occupancy', 'mbm_local_bytes', 'mbm_total_bytes',
        'mon_sub_L3_02', 'mon_sub_L3_03']
    emu.set_value('mon_groups/g', 'llc_occupancy', 1, 100, sub=2)
    emu.set_value('mon_groups/g', 'llc_occupancy', 1, 23, sub=3)
    assert read(os.path.join(base, 'mon_L3_01/llc_occupancy')) == '123\n'
    assert read(os.path.join(
        base, 'mon_L3_01/mon_sub_L3_03/llc_occupancy')) == '23\n'
    with pytest.raises(ValueError):
        emu.set_value('mon_groups/g', 'llc_occupancy', 1, 5)


@pytest.mark.resctrl(mbm_assign_mode='mbm_event', num_mbm_cntrs=4)
def test_amd_counter_assignment(resctrl_emulator):
    """doc "mbm_assign_mode", "num_mbm_cntrs", "available_mbm_cntrs",
    "mbm_L3_assignments": in mbm_event mode a group gets counters at
    mkdir while the domain has some; without one an MBM event reads
    'Unassigned' (llc_occupancy is not affected)."""
    emu = resctrl_emulator
    info = emu.path('info/L3_MON')
    assert read(os.path.join(info, 'mbm_assign_mode')) \
        == '[mbm_event]\ndefault\n'
    assert read(os.path.join(info, 'num_mbm_cntrs')) == '0=4;1=4\n'
    assert read(os.path.join(info, 'available_mbm_cntrs')) == '0=2;1=2\n'
    os.mkdir(emu.path('mon_groups/a'))
    os.mkdir(emu.path('mon_groups/b'))
    assert read(os.path.join(info, 'available_mbm_cntrs')) == '0=0;1=0\n'
    b = emu.path('mon_groups/b')
    assert read(os.path.join(b, 'mbm_L3_assignments')) \
        == 'mbm_total_bytes:0=_;1=_\nmbm_local_bytes:0=_;1=_\n'
    assert read(os.path.join(b, 'mon_data/mon_L3_00/mbm_total_bytes')) \
        == 'Unassigned\n'
    assert read(os.path.join(b, 'mon_data/mon_L3_00/llc_occupancy')) \
        == '0\n'
    os.rmdir(emu.path('mon_groups/a'))
    write(os.path.join(b, 'mbm_L3_assignments'), 'mbm_total_bytes:*=e\n')
    assert read(os.path.join(b, 'mon_data/mon_L3_01/mbm_total_bytes')) \
        == '0\n'
    write(os.path.join(info, 'mbm_assign_mode'), 'default')
    assert read(os.path.join(b, 'mon_data/mon_L3_00/mbm_local_bytes')) \
        == '0\n'


# -- the log, other tools, remount -----------------------------------------

def test_write_log(resctrl_emulator):
    """Every mkdir, rmdir and write that reaches the filesystem is
    recorded with its path, data, errno and caller; reads are not (nor a
    mkdir of an existing name: the VFS answers EEXIST itself)."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    errno_of(os.mkdir, emu.path('mon_groups/g/mon_data/x'))
    emu.add_thread(FAKE)
    write(emu.path('mon_groups/g/tasks'), '%d\n' % FAKE)
    read(emu.path('mon_groups/g/tasks'))
    os.rmdir(emu.path('mon_groups/g'))
    me = os.getpid()
    assert emu.log == [
        resctrlfs.Call('mkdir', '/mon_groups/g', '', 0, me, 'MON'),
        resctrlfs.Call('mkdir', '/mon_groups/g/mon_data/x', '',
                       errno.EPERM, me, 'MON'),
        resctrlfs.Call('write', '/mon_groups/g/tasks', '%d\n' % FAKE, 0, me,
                       'MON'),
        resctrlfs.Call('rmdir', '/mon_groups/g', '', 0, me, 'MON'),
    ]
    assert emu.calls('mkdir', kind='MON')[0].errno == 0
    assert emu.calls(name='tasks') == [emu.log[2]]
    emu.clear_log()
    assert emu.log == []


def test_other_tool_wipes_mon_groups(resctrl_emulator):
    """`pqos -r` (intel-cmt-cat resctrl_mon_reset()) removes every MON
    group under the root and under COS* groups: their tasks go back to
    the parent; other CTRL_MON groups keep theirs."""
    emu = resctrl_emulator
    for path in ('COS1', 'qemu-1-vm-vcpus_0', 'mon_groups/ours',
                 'COS1/mon_groups/a', 'qemu-1-vm-vcpus_0/mon_groups/b'):
        os.mkdir(emu.path(path))
    emu.add_thread(FAKE)
    write(emu.path('mon_groups/ours/tasks'), str(FAKE))
    emu.clear_log()
    emu.wipe_mon_groups()
    assert emu.groups() == ['COS1', 'qemu-1-vm-vcpus_0',
                            'qemu-1-vm-vcpus_0/mon_groups/b']
    assert emu.thread_groups(FAKE) == ('', None)
    assert emu.log == []              # another tool's calls, not ours
    emu.wipe_all()
    assert emu.groups() == []


def test_remount(resctrl_emulator):
    """doc, top (mount) and rdt_kill_sb(): an unmount destroys every
    group and returns every task to the default group; files opened
    before read ENODEV."""
    emu = resctrl_emulator
    os.mkdir(emu.path('COS1'))
    os.mkdir(emu.path('mon_groups/g'))
    emu.add_thread(FAKE)
    write(emu.path('mon_groups/g/tasks'), str(FAKE))
    f = open(emu.path('info/L3_MON/num_rmids'))
    try:
        emu.remount()
        assert errno_of(f.read) == errno.ENODEV
    finally:
        f.close()
    assert os.listdir(emu.path('mon_groups')) == []
    assert 'COS1' not in os.listdir(emu.path())
    assert emu.thread_groups(FAKE) == ('', None)
    assert emu.rmids()['used'] == 1
    os.mkdir(emu.path('mon_groups/g'))


def test_not_mounted(resctrl_emulator):
    """Without resctrl mounted, /sys/fs/resctrl is an empty directory
    where mkdir is refused."""
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    emu.set_mounted(False)
    assert os.listdir(emu.path()) == []
    assert not os.path.exists(emu.path('info'))
    assert errno_of(os.mkdir, emu.path('mon_groups')) == errno.EPERM
    assert emu.cpu_resctrl_groups(os.getpid()) == 'res:\nmon:\n'
    emu.set_mounted(True)
    assert os.listdir(emu.path('mon_groups')) == []


SYSTEM_PYTHON = '/usr/bin/python3'


def other_process(code, cwd, user=None):
    """Run Python code in another process, as user if given (then with
    Debian's interpreter: ours may sit under /root); its exit status."""
    python = sys.executable if user is None else SYSTEM_PYTHON
    return subprocess.run([python, '-c', code], cwd=cwd, user=user,
                          group=user, check=False).returncode


def test_flock_on_the_root(resctrl_emulator):
    """doc "Locking between applications": flock(LOCK_EX) on the root
    excludes another process's flock until released (the kernel's FUSE
    module keeps flock locks of a filesystem without a lock handler)."""
    emu = resctrl_emulator
    try_lock = ('import fcntl, os\n'
                'fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)\n'
                'fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n')
    fd = os.open(emu.path(), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert other_process(try_lock, emu.path()) != 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert other_process(try_lock, emu.path()) == 0
    finally:
        os.close(fd)


def test_unprivileged_reader(resctrl_emulator):
    """Reference §0.1: reading counters needs no privilege; mkdir in
    mon_groups (dr-xr-xr-x) and writing tasks (0644 root) do."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip('no %s to run as an unprivileged user' % SYSTEM_PYTHON)
    emu = resctrl_emulator
    os.mkdir(emu.path('mon_groups/g'))
    emu.set_value('mon_groups/g', 'llc_occupancy', 0, 42)
    code = (
        'import os, sys\n'
        'v = open("mon_groups/g/mon_data/mon_L3_00/llc_occupancy").read()\n'
        'assert v == "42\\n", v\n'
        'for call in (lambda: os.mkdir("mon_groups/x"),\n'
        '             lambda: open("mon_groups/g/tasks", "w")):\n'
        '    try:\n'
        '        call()\n'
        '        sys.exit(2)\n'
        '    except PermissionError:\n'
        '        pass\n')
    # cwd: pytest's tmp_path is 0700, the child starts in the mount.
    assert other_process(code, emu.path(), user=65534) == 0
    assert emu.groups() == ['mon_groups/g']


def test_mount_and_unmount_leave_nothing(tmp_path):
    """mount() / Mount.unmount(): nothing stays mounted."""
    problem = resctrlfs.fuse_problem()
    if problem:
        pytest.skip(problem)
    point = str(tmp_path)
    m = resctrlfs.mount(point, num_rmids=3)
    assert resctrlfs._mounted_at(point)
    assert read(os.path.join(point, 'info/L3_MON/num_rmids')) == '3\n'
    m.unmount()
    assert not resctrlfs._mounted_at(point)
    assert os.listdir(point) == []


def test_mount_of_a_killed_process_is_swept(tmp_path):
    """A test process killed with its mount up leaves a dead mount
    (ENOTCONN); the fixture sweeps such mounts before mounting."""
    problem = resctrlfs.fuse_problem()
    if problem:
        pytest.skip(problem)
    point = str(tmp_path)
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    code = ('import sys, time\n'
            'from tests.emulators import resctrlfs\n'
            'resctrlfs.mount(sys.argv[1])\n'
            'print("mounted", flush=True)\n'
            'time.sleep(60)\n')
    proc = subprocess.Popen([sys.executable, '-c', code, point], cwd=root,
                            stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=root))
    try:
        assert proc.stdout.readline() == b'mounted\n'
        proc.kill()
        proc.wait()
        assert errno_of(os.stat, point) == errno.ENOTCONN
        assert resctrlfs.sweep_stale_mounts() == [point]
        assert not resctrlfs._mounted_at(point)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        resctrlfs.unmount(point)


def test_a_bug_of_the_emulator_fails_the_test(tmp_path):
    """An exception in our own handlers is not a kernel answer: the call
    gets EIO and unmounting raises it (the fixture then fails the test),
    and the mount is gone all the same."""
    problem = resctrlfs.fuse_problem()
    if problem:
        pytest.skip(problem)
    point = str(tmp_path)
    m = resctrlfs.mount(point)
    m.emu._group_files = None
    assert errno_of(os.listdir, point) == errno.EIO
    with pytest.raises(RuntimeError, match='bug'):
        m.unmount()
    assert not resctrlfs._mounted_at(point)



def test_unmount_gives_the_process_its_signal_handlers_back():
    """libfuse resets SIGPIPE (and SIGINT, SIGTERM, SIGHUP) to the default
    at unmount, underneath Python: a libvirtd restart later in the same
    test run then killed pytest with SIGPIPE (exit 141).  Checked in a
    child process, which SIGPIPE would kill."""
    from tests.emulators import fixture
    fixture._require_fuse()
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    code = (
        'import os, signal, sys, tempfile\n'
        'sys.path.insert(0, %r)\n'
        'from tests.emulators import resctrlfs\n'
        'resctrlfs.mount(tempfile.mkdtemp()).unmount()\n'
        'os.kill(os.getpid(), signal.SIGPIPE)\n'
        'print("alive")\n' % root)
    child = subprocess.run([sys.executable, '-c', code], capture_output=True,
                           text=True, timeout=60)
    assert child.returncode == 0, (child.returncode, child.stderr[-500:])
    assert child.stdout.strip() == 'alive'
