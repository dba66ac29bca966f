"""The meter catalogue: the one table every other part is derived from.

Pollster classes, setup.cfg entry points, the README table, the stats
groups asked of libvirt and the log hints all come from METERS.  Adding a
meter is adding a row here (and a test record); nothing else names meters.
"""

import dataclasses

from ceilometer_perf.resctrl import monitors as resctrl

CUMULATIVE = 'cumulative'
GAUGE = 'gauge'

# libvirt stats groups, cheapest first.  PERF, STATE and MEMORY never wait
# on the QEMU monitor; CPU_TOTAL reads cgroups (~60x the cost of PERF) and
# waits on a hung QEMU.
GROUP_STATE = 'state'
GROUP_PERF = 'perf'
GROUP_MEMORY = 'memory'
# These two wait on a hung QEMU: keep their meters in a slower source.
GROUP_CPU_TOTAL = 'cpu_total'
GROUP_VCPU = 'vcpu'

# How a value is obtained from a domain's record.
KIND_STAT = 'stat'      # one key of the bulk stats record, as is
KIND_VPMU = 'vpmu'      # the domain XML, read once per boot
KIND_RATIO = 'ratio'    # growth of one counter over another's since the
                        # previous poll (ceilometer_perf/derived.py)
KIND_OVERHEAD = 'overhead'  # cpu.time minus the vCPU threads' time

ENTRY_POINT_NAMESPACE = 'ceilometer.poll.compute'
POLLSTER_MODULE = 'ceilometer_perf.pollsters'


def event_of(key):
    """The perf event of a stats key: perf.cpu_cycles -> cpu_cycles."""
    return key[len('perf.'):] if key.startswith('perf.') else key


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
    libvirt_version: str = None
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
        if self.kind == KIND_STAT and not self.fallback:
            return (self.key,)
        return ()

    @property
    def events(self):
        """The perf events this meter needs counted."""
        if self.event:
            return (self.event,)
        return tuple(event_of(k) for k in self.inputs
                     if k.startswith('perf.'))

    def perf_events(self):
        """libvirt perf events this meter needs enabled on an instance."""
        return self.events

    @property
    def source(self):
        """Where the value comes from, in words (README table)."""
        if self.kind == KIND_STAT:
            if self.fallback:
                return '%s, else %s' % (self.key,
                                        FALLBACK_SOURCES[self.fallback])
            return self.key
        if self.kind == KIND_RATIO:
            return '%s / %s' % self.inputs
        if self.kind == KIND_OVERHEAD:
            return 'cpu.time - sum(vcpu.N.time)'
        return 'domain XML <pmu>, <cpu mode>'

    @property
    def entry_point(self):
        return '%s = %s:%s' % (self.name, POLLSTER_MODULE, self.class_name)


# (event, unit, libvirt version, help) for the counting perf events.
_PERF_EVENTS = (
    ('cpu_cycles', 'cycle', '2.3.0',
     'CPU cycles spent running the instance (hardware PMU)'),
    ('instructions', 'instruction', '2.3.0',
     'Instructions retired by the instance (hardware PMU)'),
    ('cache_references', 'reference', '2.3.0',
     'Last-level cache references (hardware PMU)'),
    ('cache_misses', 'miss', '2.3.0',
     'Last-level cache misses (hardware PMU)'),
    ('branch_instructions', 'instruction', '3.0.0',
     'Branch instructions retired (hardware PMU)'),
    ('branch_misses', 'miss', '3.0.0',
     'Mispredicted branches (hardware PMU)'),
    ('bus_cycles', 'cycle', '3.0.0',
     'Bus cycles (hardware PMU)'),
    ('stalled_cycles_frontend', 'cycle', '3.0.0',
     'Cycles the front end of the pipeline stalled (hardware PMU)'),
    ('stalled_cycles_backend', 'cycle', '3.0.0',
     'Cycles the back end of the pipeline stalled (hardware PMU)'),
    ('ref_cpu_cycles', 'cycle', '3.0.0',
     'CPU cycles at the reference clock, immune to frequency scaling '
     '(hardware PMU)'),
    ('cpu_clock', 'ns', '3.2.0',
     'CPU clock time of the instance threads (software event)'),
    ('task_clock', 'ns', '3.2.0',
     'Task clock time of the instance threads (software event)'),
    ('page_faults', 'fault', '3.2.0',
     'Page faults taken by the instance threads (software event)'),
    ('context_switches', 'switch', '3.2.0',
     'Context switches of the instance threads (software event)'),
    ('cpu_migrations', 'migration', '3.2.0',
     'Moves of the instance threads between host CPUs (software event)'),
    ('page_faults_min', 'fault', '3.2.0',
     'Minor page faults (software event)'),
    ('page_faults_maj', 'fault', '3.2.0',
     'Major page faults, served from disk (software event)'),
    ('alignment_faults', 'fault', '3.2.0',
     'Alignment faults (software event)'),
    ('emulation_faults', 'fault', '3.2.0',
     'Instructions emulated by the host kernel (software event)'),
)

# Events a host can only count with a hardware PMU.
HARDWARE_EVENTS = frozenset(e[0] for e in _PERF_EVENTS[:10])
SOFTWARE_EVENTS = frozenset(e[0] for e in _PERF_EVENTS[10:])
# Intel RDT perf events (kernels before 4.14 only).
RDT_EVENTS = frozenset(('cmt', 'mbmt', 'mbml'))

# The resctrl monitors (libvirt 4.10+, bandwidth 6.0+) that replaced them.
FALLBACK_SOURCES = {
    resctrl.LLC_OCCUPANCY: 'sum of cpu.cache.monitor.*.bank.*.bytes',
    resctrl.MBM_TOTAL:
        'rate of memory.bandwidth.monitor.*.node.*.bytes.total',
    resctrl.MBM_LOCAL:
        'rate of memory.bandwidth.monitor.*.node.*.bytes.local',
}


# Rows of perf.<x>_ratio style meters: (name, unit, numerator, denominator,
# ceiling, libvirt version of the newer event, help).  Ceilings: a miss
# ratio cannot exceed 1; no core retires more than 8 instructions a cycle
# (16 counting macro-fused pairs twice), so a larger IPC means the two
# counters did not see the same window.
_RATIOS = (
    ('perf.ipc', 'instruction/cycle', 'instructions', 'cpu_cycles', 16.0,
     '2.3.0', 'Instructions per CPU cycle over the last polling interval '
              '(hardware PMU)'),
    ('perf.cache_miss_ratio', 'ratio', 'cache_misses', 'cache_references',
     1.0, '2.3.0', 'Share of last-level cache references that missed, over '
                   'the last polling interval (hardware PMU)'),
    ('perf.branch_miss_ratio', 'ratio', 'branch_misses',
     'branch_instructions', 1.0, '3.0.0',
     'Share of branches mispredicted over the last polling interval '
     '(hardware PMU)'),
)


def _ratio_meter(name, unit, numerator, denominator, ceiling, version,
                 help_text):
    return Meter(name=name, type=GAUGE, unit=unit, groups=(GROUP_PERF,),
                 kind=KIND_RATIO, inputs=('perf.' + numerator,
                                          'perf.' + denominator),
                 ceiling=ceiling, libvirt_version=version, help=help_text)


def _perf_event_meter(event, unit, version, help_text):
    return Meter(name='perf.event.%s' % event, type=CUMULATIVE, unit=unit,
                 groups=(GROUP_PERF,), key='perf.%s' % event, event=event,
                 libvirt_version=version, help=help_text)


METERS = tuple(
    [_perf_event_meter(*row) for row in _PERF_EVENTS] + [
        Meter(name='cpu_l3_cache', type=GAUGE, unit='B',
              groups=(GROUP_PERF, GROUP_CPU_TOTAL), key='perf.cmt',
              event='cmt', fallback=resctrl.LLC_OCCUPANCY,
              libvirt_version='1.3.3',
              help='L3 cache the instance occupies at poll time (cache '
                   'monitoring: Intel CMT, AMD PQoS)'),
        Meter(name='memory.bandwidth.total', type=GAUGE, unit='B/s',
              groups=(GROUP_PERF, GROUP_MEMORY), key='perf.mbmt',
              event='mbmt', fallback=resctrl.MBM_TOTAL,
              libvirt_version='1.3.5',
              help='Memory bandwidth used through all memory controllers '
                   '(Intel MBM, AMD PQoS)'),
        Meter(name='memory.bandwidth.local', type=GAUGE, unit='B/s',
              groups=(GROUP_PERF, GROUP_MEMORY), key='perf.mbml',
              event='mbml', fallback=resctrl.MBM_LOCAL,
              libvirt_version='1.3.5',
              help='Memory bandwidth used through the memory controller '
                   'local to the CPU (Intel MBM, AMD PQoS)'),
        Meter(name='perf.vpmu', type=GAUGE, unit='state',
              groups=(GROUP_STATE,), kind=KIND_VPMU, libvirt_version='1.2.12',
              help='1 when the instance has a virtual PMU, 0 when not; '
                   'metadata says whether set explicitly or inferred'),
    ] + [_ratio_meter(*row) for row in _RATIOS] + [
        Meter(name='cpu.overhead', type=CUMULATIVE, unit='ns',
              groups=(GROUP_CPU_TOTAL, GROUP_VCPU), kind=KIND_OVERHEAD,
              inputs=('cpu.time', 'vcpu.N.time'), libvirt_version='1.2.9',
              help='CPU time the host spent for the instance outside its '
                   'vCPU threads (emulation, I/O, QEMU main loop)'),
    ])

BY_NAME = {m.name: m for m in METERS}


def entry_points():
    """The setup.cfg lines for the compute pollster namespace."""
    return [m.entry_point for m in METERS]

