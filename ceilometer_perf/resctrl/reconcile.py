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

"""One resctrl monitoring group per running instance, kept in step.

The privileged half of the resctrl groups: an idempotent reconcile that
runs once per polling cycle (in the agent when it is root in the host's
PID namespace, in our privsep daemon when it is not, or in
``ceilometer-perf resctrl-sync``), always in this order:

1. lock: flock(LOCK_EX) on the resctrl root, as libvirt does;
2. look: the tree (groups, RMIDs), each instance's QEMU (its pid file,
   verified against /proc/<pid>/cmdline's ``-uuid`` and the process start
   time) and its threads (vCPU threads by name, ``CPU <n>/KVM`` or
   ``CPU <n>/TCG``; or all of them), and which CTRL_MON and MON group each
   thread is in (/proc/<tid>/cpu_resctrl_groups, else the groups'
   ``tasks`` files);
3. plan (a pure function, see plan()): remove our stale groups first, then
   create the missing ones within the RMID budget (instances already
   monitored before new ones, by uuid), then write the threads not yet in
   their group;
4. apply: rmdir, mkdir, one thread id per write().

Rules it never breaks: it touches no directory whose name is not
``ceilometer-perf-<uuid>``, never creates a CTRL_MON group, never writes a
CTRL_MON group's ``tasks`` nor any ``cpus`` file, never moves a thread out
of another tool's MON group, and never takes the RMID pool below the
reserve.  Everything it is handed is validated (run() is what a privsep
entrypoint calls); nothing here imports oslo or libvirt.
"""

import dataclasses
import errno
import fcntl
import os
import re
import time

from ceilometer_perf import missing
from ceilometer_perf.resctrl import groups as rg

VCPUS = 'vcpus'
ALL = 'all'
THREAD_MODES = (VCPUS, ALL)
VCPU_NAME_RE = re.compile(r'CPU \d+/(KVM|TCG)\Z')
DOMAIN_NAME_RE = re.compile(r'[^/\x00]{1,255}\Z')
QEMU_RUN_DIR = '/run/libvirt/qemu'
PROC = '/proc'
LOCK_TIMEOUT = 5.0
# The pid file is written right after the fork: a process that started
# later than this after the file's mtime is not the one it names.
START_SLACK = 2.0

# Host-wide problems (the result's 'problem'); per-instance ones are the
# missing.RESCTRL_* reasons.
UNUSABLE = 'unusable'
NO_PRIVILEGE = 'no-privilege'
LOCKED = 'locked'
VANISHED = 'vanished'


class Invalid(ValueError):
    """A request the privileged side refuses."""


@dataclasses.dataclass(frozen=True)
class Instance:
    uuid: str
    name: str           # the libvirt domain name (its pid file)
    # Set when the instance must have no group of ours (e.g. it has
    # libvirt's own resctrl monitors); its groups are removed.
    skip: bool = False


@dataclasses.dataclass(frozen=True)
class Thread:
    tid: int
    ctrl: str           # its CTRL_MON group, '' for the default group
    mon: str            # its MON group's name, '' for none


# ------------------------------------------------------------------
# Validation of what the privileged side is handed
# ------------------------------------------------------------------

def validate_root(root):
    """The resctrl root as an absolute normalised path, or Invalid."""
    if not isinstance(root, str) or not os.path.isabs(root) \
            or os.path.normpath(root) != root.rstrip('/') or '\x00' in root:
        raise Invalid('resctrl root must be an absolute normalised path: '
                      '%r' % (root,))
    return root.rstrip('/') or '/'


def validate_request(request):
    """The request dict of run(), checked field by field."""
    if not isinstance(request, dict):
        raise Invalid('request must be a dict')
    root = validate_root(request.get('root'))
    mode = request.get('threads', VCPUS)
    if mode not in THREAD_MODES:
        raise Invalid('threads must be one of %s' % ', '.join(THREAD_MODES))
    reserve = request.get('reserve', 0)
    if not isinstance(reserve, int) or isinstance(reserve, bool) \
            or reserve < 0:
        raise Invalid('reserve must be a non-negative integer')
    instances = []
    for item in request.get('instances') or ():
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise Invalid('instance must be (uuid, name, skip)')
        uuid, name, skip = item
        rg.group_name(uuid)           # ValueError on anything else
        if not isinstance(name, str) or not DOMAIN_NAME_RE.match(name) \
                or name in ('.', '..'):
            raise Invalid('bad domain name %r' % (name,))
        instances.append(Instance(str(uuid).lower(), name, bool(skip)))
    monitored = set()
    for uuid in request.get('monitored') or ():
        rg.group_name(uuid)
        monitored.add(str(uuid).lower())
    return root, mode, reserve, instances, monitored


def check_path(root, path):
    """path below root, only ever [CTRL_MON/]mon_groups/<ours>[/tasks]."""
    parts = path.split('/')
    if parts[-1] == 'tasks':
        parts = parts[:-1]
    if len(parts) == 3:
        ctrl, rest = parts[0], parts[1:]
        if not rg.CTRL_NAME_RE.match(ctrl) or ctrl in ('.', '..') \
                or ctrl in rg.NOT_CTRL:
            raise Invalid('bad CTRL_MON group %r' % ctrl)
    else:
        rest = parts
    if len(rest) != 2 or rest[0] != 'mon_groups' \
            or rg.uuid_of(rest[1]) is None:
        raise Invalid('not one of our groups: %r' % path)
    full = os.path.join(root, path)
    if os.path.commonpath([root, os.path.normpath(full)]) != root:
        raise Invalid('%r is not under %s' % (path, root))
    return full


# ------------------------------------------------------------------
# Threads (/proc)
# ------------------------------------------------------------------

class ThreadsUnknown(Exception):
    """The instance's QEMU or its threads cannot be found or trusted."""


class Proc:
    """/proc and libvirt's pid files, under roots tests can move."""

    def __init__(self, proc_root=PROC, run_dir=QEMU_RUN_DIR):
        self.proc_root = proc_root
        self.run_dir = run_dir
        self._btime = None
        self._has_groups_file = None
        # Thread names never change once QEMU set them: read once per
        # (QEMU pid, start time, thread), kept while the thread is seen.
        self._comm = {}
        self._comm_seen = set()
        # {pid file: ((st_ino, st_mtime), pid, start)} verified before.
        self._verified = {}

    def path(self, *parts):
        return os.path.join(self.proc_root, *[str(p) for p in parts])

    def _boot_time(self):
        if self._btime is None:
            for line in rg._read(self.path('stat')).splitlines():
                if line.startswith('btime '):
                    self._btime = int(line.split()[1])
        return self._btime

    def start_time(self, pid):
        """Wall-clock start of a process, from /proc/<pid>/stat."""
        text = rg._read(self.path(pid, 'stat'))
        fields = text[text.rindex(')') + 2:].split()
        ticks = int(fields[19])       # field 22, starttime
        return self._boot_time() + ticks / os.sysconf('SC_CLK_TCK')

    def qemu_pid(self, instance):
        """(pid, start time) of the instance's QEMU, verified."""
        pidfile = os.path.join(self.run_dir, instance.name + '.pid')
        try:
            st = os.stat(pidfile)
            known = self._verified.get(pidfile)
            if known is not None and known[0] == (st.st_ino, st.st_mtime,
                                                  instance.uuid):
                # Same file as verified before: the process must still be
                # the one that started then (no pid reuse since).
                try:
                    if self.start_time(known[1]) == known[2]:
                        return known[1], known[2]
                except (OSError, ValueError, IndexError):
                    pass
            text = rg._read(pidfile).strip()
            mtime = st.st_mtime
        except PermissionError as exc:
            raise PermissionError(
                exc.errno, 'cannot read %s' % pidfile) from exc
        except OSError as exc:
            raise ThreadsUnknown('no pid file %s (%s)' % (
                pidfile, exc.strerror)) from exc
        if not text.isdigit():
            raise ThreadsUnknown('%s holds no pid' % pidfile)
        pid = int(text)
        try:
            args = rg._read(self.path(pid, 'cmdline')).split('\x00')
            started = self.start_time(pid)
        except (OSError, ValueError, IndexError) as exc:
            raise ThreadsUnknown('pid %d of %s is gone' % (pid, pidfile)) \
                from exc
        uuids = [args[i + 1].lower() for i, a in enumerate(args[:-1])
                 if a == '-uuid']
        if instance.uuid not in uuids:
            raise ThreadsUnknown('pid %d of %s is not the QEMU of %s'
                                 % (pid, pidfile, instance.uuid))
        if started > mtime + START_SLACK:
            raise ThreadsUnknown('pid %d started after %s was written '
                                 '(pid reused)' % (pid, pidfile))
        self._verified[pidfile] = ((st.st_ino, st.st_mtime, instance.uuid),
                                   pid, started)
        return pid, started

    def threads(self, pid, mode):
        """Thread ids of the process: its vCPU threads, or all."""
        try:
            tids = sorted(int(t) for t in os.listdir(self.path(pid, 'task'))
                          if t.isdigit())
        except OSError as exc:
            raise ThreadsUnknown('pid %d is gone' % pid) from exc
        if mode == ALL:
            return tids
        out = []
        cache = self._comm
        for tid in tids:
            key = (pid, tid)
            comm = cache.get(key)
            if comm is None:
                try:
                    comm = rg._read(self.path(pid, 'task', tid,
                                              'comm')).strip()
                except OSError:
                    continue      # exited meanwhile
                cache[key] = comm
            self._comm_seen.add(key)
            if VCPU_NAME_RE.match(comm):
                out.append(tid)
        return out

    def end_cycle(self):
        """Forget the names of threads not seen this cycle (a reused
        thread id is a new thread)."""
        for key in set(self._comm) - self._comm_seen:
            del self._comm[key]
        self._comm_seen = set()
        if len(self._verified) > 4 * max(len(self._comm), 64):
            self._verified.clear()

    def resctrl_groups(self, tid):
        """(CTRL_MON, MON) from /proc/<tid>/cpu_resctrl_groups, or None
        when this kernel has no such file."""
        if self._has_groups_file is False:
            return None
        try:
            text = rg._read(self.path(tid, 'cpu_resctrl_groups'))
        except FileNotFoundError:
            if self._has_groups_file is None:
                self._has_groups_file = os.path.exists(
                    self.path('self', 'cpu_resctrl_groups'))
            return None if not self._has_groups_file else ('', '')
        except OSError:
            return None
        self._has_groups_file = True
        ctrl = mon = ''
        for line in text.splitlines():
            key, _, value = line.partition(':')
            if key == 'res':
                ctrl = value.strip().strip('/')
            elif key == 'mon':
                mon = value.strip().rsplit('/', 1)[-1]
        return ctrl, mon

    def tid_alive(self, pid, tid):
        return os.path.exists(self.path(pid, 'task', tid))


def _tasks_file(root, path):
    try:
        return {int(t) for t in rg._read(
            os.path.join(root, path, 'tasks')).split() if t.isdigit()}
    except OSError:
        return set()


def locate_threads(root, tree, tids, proc):
    """[Thread] of tids: which CTRL_MON and MON group each sits in.

    From /proc/<tid>/cpu_resctrl_groups where the kernel has it, else
    from the tasks files of the non-default CTRL_MON groups and of the
    MON groups (the default group's, the size of the host, is never
    read: a thread in no other CTRL_MON group is in the default one).
    """
    out, unknown = [], []
    for tid in tids:
        where = proc.resctrl_groups(tid)
        if where is None:
            unknown.append(tid)
        else:
            out.append(Thread(tid, *where))
    if unknown:
        members = _memberships(root, tree)
        for tid in unknown:
            ctrl, mon = members.get(tid, ('', ''))
            out.append(Thread(tid, ctrl, mon))
    return out


def _memberships(root, tree):
    cache = getattr(tree, '_members', None)
    if cache is not None:
        return cache
    members = {}
    for ctrl in tree.ctrl_groups:
        if ctrl:
            for tid in _tasks_file(root, ctrl):
                members[tid] = (ctrl, '')
    for ctrl in tree.ctrl_groups:
        for name in tree.mon_groups.get(ctrl, ()):
            for tid in _tasks_file(root, rg.mon_path(ctrl, name)):
                members[tid] = (ctrl, name)
    tree._members = members
    return members


# ------------------------------------------------------------------
# The plan: a pure function of what was seen
# ------------------------------------------------------------------

@dataclasses.dataclass
class Plan:
    remove: list = dataclasses.field(default_factory=list)   # paths
    create: list = dataclasses.field(default_factory=list)   # paths
    write: list = dataclasses.field(default_factory=list)    # (path, tid)
    # {uuid: [paths]} the instance has once applied, threads per path
    groups: dict = dataclasses.field(default_factory=dict)
    threads: dict = dataclasses.field(default_factory=dict)
    # {uuid: (reason, detail)} for instances left without a group
    reasons: dict = dataclasses.field(default_factory=dict)


def plan(tree, instances, located, reserve, monitored):
    """What to remove, create and write, in that order.

    located: {uuid: [Thread]} for the instances whose threads are known,
    {uuid: (reason, detail)} for the others (their groups are kept as
    they are).  monitored: uuids that had a group before (they keep or
    get back theirs first when RMIDs run short).
    """
    p = Plan()
    # Groups already there count as monitored: an agent restarted adopts
    # them and they keep their RMIDs before new instances get one.
    monitored = set(monitored) | set(tree.ours())
    wanted = {}          # (ctrl, name) -> [tid]
    keep = set()         # (ctrl, name) of instances we could not look at
    order = []
    for inst in instances:
        name = rg.group_name(inst.uuid)
        found = located.get(inst.uuid)
        if inst.skip:
            continue
        if not isinstance(found, list):
            reason, detail = found or (missing.RESCTRL_NO_THREADS, '')
            p.reasons[inst.uuid] = (reason, detail)
            keep.update((c, name) for c in tree.ctrl_groups)
            continue
        if not found:
            p.reasons[inst.uuid] = (missing.RESCTRL_NO_THREADS,
                                    'no vCPU thread found')
            continue
        buckets = {}
        foreign = 0
        for thread in found:
            if thread.mon and thread.mon != name:
                foreign += 1          # another tool monitors it
                continue
            buckets.setdefault(thread.ctrl, []).append(thread)
        if not buckets:
            p.reasons[inst.uuid] = (
                missing.RESCTRL_FOREIGN,
                '%d threads in other tools\' groups' % foreign)
            continue
        for ctrl in sorted(buckets):
            wanted[(ctrl, name)] = buckets[ctrl]
            order.append((inst.uuid not in monitored, inst.uuid, ctrl))
    for _, where in sorted(tree.ours().items()):
        for ctrl, name in where:
            if (ctrl, name) not in wanted and (ctrl, name) not in keep:
                p.remove.append(rg.mon_path(ctrl, name))
    free = None
    if tree.num_rmids is not None:
        free = tree.num_rmids - (tree.used - len(p.remove))
    for _, uuid, ctrl in sorted(order):
        name = rg.group_name(uuid)
        path = rg.mon_path(ctrl, name)
        threads = wanted[(ctrl, name)]
        if not tree.has(ctrl, name):
            if free is not None and free <= reserve:
                if uuid not in p.groups:
                    p.reasons[uuid] = (
                        missing.RESCTRL_NO_RMID,
                        'num_rmids %s, in use %s, reserve %d'
                        % (tree.num_rmids, tree.num_rmids - free, reserve))
                continue
            if free is not None:
                free -= 1
            p.create.append(path)
        p.reasons.pop(uuid, None)
        p.groups.setdefault(uuid, []).append(path)
        p.threads[uuid] = p.threads.get(uuid, 0) + len(threads)
        p.write.extend((path, t.tid) for t in threads if t.mon != name)
    for ctrl, name in keep:
        if tree.has(ctrl, name):
            uuid = rg.uuid_of(name)
            p.groups.setdefault(uuid, []).append(rg.mon_path(ctrl, name))
    return p


# ------------------------------------------------------------------
# Apply, under the lock
# ------------------------------------------------------------------

class Locked(Exception):
    pass


def lock(root, timeout=LOCK_TIMEOUT):
    """An fd holding flock(LOCK_EX) on root; Locked past the timeout."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise Locked('%s stayed locked for %.0f s by another '
                             'writer' % (root, timeout)) from None
            time.sleep(0.02)
        except OSError:
            os.close(fd)
            raise


def unlock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _write_tid(path, tid):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, b'%d' % tid)
    finally:
        os.close(fd)


def apply(root, p, pids, proc, result):
    """Run the plan; what failed goes into result (see run())."""
    counts = result['counts']
    for path in p.remove:
        try:
            os.rmdir(check_path(root, path))
            counts['removed'] += 1
        except FileNotFoundError:
            pass
        except PermissionError as exc:
            raise PermissionError(exc.errno, 'rmdir %s' % path) from exc
    failed = {}          # path -> (reason, detail)
    stop = None
    for path in p.create:
        if stop is not None:
            failed[path] = stop
            continue
        try:
            os.mkdir(check_path(root, path))
            counts['created'] += 1
        except FileExistsError:
            counts['adopted'] += 1       # another reconciler was first
        except PermissionError as exc:
            raise PermissionError(exc.errno, 'mkdir %s' % path) from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                stop = (missing.RESCTRL_NO_RMID,
                        'the kernel has no free RMID (mkdir: ENOSPC)')
            elif exc.errno == errno.EBUSY:
                stop = (missing.RESCTRL_LIMBO,
                        'free RMIDs are still in limbo (mkdir: EBUSY)')
            else:
                stop = (missing.RESCTRL_ERROR, 'mkdir %s: %s'
                        % (path, exc.strerror))
            failed[path] = stop
    for path, tid in p.write:
        if path in failed:
            continue
        uuid = rg.uuid_of(path.rsplit('/', 1)[-1])
        pid = pids.get(uuid)
        if pid is not None and not proc.tid_alive(pid, tid):
            counts['gone'] += 1
            continue
        try:
            _write_tid(check_path(root, path + '/tasks'), tid)
            counts['written'] += 1
        except FileNotFoundError:
            failed[path] = (missing.RESCTRL_GROUP_GONE,
                            '%s vanished while being filled' % path)
        except PermissionError as exc:
            raise PermissionError(exc.errno, 'write %s/tasks' % path) \
                from exc
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                counts['gone'] += 1      # exited meanwhile
            elif exc.errno == errno.EINVAL:
                counts['moved'] += 1     # changed CTRL_MON meanwhile
            else:
                failed[path] = (missing.RESCTRL_ERROR, 'write %s/tasks: %s'
                                % (path, exc.strerror))
    return failed


def run(request, proc=None, clock=time.monotonic):
    """Reconcile once.  request (all validated):

        root        the resctrl root
        instances   [(uuid, domain name, skip)] running on this host
        monitored   [uuid] that had a group before (priority)
        threads     'vcpus' or 'all'
        reserve     RMIDs always left free

    Returns a dict of plain values (it crosses the privsep channel):
    problem (None, or UNUSABLE/NO_PRIVILEGE/LOCKED) and detail; groups
    {uuid: [paths]}; threads {uuid: count}; reasons {uuid: [reason,
    detail]}; counts; rmids {total, used, ours, reserve}; foreign [paths].
    """
    root, mode, reserve, instances, monitored = validate_request(request)
    proc = proc or _default_proc()
    started = clock()
    result = {'problem': None, 'detail': '', 'groups': {}, 'threads': {},
              'reasons': {}, 'foreign': [], 'rmids': {},
              'counts': dict.fromkeys(('removed', 'created', 'adopted',
                                       'written', 'gone', 'moved'), 0)}
    problem = rg.unusable(root)
    if problem is not None:
        result.update(problem=UNUSABLE, detail=problem)
        return result
    try:
        fd = lock(root)
    except Locked as exc:
        result.update(problem=LOCKED, detail=str(exc))
        return result
    except OSError as exc:
        result.update(problem=UNUSABLE, detail='cannot open %s: %s'
                      % (root, exc.strerror))
        return result
    try:
        _reconcile(root, mode, reserve, instances, monitored, proc, result)
    except PermissionError as exc:
        result.update(problem=NO_PRIVILEGE, detail='%s: %s' % (
            exc.strerror or exc, os.strerror(exc.errno or errno.EPERM)))
    except OSError as exc:
        # The tree went away under us (unmounted, remounted).
        result.update(problem=UNUSABLE, detail=str(exc))
    finally:
        unlock(fd)
        proc.end_cycle()
    result['seconds'] = clock() - started
    return result


_PROC = []


def _default_proc():
    # One per process (the agent, the privsep daemon, resctrl-sync), so
    # its caches live from cycle to cycle.
    if not _PROC:
        _PROC.append(Proc())
    return _PROC[0]


def _reconcile(root, mode, reserve, instances, monitored, proc, result):
    tree = rg.scan(root)
    located, pids = {}, {}
    for inst in instances:
        if inst.skip:
            continue
        try:
            pid, _ = proc.qemu_pid(inst)
            tids = proc.threads(pid, mode)
        except ThreadsUnknown as exc:
            located[inst.uuid] = (missing.RESCTRL_NO_THREADS, str(exc))
            continue
        pids[inst.uuid] = pid
        located[inst.uuid] = locate_threads(root, tree, tids, proc)
    p = plan(tree, instances, located, reserve, monitored)
    failed = apply(root, p, pids, proc, result)
    for uuid, paths in p.groups.items():
        good = [x for x in paths if x not in failed]
        if good:
            result['groups'][uuid] = good
            result['threads'][uuid] = p.threads.get(uuid)
        else:
            reason = failed[paths[0]]
            result['reasons'][uuid] = list(reason)
    for uuid, reason in p.reasons.items():
        if uuid not in result['groups']:
            result['reasons'][uuid] = list(reason)
    ours = sum(len(v) for v in tree.ours().values())
    ours += result['counts']['created'] - result['counts']['removed']
    used = tree.used + result['counts']['created'] - \
        result['counts']['removed']
    result['rmids'] = {'total': tree.num_rmids, 'used': used,
                       'ours': ours, 'reserve': reserve}
    result['foreign'] = tree.foreign()
    result['vanished'] = sorted(
        u for u in monitored
        if u in {i.uuid for i in instances if not i.skip}
        and u not in tree.ours())
