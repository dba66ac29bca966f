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

"""What this host can count, probed rather than guessed.

Used by `ceilometer-perf check`: the kernel is asked directly whether it can
open a hardware and a software perf event, and sysfs whether the RDT perf
PMU (kernels before 4.14) or resctrl monitoring exists.
"""

import ctypes
import dataclasses
import errno
import os
import platform

from ceilometer_perf import catalogue
from ceilometer_perf.resctrl import host as resctrl_host

# perf_event_open(2) syscall numbers by machine.
_SYSCALL = {'x86_64': 298, 'aarch64': 241, 'ppc64le': 319, 's390x': 331,
            'i686': 336}
PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_HW_CPU_CYCLES = 0
PERF_COUNT_SW_CPU_CLOCK = 0
_ATTR_SIZE = 64          # PERF_ATTR_SIZE_VER0: every kernel accepts it
_DISABLED_EXCL_KERNEL_HV = (1 << 0) | (1 << 5) | (1 << 6)


@dataclasses.dataclass
class Probe:
    ok: bool
    detail: str


def perf_event_probe(event_type, config):
    """Try to open (and close) one perf event on this process."""
    nr = _SYSCALL.get(platform.machine())
    if nr is None:
        return Probe(False, 'perf_event_open not probed on %s'
                     % platform.machine())
    attr = (ctypes.c_uint8 * _ATTR_SIZE)()
    ctypes.c_uint32.from_buffer(attr, 0).value = event_type
    ctypes.c_uint32.from_buffer(attr, 4).value = _ATTR_SIZE
    ctypes.c_uint64.from_buffer(attr, 8).value = config
    ctypes.c_uint64.from_buffer(attr, 40).value = _DISABLED_EXCL_KERNEL_HV
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(nr), ctypes.byref(attr),
                      ctypes.c_int(0), ctypes.c_int(-1), ctypes.c_int(-1),
                      ctypes.c_ulong(0))
    if fd >= 0:
        os.close(fd)
        return Probe(True, 'perf_event_open succeeded')
    err = ctypes.get_errno()
    return Probe(False, 'perf_event_open failed: %s (%s)'
                 % (errno.errorcode.get(err, err), os.strerror(err)))


def hardware_pmu():
    probe = perf_event_probe(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES)
    if not probe.ok:
        probe.detail = 'host has no usable hardware PMU (%s)' % probe.detail
    return probe


def software_events():
    return perf_event_probe(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK)


def rdt_perf_pmu(sysfs='/sys/bus/event_source/devices'):
    """The intel_cqm perf PMU that libvirt's cmt/mbmt/mbml events need."""
    path = os.path.join(sysfs, 'intel_cqm')
    if os.path.isdir(path):
        return Probe(True, '%s present' % path)
    return Probe(False, 'kernel %s has no perf CMT/MBM PMU (%s missing; '
                 'removed in Linux 4.14)' % (platform.release(), path))


def resctrl_monitoring():
    """resctrl cache / memory bandwidth monitoring, as libvirt needs it."""
    support = resctrl_host.host_support()
    return Probe(not support.problems(), support.summary())


def countable_perf_events():
    """perf events to give nova's [libvirt] enabled_perf_events, probed.

    Hardware events only with a usable PMU: listing one the host lacks
    makes guests fail to start.  Never the RDT events (cmt, mbmt, mbml):
    nova drops them from the option on every kernel (with a warning), and
    kernels from 4.14 on have no such perf events; cache and memory
    bandwidth come from resctrl monitors.
    """
    events = sorted(catalogue.SOFTWARE_EVENTS) \
        if software_events().ok else []
    if hardware_pmu().ok:
        events += sorted(catalogue.HARDWARE_EVENTS)
    return events
