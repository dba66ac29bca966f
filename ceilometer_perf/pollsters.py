"""Ceilometer pollsters, one class per catalogue row.

The classes are generated from the catalogue: the entry point name is the
meter name and the class only carries its Meter.  All of them share one
HostState per agent process: the libvirt connection, the bulk reader, the
vPMU cache, the resctrl rate state, the previous readings of derived
meters and the once-per-host log lines.
"""

import logging
import threading

from ceilometer.polling import plugin_base
from oslo_log import log

from ceilometer_perf import catalogue
from ceilometer_perf.ops import polling_yaml
from ceilometer_perf.kinds import derived
from ceilometer_perf import notices
from ceilometer_perf import opts
from ceilometer_perf import reader
from ceilometer_perf.resctrl import host as resctrl_host
from ceilometer_perf.resctrl import monitors as resctrl
from ceilometer_perf import samples
from ceilometer_perf.kinds import vpmu

LOG = log.getLogger(__name__)

ENABLE_HINT = {
    'hardware': 'it needs a hardware PMU on the host and the event in '
                'nova.conf [libvirt] enabled_perf_events',
    'software': 'add it to nova.conf [libvirt] enabled_perf_events',
    'rdt': 'it needs Intel CMT/MBM perf support (kernels before 4.14) and the '
           'event in nova.conf [libvirt] enabled_perf_events',
}


def event_class(event):
    if event in catalogue.RDT_EVENTS:
        return 'rdt'
    if event in catalogue.HARDWARE_EVENTS:
        return 'hardware'
    return 'software'


class HostState:
    """Per-process state shared by every pollster of this plugin."""

    def __init__(self, conf, opener=None):
        settings, problems = opts.read(conf)
        for problem in problems:
            LOG.error('ceilometer-perf: bad configuration: %s', problem)
        self.conf = conf
        self.connection = reader.Connection(reader.libvirt_uri(conf), opener)
        self.vpmu = vpmu.VpmuCache()
        self.monitors = resctrl.MonitorValues()
        self.derived = derived.DerivedState()
        self.metadata = samples.InstanceMetadata()
        self.reader = reader.BulkReader(
            self.connection, nowait=settings['stats_nowait'],
            timeout=settings['stats_timeout'],
            on_snapshot=self._after_read)
        self.notices = notices.Notices()
        self._pruned_for = None
        # Instances a read went on without: {uuid: keys it lacked}.
        self.stalled = {}
        self._plans = {}
        self._checked_managers = set()
        self._plans_lock = threading.Lock()

    def groups_for(self, manager, meter):
        """Stats groups of every plugin meter polled with this one.

        Ceilometer runs one polling task per interval and shares the cache
        across it, so the first pollster in reads the groups of all plugin
        meters in the sources of the same interval: one call per cycle.
        """
        polling = getattr(manager, 'polling_manager', None)
        sources = getattr(polling, 'sources', None)
        if not sources:
            return frozenset(meter.groups)
        key = (id(polling), meter.name)
        groups = self._plans.get(key)
        if groups is not None:
            return groups
        with self._plans_lock:
            if id(polling) not in self._checked_managers:
                self._checked_managers.add(id(polling))
                self._check_sources(manager, sources)
            groups = self._plans.get(key)
            if groups is None:
                intervals = {s.get_interval() for s in sources
                             if s.support_meter(meter.name)}
                groups = set(meter.groups)
                for source in sources:
                    if source.get_interval() not in intervals:
                        continue
                    for m in catalogue.METERS:
                        if source.support_meter(m.name):
                            groups.update(m.groups)
                groups = frozenset(groups)
                self._plans[key] = groups
            return groups

    @staticmethod
    def _check_sources(manager, sources):
        """Say once what in polling.yaml matches none of the pollsters."""
        installed = {ext.name for ext in getattr(manager, 'extensions', ())}
        if not installed:
            return
        problems = polling_yaml.polling_problems(
            [(s.name, s.meters) for s in sources
             if isinstance(getattr(s, 'meters', None), list)], installed)
        for problem in problems:
            LOG.error('ceilometer-perf: %s', problem)

    def _after_read(self, snap):
        # Every read lists all running domains: forget the others, unless
        # the same boots of the same domains were read last time (the
        # three tasks read in turn; 30 ms at 10,000 domains).
        boots = {uuid: r.domain_id for uuid, r in snap.records.items()}
        if boots != self._pruned_for:
            self._pruned_for = boots
            self.vpmu.prune(snap)
            self.monitors.prune(snap)
            self.derived.prune(snap.records)
            self.metadata.prune(snap.records)
        self._report_stalled(snap)

    def _report_stalled(self, snap):
        """One line when an instance's QEMU stops answering, one when back."""
        for uuid in list(self.stalled):
            if uuid not in snap.records:
                del self.stalled[uuid]
        if not snap.groups & reader.SLOW_GROUPS:
            return     # Reads of other groups never wait on a QEMU.
        for uuid in list(self.stalled):
            if snap.stalled is None or uuid not in snap.stalled:
                del self.stalled[uuid]
                LOG.info('ceilometer-perf: instance %s (domain %s) answers '
                         'again: its stats are read whole', uuid,
                         snap.records[uuid].name)
        if snap.stalled is None:
            self.notices.clear('stalled-unknown')
            return
        if not snap.stalled and not self.notices.seen('stalled-unknown'):
            self.notices.once(
                'stalled-unknown', logging.WARNING,
                'ceilometer-perf: a CPU stats read has waited over %s s and '
                'no instance shows which QEMU it waits for; samples of this '
                'task come from a read that does not wait. Logged once.',
                self.reader.timeout)
        for uuid, missing in snap.stalled.items():
            if uuid in self.stalled:
                continue
            self.stalled[uuid] = missing
            LOG.warning(
                'ceilometer-perf: instance %s (domain %s) is stuck: a stats '
                'read has waited over %s s for its QEMU, which does not '
                'answer. Polling goes on without waiting for it; its %s are '
                'skipped until it answers. Logged once.', uuid,
                snap.records[uuid].name, self.reader.timeout,
                ', '.join(missing))

    def snapshot(self, cache, groups):
        """This cycle's snapshot, or None (with one log line) on failure."""
        try:
            snap = self.reader.snapshot(cache, groups)
        except reader.HypervisorUnavailable as exc:
            self.notices.once('unavailable', logging.ERROR,
                              'ceilometer-perf: %s; no perf samples until it '
                              'is back', exc)
            return None
        except Exception as exc:
            self.notices.once('read-error', logging.ERROR,
                              'ceilometer-perf: bulk libvirt stats read '
                              'failed: %s', exc)
            return None
        if self.notices.clear('unavailable'):
            LOG.info('ceilometer-perf: libvirt at %s is reachable again',
                     self.connection.uri)
        self.notices.clear('read-error')
        return snap

    def missing_value(self, meter, instance, event=None):
        event = event or meter.event
        kind = event_class(event)
        self.notices.once(
            ('missing', event), logging.WARNING,
            'ceilometer-perf: perf event %s is not counted for instance %s '
            '(and maybe others), so %s has no sample for it: %s; running '
            'instances need a hard reboot to pick it up. Logged once.',
            event, instance.id, meter.name, ENABLE_HINT[kind])

    def monitor_value(self, meter, record, instance, read_at):
        """(volume, metadata) from the instance's resctrl monitors."""
        value = self.monitors.value(meter.fallback, record.stats,
                                    record.domain_id, read_at,
                                    (meter.name, record.uuid))
        # Once said, skip the arguments: the host probe reads /proc files.
        if (value.missing == resctrl.NO_MONITOR
                and not self.notices.seen('no-monitor')):
            self.notices.once(
                'no-monitor', logging.WARNING,
                'ceilometer-perf: instance %s (and maybe others) has neither '
                'the perf %s event nor a resctrl %s monitor, so %s has no '
                'sample for it. nova does not configure resctrl monitors: '
                'add <monitor> elements to the <cachetune> (cache) and '
                '<memorytune> (memory bandwidth) of the domain\'s <cputune>, '
                'see "Cache and memory bandwidth monitors" in the '
                'ceilometer-perf README. This host: %s. Logged once for '
                '%s.', instance.id, meter.event, meter.fallback, meter.name,
                resctrl_host.host_support().summary(),
                ', '.join(m.name for m in catalogue.METERS if m.fallback))
        elif value.missing == resctrl.INCOMPLETE:
            self.notices.once(
                'incomplete-monitor', logging.WARNING,
                'ceilometer-perf: the resctrl monitor stats libvirt returned '
                'for instance %s are incomplete (%s), so %s has no sample for '
                'it this cycle. Logged once.',
                instance.id, value.detail, meter.name)
        elif value.missing == resctrl.BASELINE:
            LOG.debug('%s: no earlier reading of this boot of %s to take a '
                      'rate from (first poll, or after a reset); a value '
                      'from the next poll on', meter.name, instance.id)
        return value.volume, value.metadata


_HOST_STATES = {}
_HOST_STATES_LOCK = threading.Lock()


def host_state(conf):
    with _HOST_STATES_LOCK:
        entry = _HOST_STATES.get(id(conf))
        if entry is None or entry[0] is not conf:
            entry = (conf, HostState(conf))
            _HOST_STATES[id(conf)] = entry
        return entry[1]


# Sample metadata of a meter read from its perf event, not resctrl (each
# sample gets a copy: SampleMaker merges it into its own dict).
FROM_PERF = {'monitoring_source': 'perf'}


def _stat_value(host, meter, record, instance, snap):
    value = record.stats.get(meter.key)
    if value is not None:
        if meter.fallback:
            return value, FROM_PERF
        return value, None
    if meter.fallback:
        return host.monitor_value(meter, record, instance, snap.read_at)
    host.missing_value(meter, instance)
    return None, None


def _vpmu_value(host, meter, record, instance, snap):
    state = host.vpmu.get(record)
    if state is None:
        return None, None
    extra = state.metadata()
    extra.update(vpmu.nova_request(instance))
    return int(state.enabled), extra


def _ratio_value(host, meter, record, instance, snap):
    stats = record.stats
    counters = tuple([stats.get(key) for key in meter.inputs])
    if None in counters:
        event = catalogue.event_of(meter.inputs[counters.index(None)])
        host.derived.forget(meter.name, record.uuid)
        host.missing_value(meter, instance, event)
        return None, None
    reading = derived.Reading(record.domain_id, snap.epoch, counters)
    value, reset = derived.interval_ratio(host.derived, meter.name,
                                          record.uuid, reading,
                                          meter.ceiling)
    if reset is not None:
        LOG.debug('ceilometer-perf: no %s for %s this cycle: %s',
                  meter.name, instance.id, reset)
    return value, None


def _overhead_value(host, meter, record, instance, snap):
    overhead = derived.vcpu_overhead(record.stats)
    if overhead is None:
        # The bulk read skipped the domain's CPU stats (NOWAIT, busy).  Keep
        # the last value: the counter must not step back at the next read.
        return None, None
    value = derived.steady_overhead(host.derived, meter.name, record.uuid,
                                    record.domain_id, overhead)
    if value is None:
        host.notices.once(
            ('inconsistent', meter.name), logging.WARNING,
            'ceilometer-perf: cpu.time of instance %s is below the time of '
            'its vCPUs (%d ns); no %s sample while it is. Logged once.',
            instance.id, overhead[0], meter.name)
    return value, None


VALUE_READERS = {
    catalogue.KIND_STAT: _stat_value,
    catalogue.KIND_VPMU: _vpmu_value,
    catalogue.KIND_RATIO: _ratio_value,
    catalogue.KIND_OVERHEAD: _overhead_value,
}


class CataloguePollster(plugin_base.PollsterBase):
    """A pollster for one catalogue row; subclasses only set `meter`."""

    meter = None

    @property
    def default_discovery(self):
        return 'local_instances'

    def setup_environment(self):
        super().setup_environment()
        self.host = host_state(self.conf)

    def get_samples(self, manager, cache, resources):
        """Samples of this meter for the discovered instances.

        A generator, like Ceilometer's own compute pollsters: the agent
        publishes each sample as it comes, so none outlives its turn (with
        10,000 instances, holding them made the garbage collector the
        biggest cost of a cycle).  Never raises: a failure is logged and
        ends this meter's samples for the cycle.
        """
        try:
            yield from self._samples(manager, cache, resources)
        except Exception:
            LOG.exception('ceilometer-perf: %s failed this cycle',
                          self.meter.name)

    def _samples(self, manager, cache, resources):
        meter, host = self.meter, self.host
        snap = host.snapshot(cache, host.groups_for(manager, meter))
        if snap is None:
            return
        records = snap.records
        absent = [k for k in meter.required_keys if k not in snap.keys()]
        if absent:
            self._absent_everywhere(records, resources, absent[0])
            return
        make = samples.SampleMaker(
            self.conf, cache, meter.name, meter.type, meter.unit,
            snap.read_at, expected=len(resources), metadata=host.metadata)
        if meter.kind == catalogue.KIND_STAT and not meter.fallback:
            # Most meters: one key of the record, as is.
            key = meter.key
            for instance in resources:
                record = records.get(instance.id)
                if record is None:
                    continue     # Shut off, or gone since discovery.
                value = record.stats.get(key)
                if value is None:
                    host.missing_value(meter, instance)
                    continue
                yield make(instance, value)
            return
        value_of = VALUE_READERS[meter.kind]
        for instance in resources:
            record = records.get(instance.id)
            if record is None:
                continue
            volume, extra = value_of(host, meter, record, instance, snap)
            if volume is not None:
                yield make(instance, volume, extra)

    def _absent_everywhere(self, records, resources, key):
        """No domain has the key: say so once, forget derived baselines."""
        if self.meter.kind == catalogue.KIND_RATIO:
            self.host.derived.forget_meter(self.meter.name)
        polled = next((i for i in resources if i.id in records), None)
        if polled is not None:
            self.host.missing_value(self.meter, polled,
                                    catalogue.event_of(key))


def _make_pollster_classes():
    classes = {}
    for meter in catalogue.METERS:
        classes[meter.class_name] = type(
            meter.class_name, (CataloguePollster,),
            {'meter': meter, '__doc__': meter.help,
             '__module__': __name__})
    return classes


POLLSTERS = _make_pollster_classes()
globals().update(POLLSTERS)
