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

"""libvirt's bulk stats vocabulary, defined once.

The stats groups a meter can ask for, their virConnectGetAllDomainStats
flags, which of them wait on a domain's QEMU, and where the resctrl
monitors sit in a domain's record.  The reader turns group names into
flags, the catalogue names the groups each meter needs, the polling plan
puts slow groups in their own task; none of them spells a flag or a key
prefix of its own.
"""

import dataclasses

# Group names, cheapest first.
STATE = 'state'
PERF = 'perf'
MEMORY = 'memory'
CPU_TOTAL = 'cpu_total'
VCPU = 'vcpu'

# virDomainStatsTypes, spelled out so unit tests can run against a fake
# connection without the libvirt module's constants.
FLAGS = {
    STATE: 1 << 0,       # VIR_DOMAIN_STATS_STATE
    CPU_TOTAL: 1 << 1,   # VIR_DOMAIN_STATS_CPU_TOTAL
    VCPU: 1 << 3,        # VIR_DOMAIN_STATS_VCPU
    PERF: 1 << 6,        # VIR_DOMAIN_STATS_PERF
    MEMORY: 1 << 8,      # VIR_DOMAIN_STATS_MEMORY
}

# Groups whose collection talks to the QEMU monitor or walks cgroups: ~60x
# the cost of PERF, and they block on a hung QEMU, NOWAIT or not.  PERF,
# STATE and MEMORY never wait on a QEMU.
SLOW = frozenset((CPU_TOTAL, VCPU))

# virConnectGetAllDomainStatsFlags.
LIST_ACTIVE = 1 << 0     # VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
NOWAIT = 1 << 29         # VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT (4.5)

# The group a stats key belongs to, by its first component.
GROUP_OF_PREFIX = (('state.', STATE), ('perf.', PERF), ('cpu.', CPU_TOTAL),
                   ('vcpu.', VCPU), ('memory.', MEMORY))

PERF_PREFIX = 'perf.'


def flags(groups):
    """The stats flags of a set of group names."""
    value = 0
    for group in groups:
        value |= FLAGS[group]
    return value


def event_of(key):
    """The perf event of a stats key: perf.cpu_cycles -> cpu_cycles."""
    return key[len(PERF_PREFIX):] if key.startswith(PERF_PREFIX) else key


# Resctrl monitoring features, named as the kernel's mon_data files and
# libvirt's capabilities name them.
LLC_OCCUPANCY = 'llc_occupancy'
MBM_TOTAL = 'mbm_total_bytes'
MBM_LOCAL = 'mbm_local_bytes'


@dataclasses.dataclass(frozen=True)
class Quantity:
    """Where one resctrl monitoring feature lives in a domain's record.

    libvirt reports the <monitor>s of a domain's <cachetune> (4.10+) in
    the CPU_TOTAL group and those of its <memorytune> (6.0+) in MEMORY.
    """
    feature: str
    group: str
    prefix: str         # monitor keys start with this
    domain: str         # 'bank' (an L3 cache id) or 'node' (a controller)
    field: str          # the value key under each bank or node
    cumulative: bool

    def key(self, *parts):
        return self.prefix + '.'.join(str(p) for p in parts)

    @property
    def pattern(self):
        """The keys, in words: cpu.cache.monitor.*.bank.*.bytes."""
        return '%s*.%s.*.%s' % (self.prefix, self.domain, self.field)


QUANTITIES = {q.feature: q for q in (
    Quantity(LLC_OCCUPANCY, CPU_TOTAL, 'cpu.cache.monitor.', 'bank',
             'bytes', False),
    Quantity(MBM_TOTAL, MEMORY, 'memory.bandwidth.monitor.', 'node',
             'bytes.total', True),
    Quantity(MBM_LOCAL, MEMORY, 'memory.bandwidth.monitor.', 'node',
             'bytes.local', True),
)}
