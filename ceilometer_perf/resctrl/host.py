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

"""Resctrl monitoring on this host: CPU flags, kernel, mount, features.

Read from /proc and sysfs only (no privilege, no libvirt): by `ceilometer-perf
check`, and by the agent once per host for the hint it logs when an instance
has no cache or memory bandwidth source.
"""

import collections
import dataclasses
import os
from xml.etree import ElementTree

from ceilometer_perf.stats import LLC_OCCUPANCY
from ceilometer_perf.stats import MBM_LOCAL
from ceilometer_perf.stats import MBM_TOTAL
from ceilometer_perf.stats import QUANTITIES

# libvirt only ever looks for resctrl here.
RESCTRL_MOUNT = '/sys/fs/resctrl'

CPU_FLAGS = {LLC_OCCUPANCY: 'cqm_occup_llc', MBM_TOTAL: 'cqm_mbm_total',
             MBM_LOCAL: 'cqm_mbm_local'}


@dataclasses.dataclass(frozen=True)
class HostSupport:
    """Resctrl monitoring on the host where this process runs."""
    cpu_flags: tuple            # the cqm_* flags of /proc/cpuinfo
    kernel_has_resctrl: bool    # resctrl in /proc/filesystems
    mount_points: tuple         # where resctrl is mounted
    mon_features: tuple         # info/L3_MON/mon_features
    num_rmids: int = None       # how many monitoring groups the host has

    @property
    def mounted(self):
        return RESCTRL_MOUNT in self.mount_points

    def supports(self, feature):
        return self.mounted and feature in self.mon_features

    def problems(self, features=tuple(QUANTITIES)):
        """Why monitors of these features cannot work here, root cause first.

        Empty when they can.
        """
        if not (self.cpu_flags or self.mon_features):
            return ['the CPU reports no cache or memory bandwidth '
                    'monitoring (no cqm_* flag in /proc/cpuinfo; virtual '
                    'machines rarely get one)']
        if not self.kernel_has_resctrl:
            return ['the kernel has no resctrl filesystem (needs Linux '
                    '4.14+ built with CONFIG_X86_CPU_RESCTRL)']
        if not self.mounted:
            where = (' (mounted at %s instead)' % ', '.join(self.mount_points)
                     if self.mount_points else '')
            return ['resctrl is not mounted at %s, where libvirt looks%s: '
                    'mount -t resctrl resctrl %s, then restart libvirtd'
                    % (RESCTRL_MOUNT, where, RESCTRL_MOUNT)]
        if not self.mon_features:
            return ['resctrl has no L3 monitoring (%s/info/L3_MON/'
                    'mon_features missing or empty)' % RESCTRL_MOUNT]
        return ['resctrl does not offer %s (mon_features: %s)'
                % (f, ', '.join(self.mon_features))
                for f in features if f not in self.mon_features]

    def summary(self):
        problems = self.problems()
        if not problems:
            return 'resctrl monitoring available (%s)' % ', '.join(
                self.mon_features)
        return '; '.join(problems)


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _unescape_mount(path):
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    for code in ('\\040', '\\011', '\\012', '\\134'):
        path = path.replace(code, chr(int(code[1:], 8)))
    return path


def host_support(root='/'):
    """Probe /proc and sysfs (under root, for tests) for resctrl monitoring."""
    def under(path):
        return os.path.join(root, path.lstrip('/'))

    flags = set()
    for line in (_read(under('/proc/cpuinfo')) or '').splitlines():
        name, _, value = line.partition(':')
        if name.strip() == 'flags':
            flags.update(f for f in value.split() if f.startswith('cqm'))
    filesystems = (_read(under('/proc/filesystems')) or '').split()
    mounts = []
    for line in (_read(under('/proc/mounts')) or '').splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == 'resctrl':
            mounts.append(_unescape_mount(fields[1]))
    features = ()
    rmids = None
    if RESCTRL_MOUNT in mounts:
        info = under(RESCTRL_MOUNT + '/info/L3_MON')
        features = tuple((_read(os.path.join(info, 'mon_features'))
                          or '').split())
        text = (_read(os.path.join(info, 'num_rmids')) or '').strip()
        rmids = int(text) if text.isdigit() else None
    return HostSupport(cpu_flags=tuple(sorted(flags)),
                       kernel_has_resctrl='resctrl' in filesystems,
                       mount_points=tuple(mounts), mon_features=features,
                       num_rmids=rmids)


def libvirt_monitors(capabilities_xml):
    """{feature: max monitors} libvirt's capabilities offer to domains."""
    root = ElementTree.fromstring(capabilities_xml)  # noqa: S314 - libvirtd
    offered = collections.OrderedDict()
    for path in ('./host/cache/monitor', './host/memory_bandwidth/monitor'):
        for monitor in root.findall(path):
            limit = monitor.get('maxMonitors')
            for feature in monitor.findall('feature'):
                offered[feature.get('name')] = (
                    int(limit) if limit and limit.isdigit() else None)
    return dict(offered)
