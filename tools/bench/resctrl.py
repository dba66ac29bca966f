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

"""What our resctrl groups cost per instance and cycle.

The product's own code (reconcile.run, GroupValues.value) on N simulated
instances: a resctrl-shaped tree and a /proc-shaped tree of QEMU processes
(a main thread, two vCPU threads, two others each) in a temporary
directory, with /proc/<tid>/cpu_resctrl_groups as current kernels have it.
The steady cycle (nothing changed: lock, scan, find and verify every
QEMU, locate its threads, plan, write nothing) and the read of the three
meters are what every polling cycle pays; the first cycle (mkdir and
one write per vCPU thread) is paid once per instance.  Files here are on
the page cache, not the kernel's resctrl (whose mkdir allocates an RMID
and whose tasks write moves a thread): the first-cycle figure is a lower
bound, the steady and read figures are the product's own cost.
"""

import os
import shutil
import tempfile
import time
import uuid as uuidlib

from ceilometer_perf.resctrl import groups as rg
from ceilometer_perf.resctrl import reconcile
from tools.bench import measure
from tools.bench import report

DOMAINS = (0, 1)
VCPUS = 2


def build(base, count, with_groups):
    root = os.path.join(base, 'resctrl')
    proc = os.path.join(base, 'proc')
    run = os.path.join(base, 'run')
    for d in (os.path.join(root, 'info', 'L3_MON'),
              os.path.join(root, 'mon_groups'), proc, run):
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(root, 'info', 'L3_MON', 'num_rmids'), 'w') as f:
        f.write('%d\n' % (count + 64))
    btime = int(time.time()) - 1000
    with open(os.path.join(proc, 'stat'), 'w') as f:
        f.write('btime %d\n' % btime)
    os.makedirs(os.path.join(proc, 'self'), exist_ok=True)
    with open(os.path.join(proc, 'self', 'cpu_resctrl_groups'), 'w') as f:
        f.write('res:/\nmon:\n')
    ticks = int(990 * os.sysconf('SC_CLK_TCK'))
    instances = []
    tid = 100000
    for n in range(count):
        uuid = str(uuidlib.UUID(int=n + 1, version=4))
        name = 'instance-%08x' % n
        pid = tid = tid + 1
        task = os.path.join(proc, str(pid), 'task')
        os.makedirs(task)
        with open(os.path.join(proc, str(pid), 'cmdline'), 'w') as f:
            f.write('qemu\x00-uuid\x00%s\x00' % uuid)
        with open(os.path.join(proc, str(pid), 'stat'), 'w') as f:
            f.write('%d (qemu) S %s' % (pid, ' '.join(
                ['0'] * 18 + [str(ticks)] + ['0'] * 4)))
        comms = ['qemu-system-x86', 'worker', 'IO mon_iothread'] + [
            'CPU %d/KVM' % v for v in range(VCPUS)]
        group = rg.group_name(uuid)
        for i, comm in enumerate(comms):
            t = pid + i
            os.makedirs(os.path.join(task, str(t)))
            with open(os.path.join(task, str(t), 'comm'), 'w') as f:
                f.write(comm + '\n')
            os.makedirs(os.path.join(proc, str(t)), exist_ok=True)
            mon = group if with_groups and comm.startswith('CPU') else ''
            with open(os.path.join(proc, str(t), 'cpu_resctrl_groups'),
                      'w') as f:
                f.write('res:/\nmon:%s\n' % mon)
        tid = pid + len(comms)
        with open(os.path.join(run, name + '.pid'), 'w') as f:
            f.write('%d\n' % pid)
        if with_groups:
            for d in DOMAINS:
                mon = os.path.join(root, 'mon_groups', group, 'mon_data',
                                   'mon_L3_%02d' % d)
                os.makedirs(mon)
                for event, value in (('llc_occupancy', 1 << 20),
                                     ('mbm_total_bytes', 1 << 30),
                                     ('mbm_local_bytes', 1 << 29)):
                    with open(os.path.join(mon, event), 'w') as f:
                        f.write('%d\n' % value)
        instances.append((uuid, name, False))
    return root, reconcile.Proc(proc, run), instances


def measure_count(count, cycles):
    base = tempfile.mkdtemp(prefix='cperf-bench-resctrl-')
    try:
        root, proc, instances = build(base, count, with_groups=True)
        request = {'root': root, 'threads': 'vcpus', 'reserve': 8,
                   'monitored': [], 'instances': instances}

        def steady():
            result = reconcile.run(request, proc=proc)
            assert result['counts']['written'] == 0, result['counts']
            assert len(result['groups']) == count, result

        values = rg.GroupValues(root)
        views = {u: rg.InstanceGroups(paths=('mon_groups/' +
                                             rg.group_name(u),))
                 for u, _, _ in instances}

        def read():
            for uuid, _, _ in instances:
                for feature in ('llc_occupancy', 'mbm_total_bytes',
                                'mbm_local_bytes'):
                    values.value(feature, views[uuid], 1, (feature, uuid))
        walls = measure.run_interleaved([steady, read], cycles)
        cold_base = os.path.join(base, 'cold')
        root2, proc2, instances2 = build(cold_base, count, with_groups=False)
        t0 = time.perf_counter()
        result = reconcile.run({'root': root2, 'threads': 'vcpus',
                                'reserve': 8, 'monitored': [],
                                'instances': instances2}, proc=proc2)
        first = time.perf_counter() - t0
        assert result['counts']['created'] == count, result['counts']
        return walls, first
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_resctrl(counts, cycles):
    print('\nResctrl groups (ours): per instance and cycle, simulated '
          'tree on the page cache (%d vCPU threads each)' % VCPUS)
    print('  %9s  %16s  %16s  %16s' % ('instances', 'steady cycle',
                                        'read 3 meters', 'first cycle'))
    for count in counts:
        (steady, read), first = measure_count(count, cycles)
        print('  %9d  %10s us/inst  %10s us/inst  %10s us/inst' % (
            count, report.us(steady[0] / count), report.us(read[0] / count),
            report.us(first / count)))
