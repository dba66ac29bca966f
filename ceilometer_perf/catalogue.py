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

"""The meter catalogue: the one table every other part is derived from.

Pollster classes, setup.cfg entry points, the docs' meter table, the
stats groups asked of libvirt, the sample polling.yaml, the Gnocchi
mapping and the log hints all come from METERS.  Adding a meter of an
existing kind is adding a row here (and a test record); nothing else names
meters.  The catalogue imports nothing but libvirt's stats vocabulary.
"""

import dataclasses

from ceilometer_perf import stats

CUMULATIVE = 'cumulative'
GAUGE = 'gauge'

# How a value is obtained from a domain's record: the name of the module
# in ceilometer_perf/kinds/ that computes it.
KIND_STAT = 'stat'            # one key of the bulk stats record, as is
KIND_MONITORED = 'monitored'  # a perf RDT event, else the resctrl monitors
KIND_VPMU = 'vpmu'            # the domain XML, read once per boot
KIND_RATIO = 'ratio'          # growth of one counter over another's since
                              # the previous poll
KIND_OVERHEAD = 'overhead'    # cpu.time minus the vCPU threads' time

# What a perf event needs of the host.  Offering nova an event the host
# cannot count makes guests fail to start, so this is a column, never
# inferred from a row's position.
HARDWARE = 'hardware'   # a hardware PMU (bare metal, or a vPMU)
SOFTWARE = 'software'   # any Linux host
RDT = 'rdt'             # the perf CMT/MBM PMU, kernels before 4.14 only

ENTRY_POINT_NAMESPACE = 'ceilometer.poll.compute'
POLLSTER_MODULE = 'ceilometer_perf.pollsters'


@dataclasses.dataclass(frozen=True)
class Meter:
    name: str
    type: str
    unit: str
    groups: tuple
    help: str
    kind: str = KIND_STAT
    key: str = None
    event: str = None
    # HARDWARE, SOFTWARE or RDT for meters read from one perf event.
    event_class: str = None
    # A resctrl monitoring feature to read when the record lacks `key`.
    fallback: str = None
    # Derived meters: the stats keys they are computed from and, for a
    # ratio, the largest value the hardware can produce.
    inputs: tuple = ()
    ceiling: float = None

    @property
    def class_name(self):
        """Pollster class name, e.g. perf.event.cpu_cycles -> PerfEvent..."""
        words = self.name.replace('.', '_').split('_')
        return ''.join(w[:1].upper() + w[1:] for w in words) + 'Pollster'

    @property
    def required_keys(self):
        """Stats keys without which no instance can have a value."""
        if self.kind == KIND_RATIO:
            return self.inputs
        if self.kind == KIND_STAT:
            return (self.key,)
        return ()

    @property
    def events(self):
        """The perf events this meter needs counted."""
        if self.event:
            return (self.event,)
        return tuple(stats.event_of(k) for k in self.inputs
                     if k.startswith(stats.PERF_PREFIX))

    @property
    def source(self):
        """Where the value comes from, in words (the docs' table)."""
        if self.kind == KIND_STAT:
            return self.key
        if self.kind == KIND_MONITORED:
            quantity = stats.QUANTITIES[self.fallback]
            how = 'rate' if quantity.cumulative else 'sum'
            return '%s, else %s of %s' % (self.key, how, quantity.pattern)
        if self.kind == KIND_RATIO:
            return '%s / %s' % self.inputs
        if self.kind == KIND_OVERHEAD:
            return 'cpu.time - sum(vcpu.N.time)'
        return 'domain XML <pmu>, <cpu mode>'

    @property
    def entry_point(self):
        return '%s = %s:%s' % (self.name, POLLSTER_MODULE, self.class_name)


# (event, event class, unit, help) for the counting perf events.
_PERF_EVENTS = (
    ('cpu_cycles', HARDWARE, 'cycle',
     'CPU cycles spent running the instance (hardware PMU)'),
    ('instructions', HARDWARE, 'instruction',
     'Instructions retired by the instance (hardware PMU)'),
    ('cache_references', HARDWARE, 'reference',
     'Last-level cache references (hardware PMU)'),
    ('cache_misses', HARDWARE, 'miss',
     'Last-level cache misses (hardware PMU)'),
    ('branch_instructions', HARDWARE, 'instruction',
     'Branch instructions retired (hardware PMU)'),
    ('branch_misses', HARDWARE, 'miss',
     'Mispredicted branches (hardware PMU)'),
    ('bus_cycles', HARDWARE, 'cycle',
     'Bus cycles (hardware PMU)'),
    ('stalled_cycles_frontend', HARDWARE, 'cycle',
     'Cycles the front end of the pipeline stalled (hardware PMU)'),
    ('stalled_cycles_backend', HARDWARE, 'cycle',
     'Cycles the back end of the pipeline stalled (hardware PMU)'),
    ('ref_cpu_cycles', HARDWARE, 'cycle',
     'CPU cycles at the reference clock, immune to frequency scaling '
     '(hardware PMU)'),
    ('cpu_clock', SOFTWARE, 'ns',
     'CPU clock time of the instance threads (software event)'),
    ('task_clock', SOFTWARE, 'ns',
     'Task clock time of the instance threads (software event)'),
    ('page_faults', SOFTWARE, 'fault',
     'Page faults taken by the instance threads (software event)'),
    ('context_switches', SOFTWARE, 'switch',
     'Context switches of the instance threads (software event)'),
    ('cpu_migrations', SOFTWARE, 'migration',
     'Moves of the instance threads between host CPUs (software event)'),
    ('page_faults_min', SOFTWARE, 'fault',
     'Minor page faults (software event)'),
    ('page_faults_maj', SOFTWARE, 'fault',
     'Major page faults, served from disk (software event)'),
    ('alignment_faults', SOFTWARE, 'fault',
     'Alignment faults (software event)'),
    ('emulation_faults', SOFTWARE, 'fault',
     'Instructions emulated by the host kernel (software event)'),
)


def _perf_event_meter(event, event_class, unit, help_text):
    return Meter(name='perf.event.%s' % event, type=CUMULATIVE, unit=unit,
                 groups=(stats.PERF,), key=stats.PERF_PREFIX + event,
                 event=event, event_class=event_class, help=help_text)


def _monitored_meter(name, unit, event, feature, help_text):
    """A perf RDT event where the kernel has it, else resctrl monitors.

    Either source needs PERF plus the group libvirt reports the
    feature's monitors in.
    """
    return Meter(name=name, type=GAUGE, unit=unit, kind=KIND_MONITORED,
                 groups=(stats.PERF, stats.QUANTITIES[feature].group),
                 key=stats.PERF_PREFIX + event, event=event, event_class=RDT,
                 fallback=feature, help=help_text)


# Rows of perf.<x>_ratio style meters: (name, unit, numerator, denominator,
# ceiling, help).  Ceilings: a miss ratio cannot exceed 1; no core retires
# more than 8 instructions a cycle (16 counting macro-fused pairs twice),
# so a larger IPC means the two counters did not see the same window.
_RATIOS = (
    ('perf.ipc', 'instruction/cycle', 'instructions', 'cpu_cycles', 16.0,
     'Instructions per CPU cycle over the last polling interval '
     '(hardware PMU)'),
    ('perf.cache_miss_ratio', 'ratio', 'cache_misses', 'cache_references',
     1.0, 'Share of last-level cache references that missed, over the last '
          'polling interval (hardware PMU)'),
    ('perf.branch_miss_ratio', 'ratio', 'branch_misses',
     'branch_instructions', 1.0,
     'Share of branches mispredicted over the last polling interval '
     '(hardware PMU)'),
)


def _ratio_meter(name, unit, numerator, denominator, ceiling, help_text):
    return Meter(name=name, type=GAUGE, unit=unit, groups=(stats.PERF,),
                 kind=KIND_RATIO, inputs=(stats.PERF_PREFIX + numerator,
                                          stats.PERF_PREFIX + denominator),
                 ceiling=ceiling, help=help_text)


METERS = tuple(
    [_perf_event_meter(*row) for row in _PERF_EVENTS] + [
        _monitored_meter(
            'cpu_l3_cache', 'B', 'cmt', stats.LLC_OCCUPANCY,
            'L3 cache the instance occupies at poll time (cache '
            'monitoring: Intel CMT, AMD PQoS)'),
        _monitored_meter(
            'memory.bandwidth.total', 'B/s', 'mbmt', stats.MBM_TOTAL,
            'Memory bandwidth used through all memory controllers '
            '(Intel MBM, AMD PQoS)'),
        _monitored_meter(
            'memory.bandwidth.local', 'B/s', 'mbml', stats.MBM_LOCAL,
            'Memory bandwidth used through the memory controller local '
            'to the CPU (Intel MBM, AMD PQoS)'),
        Meter(name='perf.vpmu', type=GAUGE, unit='state',
              groups=(stats.STATE,), kind=KIND_VPMU,
              help='1 when the instance has a virtual PMU, 0 when not; '
                   'metadata says whether set explicitly or inferred'),
    ] + [_ratio_meter(*row) for row in _RATIOS] + [
        Meter(name='cpu.overhead', type=CUMULATIVE, unit='ns',
              groups=(stats.CPU_TOTAL, stats.VCPU), kind=KIND_OVERHEAD,
              inputs=('cpu.time', 'vcpu.N.time'),
              help='CPU time the host spent for the instance outside its '
                   'vCPU threads (emulation, I/O, QEMU main loop)'),
    ])

BY_NAME = {m.name: m for m in METERS}

# The lean polling profile (etc/ceilometer/polling-lean.yaml): the meters
# most operators need, a quarter of the samples and metrics.  Noisy
# neighbours (cache occupancy, memory bandwidth, IPC and cache misses; the
# ratios are computed from the counters libvirt reports, so those need not
# be polled), CPU time any host can count, the vPMU state, the hypervisor
# overhead.
LEAN = ('cpu_l3_cache', 'memory.bandwidth.total', 'perf.ipc',
        'perf.cache_miss_ratio', 'perf.event.task_clock', 'perf.vpmu',
        'cpu.overhead')


def _events_of_class(event_class):
    return frozenset(m.event for m in METERS if m.event_class == event_class)


# The perf events by what they need of the host.
HARDWARE_EVENTS = _events_of_class(HARDWARE)
SOFTWARE_EVENTS = _events_of_class(SOFTWARE)
RDT_EVENTS = _events_of_class(RDT)
EVENT_CLASS = {m.event: m.event_class for m in METERS if m.event_class}


def entry_points():
    """The setup.cfg lines for the compute pollster namespace."""
    return [m.entry_point for m in METERS]

