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

"""An emulator of the kernel's resctrl filesystem, mounted with FUSE.

This machine has no Intel RDT / AMD QoS hardware and no resctrl, so the
tests mount this instead and hand its mount point to the product as
``resctrl_root``.  The product reaches it through ordinary file calls
(mkdir, rmdir, open/read/write, listdir, flock); nothing in the product
knows it is talking to an emulator.

Every rule below comes from the kernel's user documentation,
Documentation/filesystems/resctrl.rst (the "doc" below, cited by section)
and, where the doc is silent, from the behaviour of fs/resctrl's
rdtgroup.c that the project's reference notes record
(/work/shared/reference/resctrl-monitoring-groups.md).  The code is ours.

The filesystem runs in a thread of the test process (fusepy over libfuse
2).  The test drives it through the :class:`ResctrlEmulator` object that
:func:`mount` returns: counter values per group and L3 domain, the thread
table, the RMID limbo, other tools' actions, a remount; and it asserts on
``emu.log``, the record of every mutating call that reached the
filesystem.

Group paths in the controller API are relative to the mount point, as
the kernel names them: ``''`` is the default (root) group, ``'COS1'`` a
CTRL_MON group, ``'mon_groups/x'`` and ``'COS1/mon_groups/y'`` MON groups.
"""

import atexit
import collections
import errno
import fnmatch
import os
import signal
import re
import subprocess
import threading
import time

EVENTS = ('llc_occupancy', 'mbm_total_bytes', 'mbm_local_bytes')
MBM_EVENTS = ('mbm_total_bytes', 'mbm_local_bytes')
# rdtgroup_mondata_show(): what a counter file holds instead of a number.
STATUS_WORDS = ('Unavailable', 'Unassigned', 'Error')
FSTYPE = 'fuse.resctrl-emulator'

CTRL_MON = 'CTRL_MON'
MON = 'MON'

# One mutating call that reached the filesystem: op is mkdir, rmdir,
# write or rename; path as the kernel sees it below the mount point
# ('/mon_groups/x/tasks'); data the bytes written decoded ('' for
# directory ops); errno 0 on success; pid of the caller; kind the type of
# the group the call acted on (CTRL_MON or MON, None for info/ files).
Call = collections.namedtuple('Call', 'op path data errno pid kind')


class Error(OSError):
    """An errno the filesystem returns (fusepy turns it into -errno)."""

    def __init__(self, code):
        super().__init__(code, os.strerror(code))


class Group:
    """A resource group: the default group, a CTRL_MON or a MON group.

    doc "Resource alloc and monitor groups": the root is the default
    CTRL_MON group, top-level directories are CTRL_MON groups, and
    directories under any ``mon_groups/`` are MON groups.
    """

    def __init__(self, serial, name, kind, parent, rmid, closid, mode):
        self.serial = serial
        self.name = name
        self.kind = kind
        self.parent = parent          # the CTRL_MON group of a MON group
        self.rmid = rmid
        self.closid = closid
        self.mode = mode
        self.mon = {}                 # MON groups of a CTRL_MON group
        self.cpus = set()
        self.values = {}              # (event, domain, sub) -> int | word
        self.assigned = {}            # (event, domain) -> bool, mbm_event
        self.schemata = {}            # L3 domain -> cache bit mask
        self.time = time.time_ns()
        self.alive = True

    @property
    def is_root(self):
        return self.kind == CTRL_MON and self.name == ''

    @property
    def path(self):
        if self.kind == CTRL_MON:
            return self.name
        prefix = self.parent.name + '/' if self.parent.name else ''
        return prefix + 'mon_groups/' + self.name

    def __repr__(self):
        return '<Group %s %r rmid=%s>' % (self.kind, self.path, self.rmid)


class _Node:
    """A directory or file of the tree, built on each lookup."""

    def __init__(self, key, mode, entries=None, read=None, write=None,
                 group=None, ctime=None):
        self.key = key
        self.mode = mode
        self.entries = entries
        self.read = read
        self.write = write
        self.group = group
        self.ctime = ctime

    @property
    def is_dir(self):
        return self.entries is not None


def _mask_text(cpus, ncpus):
    """A cpumask as the kernel prints it ("%*pb"): comma-separated
    32-bit hex words, the first one only as wide as its bits."""
    value = sum(1 << c for c in cpus)
    words = []
    bits = ncpus
    while bits > 0:
        width = bits % 32 or 32
        bits -= width
        words.append('%0*x' % ((width + 3) // 4,
                               (value >> bits) & ((1 << width) - 1)))
    return ','.join(words)


def _list_text(cpus):
    """A cpumask as a range list ("%*pbl"): 0-3,8."""
    out = []
    for c in sorted(cpus):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return ','.join('%d' % a if a == b else '%d-%d' % (a, b)
                    for a, b in out)


def _parse_mask(text):
    text = re.sub(r'[\s,]', '', text)
    if not text or not re.fullmatch(r'[0-9a-fA-F]+', text):
        raise ValueError(text)
    value = int(text, 16)
    return {b for b in range(value.bit_length()) if value >> b & 1}


def _parse_list(text):
    cpus = set()
    for part in text.strip().split(','):
        if not part:
            continue
        m = re.fullmatch(r'(\d+)(?:-(\d+))?', part.strip())
        if not m:
            raise ValueError(part)
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first:
            raise ValueError(part)
        cpus.update(range(first, last + 1))
    return cpus


def _combine(values):
    """One reading out of several RMIDs' or SNC nodes' values.

    doc "mon_data": a CTRL_MON group shows the sum over its own tasks and
    its MON groups; "Notes on Sub-NUMA Cluster mode": mon_L3_XX is the
    sum of its mon_sub_L3_YY nodes.  A failed read of any part fails the
    whole reading (Error before Unavailable); 'Unassigned' only when no
    part has a counter (doc "mon_data", mbm_event mode).
    """
    for word in ('Error', 'Unavailable'):
        if word in values:
            return word
    numbers = [v for v in values if not isinstance(v, str)]
    if not numbers:
        return 'Unassigned'
    return sum(numbers)


class ResctrlEmulator:
    """The kernel model behind the mount, and the test's controller.

    Configuration (keyword arguments, all optional):

    num_rmids            info/L3_MON/num_rmids, the host-wide RMID pool;
                         the default group holds one (RMID 0).
    domains              L3 cache ids, one mon_L3_XX each; gaps allowed
                         (doc "Cache IDs"), e.g. (0, 2).
    snc                  Sub-NUMA nodes per L3 cache: adds
                         mon_L3_XX/mon_sub_L3_YY (node numbers counted up
                         over the domains in order).
    events               the L3 events (info/L3_MON/mon_features).
    bmec                 list the *_config features (doc "mon_features").
    alloc                RDT allocation present: CTRL_MON groups can be
                         made, schemata files, info/L3 (CAT).
    num_closids, cbm_mask, min_cbm_bits
                         info/L3 (CAT), limit of CTRL_MON groups.
    l3_size              bytes of one L3; max_threshold_occupancy starts
                         at l3_size / num_rmids (doc "Info directory").
    mbm_assign_mode      None (no file), 'default' or 'mbm_event' (AMD).
    num_mbm_cntrs        counters per domain (ABMC): the file lists both
                         modes and mbm_event can be chosen.
    debug                the "debug" mount option: mon_hw_id, ctrl_hw_id.
    ncpus                logical CPUs (cpus, cpus_list).
    host_threads         a thread id exists when /proc/<tid> exists on
                         this host (real QEMU threads work); the test's
                         own table (add_thread) is always consulted.
    limbo_seconds        how long an rmdir'ed group's RMID stays in limbo
                         (0: none; None: until release_limbo()).
    """

    def __init__(self, num_rmids=8, domains=(0, 1), snc=None,
                 events=EVENTS, bmec=False, alloc=True, num_closids=16,
                 cbm_mask=0xfffff, min_cbm_bits=1, l3_size=35 << 20,
                 mbm_assign_mode=None, num_mbm_cntrs=None, debug=False,
                 ncpus=None, host_threads=True, limbo_seconds=0):
        self.num_rmids = num_rmids
        self.domains = tuple(domains)
        self.events = tuple(events)
        self.bmec = bmec
        self.alloc = alloc
        self.num_closids = num_closids
        self.cbm_mask = cbm_mask
        self.min_cbm_bits = min_cbm_bits
        self.l3_size = l3_size
        self.assign_modes = (('mbm_event', 'default') if num_mbm_cntrs
                             else ('default',))
        self.num_mbm_cntrs = num_mbm_cntrs
        if mbm_assign_mode not in (None,) + self.assign_modes:
            raise ValueError('mbm_assign_mode %r needs num_mbm_cntrs'
                             % mbm_assign_mode)
        self._initial_assign_mode = mbm_assign_mode
        self.debug = debug
        self.ncpus = ncpus or os.cpu_count() or 1
        self.host_threads = host_threads
        self.limbo_seconds = limbo_seconds
        # (domain) -> tuple of SNC node numbers
        self.sub_nodes = {}
        if snc:
            node = 0
            for d in self.domains:
                self.sub_nodes[d] = tuple(range(node, node + snc))
                node += snc
        # thread_exists(tid) -> bool replaces the /proc check when set.
        self.thread_exists = None
        self.mountpoint = None
        self.log = []
        self.internal_errors = []     # exceptions of our own handlers
        self._lock = threading.RLock()
        self._serial = 0
        self._gen = 0
        self._inodes = {}
        self._next_ino = 1
        self._handles = {}
        self._next_fh = 1
        self._threads = {}            # the test's thread table
        self._mounted = True
        self._reset()

    # ---------------------------------------------------------------
    # State
    # ---------------------------------------------------------------

    def _reset(self):
        """A fresh mount (doc, top: mounting; rdt_kill_sb() on unmount
        destroys every group and gives every task back to the default
        group)."""
        self._gen += 1
        self._inodes = {}
        for g in self._all_groups() if hasattr(self, '_root') else ():
            g.alive = False
        self._serial += 1
        self._root = Group(self._serial, '', CTRL_MON, None, 0, 0, 0o555)
        self._root.cpus = set(range(self.ncpus))
        self._root.schemata = {d: self.cbm_mask for d in self.domains}
        self._ctrl = {}
        self._ctrl_of = {}            # tid -> non-default CTRL_MON group
        self._mon_of = {}             # tid -> MON group
        self._free_rmids = collections.deque(range(1, self.num_rmids))
        self._limbo = []              # [rmid, release time or None]
        self._free_closids = list(range(1, self.num_closids))
        self._last_cmd = ''
        self.max_threshold_occupancy = self.l3_size // max(
            self.num_rmids, 1)
        self.assign_mode = self._initial_assign_mode
        self.assign_on_mkdir = 1
        self._cntrs_free = {d: self.num_mbm_cntrs or 0
                            for d in self.domains}
        self._init_values(self._root)

    def _all_groups(self):
        groups = [self._root] + list(self._root.mon.values())
        for c in self._ctrl.values():
            groups.append(c)
            groups.extend(c.mon.values())
        return groups

    def _init_values(self, g):
        """doc "Info directory"/reference §0.9: mbm_*_bytes count from 0
        at mkdir; a fresh RMID's llc_occupancy starts near 0."""
        for event in self.events:
            for d in self.domains:
                for s in self.sub_nodes.get(d, (None,)):
                    g.values[(event, d, s)] = 0
        for event in MBM_EVENTS:
            for d in self.domains:
                g.assigned[(event, d)] = False
                if (self.assign_mode == 'mbm_event'
                        and self.assign_on_mkdir):
                    self._assign(g, event, d)
                elif self.assign_mode != 'mbm_event':
                    g.assigned[(event, d)] = True

    def _assign(self, g, event, d):
        """mbm_event mode (doc "mbm_assign_mode", "mbm_assign_on_mkdir"):
        a counter per (group, event, domain) while the domain has one."""
        if g.assigned.get((event, d)):
            return True
        if self._cntrs_free[d] <= 0:
            return False
        self._cntrs_free[d] -= 1
        g.assigned[(event, d)] = True
        return True

    def _unassign_all(self, g):
        for (event, d), on in g.assigned.items():
            if on and self.assign_mode == 'mbm_event':
                self._cntrs_free[d] += 1
            g.assigned[(event, d)] = False

    def _new_group(self, name, kind, parent, rmid, closid, mode):
        self._serial += 1
        g = Group(self._serial, name, kind, parent, rmid, closid, mode)
        self._init_values(g)
        return g

    # RMIDs: doc "Info directory" (num_rmids), "Notes on cache occupancy
    # monitoring and control" and "max_threshold_occupancy - generic
    # concepts" (limbo, EBUSY); fs/resctrl: resctrl_find_free_rmid()
    # returns -EBUSY when the free list is empty but RMIDs sit in limbo,
    # else -ENOSPC, and mkdir says "Out of RMIDs".

    def _age_limbo(self):
        now = time.monotonic()
        keep = []
        for entry in self._limbo:
            if entry[1] is not None and entry[1] <= now:
                self._free_rmids.append(entry[0])
            else:
                keep.append(entry)
        self._limbo = keep

    def _alloc_rmid(self):
        self._age_limbo()
        if self._free_rmids:
            return self._free_rmids.popleft()
        self._last_cmd += 'Out of RMIDs\n'
        raise Error(errno.EBUSY if self._limbo else errno.ENOSPC)

    def _free_rmid(self, rmid):
        # Limbo exists only while llc_occupancy is monitored (a freed RMID
        # still tags cache lines of its previous user).
        if self.limbo_seconds == 0 or 'llc_occupancy' not in self.events:
            self._free_rmids.append(rmid)
        else:
            until = (None if self.limbo_seconds is None
                     else time.monotonic() + self.limbo_seconds)
            self._limbo.append([rmid, until])

    # Threads: doc "tasks"; fs/resctrl rdtgroup_move_task() resolves the
    # id in the writer's PID namespace (ESRCH "No task %d").

    def _exists(self, tid):
        if self.thread_exists is not None:
            return bool(self.thread_exists(tid))
        if tid in self._threads:
            return True
        return (self.host_threads and tid > 0
                and os.path.exists('/proc/%d' % tid))

    def _host_tids(self):
        tids = set(self._threads)
        if self.host_threads and self.thread_exists is None:
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    try:
                        tids.update(int(t) for t in
                                    os.listdir('/proc/%s/task' % pid))
                    except OSError:
                        continue
        return tids

    def _prune(self):
        """Exited threads leave their groups."""
        for table in (self._ctrl_of, self._mon_of):
            for tid in [t for t in table if not self._exists(t)]:
                del table[tid]

    def _ctrl_group_of(self, tid):
        return self._ctrl_of.get(tid, self._root)

    def _tasks(self, g):
        """doc "tasks": "Reading this file shows the list of all tasks
        that belong to this group"; a CTRL_MON group's list includes the
        tasks of its MON groups (show_rdt_tasks() matches the CLOSID)."""
        self._prune()
        if g.kind == MON:
            return sorted(t for t, m in self._mon_of.items() if m is g)
        if not g.is_root:
            return sorted(t for t, c in self._ctrl_of.items() if c is g)
        return sorted(t for t in self._host_tids()
                      if t not in self._ctrl_of and self._exists(t))

    def _move_task(self, tid, g):
        """doc "tasks": "If the group is a CTRL_MON group the task is
        removed from whichever previous CTRL_MON group owned the task and
        also from any MON group that owned the task. If the group is a
        MON group, then the task must already belong to the CTRL_MON
        parent of this group." (EINVAL "Can't move task to different
        control group"); an unknown id is ESRCH "No task %d"."""
        if not self._exists(tid):
            self._last_cmd += 'No task %d\n' % tid
            raise Error(errno.ESRCH)
        if g.kind == MON:
            if self._mon_of.get(tid) is g:
                return
            if self._ctrl_group_of(tid) is not g.parent:
                self._last_cmd += "Can't move task to different control " \
                                  "group\n"
                raise Error(errno.EINVAL)
            self._mon_of[tid] = g
            return
        self._mon_of.pop(tid, None)
        if g.is_root:
            self._ctrl_of.pop(tid, None)
        else:
            self._ctrl_of[tid] = g

    def _write_tasks(self, g, text):
        """doc "tasks": "Multiple tasks can be added by separating the
        task ids with commas. Tasks will be assigned sequentially. ... A
        single failure ... will cause the operation to abort and already
        added tasks before the failure will remain in the group."."""
        buf = text
        while buf and buf[0] not in '\0\n':
            token, _, buf = buf.partition(',')
            token = token.strip()
            try:
                tid = int(token, 0)
            except ValueError:
                self._last_cmd += 'Task list parsing error pid %s\n' % token
                raise Error(errno.EINVAL) from None
            if tid < 0:
                self._last_cmd += 'Invalid pid %d\n' % tid
                raise Error(errno.EINVAL)
            try:
                self._move_task(tid, g)
            except Error:
                self._last_cmd += 'Error while processing task %d\n' % tid
                raise

    # cpus: doc "cpus" ("a hierarchy is maintained where MON groups may
    # only include CPUs owned by the parent CTRL_MON group").

    def _write_cpus(self, g, text, as_list):
        try:
            new = _parse_list(text) if as_list else _parse_mask(text)
        except ValueError:
            self._last_cmd += 'Bad CPU list/mask\n'
            raise Error(errno.EINVAL) from None
        if any(c >= self.ncpus for c in new):
            self._last_cmd += 'Can only assign online CPUs\n'
            raise Error(errno.EINVAL)
        if g.kind == MON:
            if new - g.parent.cpus:
                self._last_cmd += ('Can only add CPUs to mongroup that '
                                   'belong to parent\n')
                raise Error(errno.EINVAL)
            for sibling in g.parent.mon.values():
                if sibling is not g:
                    sibling.cpus -= new
            g.cpus = new
            return
        if g.is_root:
            if g.cpus - new:
                self._last_cmd += "Can't drop CPUs from default group\n"
                raise Error(errno.EINVAL)
            return
        dropped = g.cpus - new
        self._root.cpus |= dropped
        for m in g.mon.values():
            m.cpus -= dropped
        for other in [self._root] + list(self._ctrl.values()):
            if other is not g:
                other.cpus -= new
                for m in other.mon.values():
                    m.cpus -= new
        g.cpus = new

    # schemata: doc "Schemata files - general concepts", "Cache Bit Masks
    # (CBM)", "L3 schemata file details"; L3 only.

    def _schemata_text(self, g):
        return 'L3:' + ';'.join('%d=%x' % (d, g.schemata[d])
                                for d in self.domains) + '\n'

    def _write_schemata(self, g, text):
        staged = dict(g.schemata)
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            res, sep, rest = line.partition(':')
            if not sep:
                self._last_cmd += 'Missing \':\'\n'
                raise Error(errno.EINVAL)
            if res.strip() != 'L3':
                self._last_cmd += ("Unknown or unsupported resource name "
                                   "'%s'\n" % res.strip())
                raise Error(errno.EINVAL)
            for item in rest.split(';'):
                dom, eq, mask = item.partition('=')
                if not eq or not dom.strip().isdigit() \
                        or int(dom) not in g.schemata:
                    self._last_cmd += "Missing '=' or non-numeric domain\n"
                    raise Error(errno.EINVAL)
                mask = mask.strip()
                if not re.fullmatch(r'[0-9a-fA-F]+', mask):
                    self._last_cmd += 'Non-hex character in the mask %s\n' \
                        % mask
                    raise Error(errno.EINVAL)
                value = int(mask, 16)
                if value & ~self.cbm_mask:
                    self._last_cmd += 'Mask out of range\n'
                    raise Error(errno.EINVAL)
                bits = bin(value).strip('0b')
                if '0' in bits:
                    self._last_cmd += ('mask %s has non-consecutive '
                                       '1-bits\n' % mask)
                    raise Error(errno.EINVAL)
                if len(bits) < self.min_cbm_bits:
                    self._last_cmd += 'Need at least %d bits in the mask\n' \
                        % self.min_cbm_bits
                    raise Error(errno.EINVAL)
                staged[int(dom)] = value
        g.schemata = staged

    # ---------------------------------------------------------------
    # Directory operations (doc "Resource alloc and monitor groups")
    # ---------------------------------------------------------------

    def _mkdir(self, parent_parts, name, mode):
        """fs/resctrl rdtgroup_mkdir(): a directory in the root is a
        CTRL_MON group (when allocation is supported), one in a
        ``mon_groups`` directory is a MON group; anywhere else EPERM.
        A name with a newline is EINVAL; an existing name EEXIST;
        CTRL_MON needs a free CLOSID ("Out of CLOSIDs"), every group an
        RMID ("Out of RMIDs", ENOSPC, or EBUSY while some are in limbo).
        """
        self._last_cmd = ''
        if not self._mounted:
            raise Error(errno.EPERM)
        if '\n' in name:
            raise Error(errno.EINVAL)
        node = self._lookup(parent_parts)
        if not node.is_dir:
            raise Error(errno.ENOTDIR)
        if name in node.entries():
            raise Error(errno.EEXIST)
        mode = (mode & 0o777) or 0o755
        if not parent_parts and self.alloc:
            if not self._free_closids:
                self._last_cmd += 'Out of CLOSIDs\n'
                raise Error(errno.ENOSPC)
            rmid = self._alloc_rmid()
            closid = self._free_closids.pop(0)
            g = self._new_group(name, CTRL_MON, None, rmid, closid, mode)
            g.schemata = {d: self.cbm_mask for d in self.domains}
            self._ctrl[name] = g
            return g
        if parent_parts and parent_parts[-1] == 'mon_groups' \
                and name != 'mon_groups':
            ctrl = node.group
            rmid = self._alloc_rmid()
            g = self._new_group(name, MON, ctrl, rmid, ctrl.closid, mode)
            ctrl.mon[name] = g
            return g
        raise Error(errno.EPERM)

    def _remove_mon(self, g):
        """rmdir of a MON group: its tasks and CPUs go back to the
        CTRL_MON parent (doc "Removing a directory will move all tasks
        and cpus owned by the group it represents to the parent")."""
        for tid in [t for t, m in self._mon_of.items() if m is g]:
            del self._mon_of[tid]
        self._unassign_all(g)
        del g.parent.mon[g.name]
        g.alive = False
        self._free_rmid(g.rmid)

    def _remove_ctrl(self, g):
        """rmdir of a CTRL_MON group: its tasks and CPUs go to the
        default group and "Removing one of the created CTRL_MON groups
        will automatically remove all MON groups below it"."""
        for m in list(g.mon.values()):
            self._remove_mon(m)
        for tid in [t for t, c in self._ctrl_of.items() if c is g]:
            del self._ctrl_of[tid]
        self._root.cpus |= g.cpus
        self._unassign_all(g)
        del self._ctrl[g.name]
        g.alive = False
        self._free_rmid(g.rmid)
        self._free_closids.append(g.closid)

    def _rmdir(self, parts):
        """fs/resctrl rdtgroup_rmdir(): only a CTRL_MON group directly in
        the root or a MON group directly in a mon_groups directory; any
        other directory is EPERM (the kernel removes groups whether or
        not they hold tasks)."""
        if not self._mounted:
            raise Error(errno.ENOENT)
        node = self._lookup(parts)
        if not node.is_dir:
            raise Error(errno.ENOTDIR)
        g = node.group
        if g is not None and len(parts) == 1 and g.kind == CTRL_MON \
                and not g.is_root and parts[0] in self._ctrl:
            self._remove_ctrl(g)
            return g
        if g is not None and g.kind == MON and len(parts) >= 2 \
                and parts[-2] == 'mon_groups' and parts[-1] == g.name \
                and node.key[-1] == 'dir':
            self._remove_mon(g)
            return g
        raise Error(errno.EPERM)

    def _rename(self, old, new):
        """doc "Resource alloc and monitor groups": "Moving MON group
        directories to a new parent CTRL_MON group is supported ...
        without impacting its monitoring data or assigned tasks. This
        operation is not allowed for MON groups which monitor CPUs."
        fs/resctrl rdtgroup_rename() accepts only a MON group as the
        source (EPERM "Source must be a MON group") and a mon_groups
        directory as the destination; the tasks follow the group into
        the new CTRL_MON group."""
        self._last_cmd = ''
        if not self._mounted or not old or not new:
            raise Error(errno.ENOENT)
        src = self._lookup(old)
        dst = self._lookup(new[:-1])
        if not src.is_dir or not dst.is_dir:
            self._last_cmd += 'Source and destination must be directories'
            raise Error(errno.EPERM)
        g = src.group
        if g is None or g.kind != MON or src.key != self._key(g, 'dir'):
            self._last_cmd += 'Source must be a MON group\n'
            raise Error(errno.EPERM)
        if len(new) < 2 or new[-2] != 'mon_groups' \
                or new[-1] == 'mon_groups' \
                or dst.key != self._key(dst.group, 'mon_groups'):
            self._last_cmd += 'Destination must be a mon_groups ' \
                              'subdirectory\n'
            raise Error(errno.EPERM)
        ctrl = dst.group
        if g.cpus and ctrl is not g.parent:
            self._last_cmd += 'Cannot move a MON group that monitors CPUs\n'
            raise Error(errno.EPERM)
        if new[-1] in ctrl.mon:
            if ctrl.mon[new[-1]] is g:
                return g
            raise Error(errno.EEXIST)
        del g.parent.mon[g.name]
        g.name, g.parent, g.closid = new[-1], ctrl, ctrl.closid
        ctrl.mon[g.name] = g
        for tid in [t for t, m in self._mon_of.items() if m is g]:
            if ctrl.is_root:
                self._ctrl_of.pop(tid, None)
            else:
                self._ctrl_of[tid] = ctrl
        return g

    # ---------------------------------------------------------------
    # The tree
    # ---------------------------------------------------------------

    def _key(self, g, *rel):
        return (self._gen, g.serial) + rel

    def _value(self, g, event, d, s):
        def own(c):
            if event in MBM_EVENTS and not c.assigned.get((event, d)):
                return 'Unassigned'
            if s is None and d in self.sub_nodes:
                return _combine([c.values[(event, d, n)]
                                 for n in self.sub_nodes[d]])
            return c.values[(event, d, s)]
        parts = [g] + (list(g.mon.values()) if g.kind == CTRL_MON else [])
        return _combine([own(c) for c in parts])

    def _events_dir(self, g, d, s, key):
        files = {e: _Node(key + (e,), 0o444, group=g,
                          read=(lambda e=e: '%s\n' % self._value(
                              g, e, d, s)))
                 for e in self.events}
        return files

    def _mon_data_node(self, g, rest):
        base = self._key(g, 'mon_data')
        if not rest:
            return _Node(base, g.mode, group=g, entries=lambda: [
                'mon_L3_%02d' % d for d in self.domains])
        m = re.fullmatch(r'mon_L3_(\d\d+)', rest[0])
        if not m or int(m.group(1)) not in self.domains:
            raise Error(errno.ENOENT)
        d = int(m.group(1))
        key = base + (rest[0],)
        subs = self.sub_nodes.get(d, ())
        files = self._events_dir(g, d, None, key)
        subdirs = ['mon_sub_L3_%02d' % n for n in subs]
        if len(rest) == 1:
            return _Node(key, g.mode, group=g,
                         entries=lambda: list(files) + subdirs)
        if len(rest) == 2 and rest[1] in files:
            return files[rest[1]]
        if rest[1] in subdirs:
            s = subs[subdirs.index(rest[1])]
            key += (rest[1],)
            files = self._events_dir(g, d, s, key)
            if len(rest) == 2:
                return _Node(key, g.mode, group=g,
                             entries=lambda: list(files))
            if len(rest) == 3 and rest[2] in files:
                return files[rest[2]]
        raise Error(errno.ENOENT)

    def _group_files(self, g):
        f = {
            'tasks': (0o644, lambda: ''.join(
                '%d\n' % t for t in self._tasks(g)),
                lambda text: self._write_tasks(g, text)),
            'cpus': (0o644, lambda: _mask_text(g.cpus, self.ncpus) + '\n',
                     lambda text: self._write_cpus(g, text, False)),
            'cpus_list': (0o644, lambda: _list_text(g.cpus) + '\n',
                          lambda text: self._write_cpus(g, text, True)),
        }
        if g.kind == CTRL_MON and self.alloc:
            f['schemata'] = (0o644, lambda: self._schemata_text(g),
                             lambda text: self._write_schemata(g, text))
        if self.debug:
            f['mon_hw_id'] = (0o444, lambda: '%d\n' % g.rmid, None)
            if g.kind == CTRL_MON and self.alloc:
                f['ctrl_hw_id'] = (0o444, lambda: '%d\n' % g.closid, None)
        if self.num_mbm_cntrs:
            f['mbm_L3_assignments'] = (
                0o644, lambda: self._assignments_text(g),
                lambda text: self._write_assignments(g, text))
        return f

    def _assignments_text(self, g):
        return ''.join('%s:%s\n' % (e, ';'.join(
            '%d=%s' % (d, 'e' if g.assigned.get((e, d)) else '_')
            for d in self.domains)) for e in MBM_EVENTS if e in self.events)

    def _write_assignments(self, g, text):
        """doc "mbm_L3_assignments": <event>:<domain>=<e|_>;... with '*'
        for all domains."""
        if self.assign_mode != 'mbm_event':
            self._last_cmd += 'mbm_event counter assignment mode is not ' \
                              'enabled\n'
            raise Error(errno.EINVAL)
        for line in text.split():
            event, _, rest = line.partition(':')
            if event not in MBM_EVENTS or event not in self.events:
                self._last_cmd += 'Invalid event %s\n' % event
                raise Error(errno.EINVAL)
            for item in rest.split(';'):
                dom, _, state = item.partition('=')
                doms = self.domains if dom == '*' else (
                    [int(dom)] if dom.isdigit()
                    and int(dom) in self.domains else None)
                if doms is None or state not in ('e', '_'):
                    self._last_cmd += 'Invalid assignment %s\n' % item
                    raise Error(errno.EINVAL)
                for d in doms:
                    if state == '_':
                        if g.assigned.get((event, d)):
                            self._cntrs_free[d] += 1
                        g.assigned[(event, d)] = False
                    elif not self._assign(g, event, d):
                        self._last_cmd += ('Failed to allocate counter for '
                                           '%s in domain %d\n' % (event, d))
                        raise Error(errno.ENOSPC)

    def _group_entries(self, g):
        names = list(self._group_files(g)) + ['mon_data']
        if g.kind == CTRL_MON:
            names.append('mon_groups')
        if g.is_root:
            names = ['info'] + names + sorted(self._ctrl)
        return names

    def _group_node(self, g, parts):
        if not parts:
            return _Node(self._key(g, 'dir'), g.mode, group=g,
                         entries=lambda: self._group_entries(g),
                         ctime=g.time)
        name, rest = parts[0], parts[1:]
        if name == 'mon_groups' and g.kind == CTRL_MON:
            if not rest:
                return _Node(self._key(g, 'mon_groups'), g.mode, group=g,
                             entries=lambda: sorted(g.mon))
            if rest[0] not in g.mon:
                raise Error(errno.ENOENT)
            return self._group_node(g.mon[rest[0]], rest[1:])
        if name == 'mon_data':
            return self._mon_data_node(g, rest)
        files = self._group_files(g)
        if name in files and not rest:
            mode, read, write = files[name]
            return _Node(self._key(g, name), mode, read=read, write=write,
                         group=g)
        raise Error(errno.ENOENT)

    def _info_files(self):
        """doc "Info directory"."""
        mon = {
            'num_rmids': (0o444, lambda: '%d\n' % self.num_rmids, None),
            'mon_features': (0o444, self._features_text, None),
            'max_threshold_occupancy': (
                0o644, lambda: '%d\n' % self.max_threshold_occupancy,
                self._write_threshold),
        }
        if self.assign_mode is not None:
            mon['mbm_assign_mode'] = (0o644, self._assign_mode_text,
                                      self._write_assign_mode)
        if self.num_mbm_cntrs:
            mon['num_mbm_cntrs'] = (0o444, lambda: ';'.join(
                '%d=%d' % (d, self.num_mbm_cntrs)
                for d in self.domains) + '\n', None)
            mon['available_mbm_cntrs'] = (0o444, lambda: ';'.join(
                '%d=%d' % (d, self._cntrs_free[d])
                for d in self.domains) + '\n', None)
            mon['mbm_assign_on_mkdir'] = (
                0o644, lambda: '%d\n' % self.assign_on_mkdir,
                self._write_assign_on_mkdir)
        if self.bmec:
            for e in MBM_EVENTS:
                conf = 0x7f if e == 'mbm_total_bytes' else 0x15
                mon[e + '_config'] = (0o444, lambda c=conf: ';'.join(
                    '%d=0x%x' % (d, c) for d in self.domains) + '\n', None)
        tree = {'last_cmd_status': (0o444, lambda: self._last_cmd or 'ok\n',
                                    None),
                'L3_MON': mon}
        if self.alloc:
            tree['L3'] = {
                'num_closids': (0o444, lambda: '%d\n' % self.num_closids,
                                None),
                'cbm_mask': (0o444, lambda: '%x\n' % self.cbm_mask, None),
                'min_cbm_bits': (0o444, lambda: '%d\n' % self.min_cbm_bits,
                                 None),
                'shareable_bits': (0o444, lambda: '0\n', None),
                'sparse_masks': (0o444, lambda: '0\n', None),
            }
        return tree

    def _features_text(self):
        lines = []
        for e in self.events:
            lines.append(e)
            if self.bmec and e in MBM_EVENTS:
                lines.append(e + '_config')
        return ''.join(x + '\n' for x in lines)

    def _assign_mode_text(self):
        return ''.join(('[%s]' % m if m == self.assign_mode else m) + '\n'
                       for m in self.assign_modes)

    def _write_assign_mode(self, text):
        """doc "mbm_assign_mode": "Changing the mode may cause all
        counters on the resource to reset"; in mbm_event mode events
        without a counter read 'Unassigned'."""
        mode = text.strip()
        if mode not in self.assign_modes:
            self._last_cmd += 'Unsupported assign mode %s\n' % mode
            raise Error(errno.EINVAL)
        if mode == self.assign_mode:
            return
        groups = self._all_groups()
        for g in groups:
            self._unassign_all(g)
        self.assign_mode = mode
        self._cntrs_free = {d: self.num_mbm_cntrs or 0
                            for d in self.domains}
        for g in groups:
            for (event, d, s) in list(g.values):
                if event in MBM_EVENTS:
                    g.values[(event, d, s)] = 0
            for event in MBM_EVENTS:
                for d in self.domains:
                    g.assigned[(event, d)] = mode != 'mbm_event'

    def _write_assign_on_mkdir(self, text):
        if text.strip() not in ('0', '1'):
            raise Error(errno.EINVAL)
        self.assign_on_mkdir = int(text.strip())

    def _write_threshold(self, text):
        try:
            value = int(text.strip())
        except ValueError:
            raise Error(errno.EINVAL) from None
        if value < 0 or value > self.l3_size:
            raise Error(errno.EINVAL)
        self.max_threshold_occupancy = value

    def _info_node(self, parts):
        tree = self._info_files()
        key = (self._gen, 'info')
        for i, name in enumerate(parts):
            if not isinstance(tree, dict) or name not in tree:
                raise Error(errno.ENOENT)
            tree = tree[name]
            key += (name,)
            if isinstance(tree, tuple):
                if i != len(parts) - 1:
                    raise Error(errno.ENOTDIR)
                mode, read, write = tree
                return _Node(key, mode, read=read, write=write)
        return _Node(key, 0o555, entries=lambda t=tree: list(t))

    def _lookup(self, parts):
        if not self._mounted:
            if parts:
                raise Error(errno.ENOENT)
            return _Node((self._gen, 'unmounted'), 0o755,
                         entries=lambda: [])
        if parts and parts[0] == 'info':
            return self._info_node(parts[1:])
        if parts and parts[0] in self._ctrl:
            return self._group_node(self._ctrl[parts[0]], parts[1:])
        return self._group_node(self._root, parts)

    def _ino(self, key):
        # Never reused, across remounts too: a recreated group is a new
        # directory (kernfs gives it a new inode).
        if key not in self._inodes:
            self._next_ino += 1
            self._inodes[key] = self._next_ino
        return self._inodes[key]

    # ---------------------------------------------------------------
    # Entry points of the FUSE adapter (hold the lock, log)
    # ---------------------------------------------------------------

    @staticmethod
    def _split(path):
        return [p for p in path.split('/') if p]

    def _record(self, op, path, data, err, pid, group):
        kind = group.kind if group is not None else None
        self.log.append(Call(op, path, data, err, pid, kind))

    def fs_getattr(self, path):
        with self._lock:
            node = self._lookup(self._split(path))
            t = node.ctime or self._root.time
            st = dict(st_ino=self._ino(node.key), st_uid=0, st_gid=0,
                      st_atime=t, st_mtime=t, st_ctime=t, st_size=0)
            if node.is_dir:
                st.update(st_mode=0o040000 | node.mode, st_nlink=2)
            else:
                st.update(st_mode=0o100000 | node.mode, st_nlink=1)
            return st

    def fs_readdir(self, path):
        with self._lock:
            node = self._lookup(self._split(path))
            if not node.is_dir:
                raise Error(errno.ENOTDIR)
            return ['.', '..'] + list(node.entries())

    def fs_open(self, path, flags):
        """kernfs: opening a file for writing that has no write handler
        (mode 0444) fails EACCES, even for root."""
        with self._lock:
            node = self._lookup(self._split(path))
            if (flags & os.O_ACCMODE) != os.O_RDONLY and node.write is None:
                raise Error(errno.EACCES)
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = [node, None, self._gen, path]
            return fh

    def _handle(self, fh):
        handle = self._handles.get(fh)
        if handle is None:
            raise Error(errno.EBADF)
        node, _, gen, _ = handle
        # kernfs: a file of a removed group (or of a previous mount)
        # reads and writes ENODEV.
        if gen != self._gen or (node.group is not None
                                and not node.group.alive):
            raise Error(errno.ENODEV)
        return handle

    def fs_read(self, fh, size, offset):
        with self._lock:
            handle = self._handle(fh)
            if offset == 0 or handle[1] is None:
                handle[1] = handle[0].read().encode()
            return handle[1][offset:offset + size]

    def fs_write(self, fh, data, pid):
        """One write() is one command (kernfs hands the whole buffer to
        the handler); doc "Info directory": last_cmd_status is reset
        with every command and says "ok" or why it failed."""
        text = data.decode(errors='replace')
        with self._lock:
            node = group = None
            handle = self._handles.get(fh)
            path = handle[3] if handle else None
            try:
                node = self._handle(fh)[0]
                group = node.group
                self._last_cmd = ''
                if node.write is None:
                    raise Error(errno.EACCES)
                node.write(text)
            except OSError as e:
                self._record('write', path, text, e.errno, pid, group)
                raise
            self._record('write', path, text, 0, pid, group)
            return len(data)

    def fs_release(self, fh):
        with self._lock:
            self._handles.pop(fh, None)

    def fs_mkdir(self, path, mode, pid):
        parts = self._split(path)
        with self._lock:
            try:
                g = self._mkdir(parts[:-1], parts[-1], mode)
            except OSError as e:
                kind = MON if 'mon_groups' in parts[:-1] else CTRL_MON
                self.log.append(Call('mkdir', path, '', e.errno, pid, kind))
                raise
            self._record('mkdir', path, '', 0, pid, g)

    def fs_rmdir(self, path, pid):
        with self._lock:
            try:
                g = self._rmdir(self._split(path))
            except OSError as e:
                self.log.append(Call('rmdir', path, '', e.errno, pid, None))
                raise
            self._record('rmdir', path, '', 0, pid, g)

    def fs_rename(self, old, new, pid):
        with self._lock:
            try:
                g = self._rename(self._split(old), self._split(new))
            except OSError as e:
                self.log.append(Call('rename', old, new, e.errno, pid, None))
                raise
            self._record('rename', old, new, 0, pid, g)

    # ---------------------------------------------------------------
    # The test's controller
    # ---------------------------------------------------------------

    def _group(self, path):
        parts = self._split(path)
        node = self._lookup(parts)
        g = node.group
        if g is None or node.key != self._key(g, 'dir'):
            raise KeyError('no resctrl group %r' % path)
        return g

    def path(self, *parts):
        """The real path of parts below the mount point."""
        return os.path.join(self.mountpoint, *parts)

    def groups(self, kind=None):
        """Paths of every group but the root, or of one kind."""
        with self._lock:
            return [g.path for g in self._all_groups()
                    if not g.is_root and kind in (None, g.kind)]

    def set_value(self, group, event, domain, value, sub=None):
        """Set the reading of one counter of one group: bytes (an int)
        or 'Unavailable', 'Unassigned', 'Error'.  With SNC, sub is the
        node number (the domain's mon_L3_XX then shows the sum)."""
        if not isinstance(value, int) and value not in STATUS_WORDS:
            raise ValueError(value)
        with self._lock:
            g = self._group(group)
            if sub is None and domain in self.sub_nodes:
                raise ValueError('SNC: give the node (sub=)')
            key = (event, domain, sub)
            if key not in g.values:
                raise KeyError(key)
            g.values[key] = value

    def add_bytes(self, group, event, domain, nbytes, sub=None):
        """Advance a cumulative mbm_*_bytes counter by nbytes."""
        with self._lock:
            g = self._group(group)
            key = (event, domain, sub)
            current = g.values[key]
            g.values[key] = (0 if isinstance(current, str)
                             else current) + nbytes

    def value(self, group, event, domain, sub=None):
        """What the group's counter file reads now (int or word)."""
        with self._lock:
            return self._value(self._group(group), event, domain, sub)

    def rmid(self, group):
        with self._lock:
            return self._group(group).rmid

    def rmids(self):
        """{'total', 'used', 'free', 'limbo'} of the host-wide pool."""
        with self._lock:
            self._age_limbo()
            free, limbo = len(self._free_rmids), len(self._limbo)
            return {'total': self.num_rmids, 'free': free, 'limbo': limbo,
                    'used': self.num_rmids - free - limbo}

    def release_limbo(self, count=None):
        """Let RMIDs out of limbo (their occupancy dropped below
        max_threshold_occupancy); all of them by default."""
        with self._lock:
            count = len(self._limbo) if count is None else count
            for rmid, _ in self._limbo[:count]:
                self._free_rmids.append(rmid)
            del self._limbo[:count]

    @property
    def last_cmd_status(self):
        with self._lock:
            return self._last_cmd or 'ok\n'

    def add_thread(self, tid, parent=None):
        """Add a thread to the test's table.  A thread created by parent
        starts in parent's groups (doc "Example 2": tasks created later
        inherit the group of their creator)."""
        with self._lock:
            self._threads[tid] = True
            if parent is not None:
                if parent in self._ctrl_of:
                    self._ctrl_of[tid] = self._ctrl_of[parent]
                if parent in self._mon_of:
                    self._mon_of[tid] = self._mon_of[parent]

    def remove_thread(self, tid):
        """The thread exits: it leaves every group."""
        with self._lock:
            self._threads.pop(tid, None)
            self._ctrl_of.pop(tid, None)
            self._mon_of.pop(tid, None)

    def thread_groups(self, tid):
        """(CTRL_MON group path, MON group path or None) of a thread."""
        with self._lock:
            m = self._mon_of.get(tid)
            return self._ctrl_group_of(tid).path, m.path if m else None

    def tasks(self, group):
        with self._lock:
            return self._tasks(self._group(group))

    def cpu_resctrl_groups(self, tid):
        """What /proc/<tid>/cpu_resctrl_groups would print (fs/proc
        proc_resctrl_show()): "res:/" for the default group or the
        CTRL_MON name, "mon:" and the MON group name or nothing."""
        with self._lock:
            if not self._mounted:
                return 'res:\nmon:\n'
            ctrl = self._ctrl_group_of(tid)
            m = self._mon_of.get(tid)
            return 'res:%s\nmon:%s\n' % (ctrl.name or '/',
                                         m.name if m else '')

    def make_group(self, path):
        """Create a group as another tool would (libvirt's CTRL_MON
        group, a pqos MON group): same rules, not logged."""
        parts = self._split(path)
        with self._lock:
            return self._mkdir(parts[:-1], parts[-1], 0o755).path

    def remove_group(self, path):
        """rmdir by another tool (not logged)."""
        with self._lock:
            self._rmdir(self._split(path))

    def move_task(self, group, tid):
        """Write tid into group's tasks as another tool would (libvirt
        placing a vCPU in its <cachetune> group); not logged."""
        with self._lock:
            self._last_cmd = ''
            self._move_task(tid, self._group(group))

    def wipe_mon_groups(self, ctrl_pattern='COS*'):
        """What `pqos -r` does (intel-cmt-cat resctrl_mon_reset()): rmdir
        every MON group under the root and under the CTRL_MON groups
        whose names match ctrl_pattern ('*': all)."""
        with self._lock:
            for g in self._all_groups():
                if g.kind == MON and (g.parent.is_root or fnmatch.fnmatch(
                        g.parent.name, ctrl_pattern)):
                    self._remove_mon(g)

    def wipe_all(self):
        """rmdir every CTRL_MON and MON group (a full reset)."""
        with self._lock:
            for m in list(self._root.mon.values()):
                self._remove_mon(m)
            for c in list(self._ctrl.values()):
                self._remove_ctrl(c)

    def remount(self):
        """umount + mount: every group gone, every task back in the
        default group, all RMIDs free, new inode numbers, open files of
        the old mount read ENODEV."""
        with self._lock:
            self._mounted = True
            self._reset()

    def set_mounted(self, mounted):
        """False: the mount point shows an empty directory, as
        /sys/fs/resctrl does when resctrl is not mounted (mkdir EPERM).
        True: mounted again, fresh (like remount())."""
        with self._lock:
            self._reset()
            self._mounted = mounted

    def clear_log(self):
        with self._lock:
            del self.log[:]

    def calls(self, op=None, name=None, kind=None):
        """The logged calls, filtered: op ('mkdir', 'rmdir', 'write'),
        name (the last path element, e.g. 'tasks'), kind (CTRL_MON or
        MON, the group acted on)."""
        with self._lock:
            return [c for c in self.log
                    if op in (None, c.op)
                    and name in (None, c.path.rsplit('/', 1)[-1])
                    and kind in (None, c.kind)]

    def ctrl_mon_task_writes(self):
        """Writes that reached a CTRL_MON group's tasks (the root's
        included): each one changed a thread's cache allocation class."""
        return self.calls('write', 'tasks', CTRL_MON)


# -------------------------------------------------------------------
# FUSE adapter and mounting
# -------------------------------------------------------------------

def _operations(emu):
    """A fusepy Operations object over emu (fusepy imported here so that
    importing this module needs neither fusepy nor libfuse)."""
    import fuse

    def caller_pid():
        return fuse.fuse_get_context()[2]

    def wrap(func):
        def call(*args):
            try:
                return func(*args)
            except Error as e:
                raise fuse.FuseOSError(e.errno) from None
            except Exception as e:
                # A bug of the emulator, not a kernel answer: kept for
                # Mount.unmount() to raise, EIO meanwhile.
                emu.internal_errors.append(e)
                raise fuse.FuseOSError(errno.EIO) from e
        return call

    class Operations(fuse.Operations):
        use_ns = True
        # read/write/release of a file whose group was removed still
        # reach us (with no path): they answer ENODEV as kernfs does.
        flag_nullpath_ok = 1
        # No lock/flock handlers: the kernel's FUSE module then keeps
        # flock() and POSIX locks itself, across every process that uses
        # this mount (what libvirt's flock on the resctrl root needs).
        lock = None

        getattr = wrap(lambda self, path, fh=None: emu.fs_getattr(path))
        readdir = wrap(lambda self, path, fh: emu.fs_readdir(path))
        open = wrap(lambda self, path, flags: emu.fs_open(path, flags))
        read = wrap(lambda self, path, size, offset, fh:
                    emu.fs_read(fh, size, offset))
        write = wrap(lambda self, path, data, offset, fh:
                     emu.fs_write(fh, data, caller_pid()))
        release = wrap(lambda self, path, fh: emu.fs_release(fh))
        mkdir = wrap(lambda self, path, mode:
                     emu.fs_mkdir(path, mode, caller_pid()))
        rmdir = wrap(lambda self, path: emu.fs_rmdir(path, caller_pid()))
        rename = wrap(lambda self, old, new:
                      emu.fs_rename(old, new, caller_pid()))

        opendir = wrap(lambda self, path: emu.fs_getattr(path) and 0)

        def truncate(self, path, length, fh=None):
            # open(O_TRUNC) of a control file: kernfs ignores it.
            return 0

        def create(self, path, mode, fi=None):
            raise fuse.FuseOSError(errno.EACCES)

        def unlink(self, path):
            raise fuse.FuseOSError(errno.EPERM)

        def chmod(self, path, mode):
            raise fuse.FuseOSError(errno.EPERM)

        def chown(self, path, uid, gid):
            raise fuse.FuseOSError(errno.EPERM)

        def utimens(self, path, times=None):
            return 0

    return Operations()


def fuse_problem():
    """Why a FUSE mount cannot work here, or None."""
    if os.geteuid() != 0:
        return 'the resctrl emulator mounts FUSE as root (not root)'
    if not os.path.exists('/dev/fuse'):
        return 'the resctrl emulator needs /dev/fuse (absent)'
    try:
        import fuse  # noqa: F401
    except (ImportError, OSError) as e:
        return ('the resctrl emulator needs fusepy and libfuse2 '
                '(tools/install.sh installs them): %s' % e)
    return None


def _emulator_mounts():
    """Mount points of every emulator mounted on this host."""
    points = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            if fields[fields.index('-') + 1] == FSTYPE:
                points.append(re.sub(r'\\([0-7]{3})',
                                     lambda m: chr(int(m.group(1), 8)),
                                     fields[4]))
    return points


def _mounted_at(mountpoint):
    return os.path.realpath(mountpoint) in _emulator_mounts()


def unmount(mountpoint):
    """Unmount (lazily if busy); True when nothing is mounted there."""
    for args in (['umount', mountpoint], ['umount', '-l', mountpoint]):
        if not _mounted_at(mountpoint):
            return True
        subprocess.run(args, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    return not _mounted_at(mountpoint)


def sweep_stale_mounts():
    """Unmount emulator mounts whose process died (ENOTCONN), e.g. left
    by a killed test run; live ones (another run's) are left alone."""
    stale = []
    for point in _emulator_mounts():
        try:
            os.stat(point)
        except OSError as e:
            if e.errno == errno.ENOTCONN:
                stale.append(point)
    for point in stale:
        unmount(point)
    return stale


# Mount points of this process, unmounted at exit whatever happened.
_LIVE = set()


@atexit.register
def _unmount_live():
    for point in list(_LIVE):
        unmount(point)


# libfuse 2 sets these at mount and resets them to SIG_DFL at unmount,
# whatever they were: a later write to a closed socket (libvirtd restarted
# under a test) would then kill the test process with SIGPIPE, and Ctrl-C
# would no longer raise KeyboardInterrupt.
_FUSE_SIGNALS = (signal.SIGPIPE, signal.SIGINT, signal.SIGTERM,
                 signal.SIGHUP)


def _signal_dispositions():
    return {sig: signal.getsignal(sig) for sig in _FUSE_SIGNALS}


def _restore_signals(saved):
    """Set each handler again: signal.getsignal() shows Python's record,
    not what libfuse did underneath, so set them whatever it says."""
    if threading.current_thread() is not threading.main_thread():
        return      # Python sets handlers from its main thread only.
    for sig, handler in saved.items():
        if handler is not None:
            signal.signal(sig, handler)


class Mount:
    """A mounted emulator: .emu is the controller, .unmount() ends it."""

    def __init__(self, emu, mountpoint, thread):
        self.emu = emu
        self.mountpoint = mountpoint
        self.thread = thread
        self.error = None
        self.signals = _signal_dispositions()

    def unmount(self, timeout=10):
        ok = unmount(self.mountpoint)
        _LIVE.discard(self.mountpoint)
        self.thread.join(timeout)
        _restore_signals(self.signals)
        if not ok or self.thread.is_alive():
            raise RuntimeError('resctrl emulator at %s did not unmount'
                               % self.mountpoint)
        if self.error is not None:
            raise RuntimeError('resctrl emulator failed: %r' % self.error)
        if self.emu.internal_errors:
            raise RuntimeError('resctrl emulator bug (answered EIO): %r'
                               % self.emu.internal_errors)


def mount(mountpoint, timeout=10, **config):
    """Mount a new emulator (config: ResctrlEmulator's arguments) at
    mountpoint, an existing empty directory; returns a Mount."""
    import fuse

    emu = ResctrlEmulator(**config)
    emu.mountpoint = mountpoint
    ops = _operations(emu)
    holder = []

    def serve():
        try:
            # One thread serves every request (faster than libfuse's
            # worker threads here; no handler waits on anything).
            fuse.FUSE(ops, mountpoint, foreground=True, nothreads=True,
                      allow_other=True, default_permissions=True,
                      use_ino=True, direct_io=True, entry_timeout=0,
                      attr_timeout=0, negative_timeout=0,
                      fsname='resctrl', subtype='resctrl-emulator')
        except BaseException as e:  # reported by Mount.unmount()
            if holder:
                holder[0].error = e

    thread = threading.Thread(target=serve, name='resctrlfs', daemon=True)
    m = Mount(emu, mountpoint, thread)
    holder.append(m)
    _LIVE.add(mountpoint)
    thread.start()
    deadline = time.monotonic() + timeout
    while not (_mounted_at(mountpoint)
               and os.path.exists(os.path.join(mountpoint, 'info'))):
        if not thread.is_alive() or time.monotonic() > deadline:
            unmount(mountpoint)
            thread.join(timeout)
            raise RuntimeError('resctrl emulator did not mount at %s: %r'
                               % (mountpoint, m.error))
        time.sleep(0.01)
    return m
