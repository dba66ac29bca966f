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

"""Simulated domains: the plugin side alone, at 1,000s of domains.

A fake libvirt (tools/fakelibvirt.py, the unit tests' fake) serves
recorded stats records at no cost, so what is timed is the plugin: its
bulk read parsing, its value kinds and its sample construction, all
meters on.
"""

import gc
import os
import tempfile
import time
import types

import yaml
from ceilometer import service
from ceilometer.compute import discovery as ceilometer_discovery
from ceilometer.polling import manager as polling_manager
from ceilometer.publisher import utils as publisher_utils

from ceilometer_perf import catalogue
from ceilometer_perf import discovery
from ceilometer_perf import pollsters
from ceilometer_perf import samples
from ceilometer_perf import state
from tools import fakelibvirt
from tools import localguests
from tools.bench import measure
from tools.bench import polling
from tools.bench import report


class SimulatedConnection(fakelibvirt.FakeConnection):
    """The recorded-shape fake, answering in constant time per call.

    The inputs of the derived meters grow between calls (a few integer
    additions per domain) so ratios and cpu.overhead have values to give.
    """

    GROWING = ('perf.instructions', 'perf.cpu_cycles', 'perf.cache_misses',
               'perf.cache_references', 'perf.branch_misses',
               'perf.branch_instructions', 'cpu.time', 'vcpu.0.time')

    def __init__(self, entries):
        super().__init__(entries)
        self._answers = {}

    def getAllDomainStats(self, stats, flags):
        answer = self._answers.get(stats)
        if answer is None:
            answer = self._answers[stats] = super().getAllDomainStats(
                stats, flags)
        self.calls.append((stats, flags))
        for _, record in answer:
            for key in self.GROWING:
                if key in record:
                    record[key] += 1000
        return list(answer)


def simulated_entries(count):
    """count domains: every perf event counted, the recorded XML shapes."""
    documented = fakelibvirt.load('documented-all-perf-events.json')[0]
    shapes = [e['xml'] for e in
              fakelibvirt.load('real-tcg-guests-perf-state.json')] + [
                  documented['xml']]
    entries = []
    for i in range(count):
        stats = {k: v + i for k, v in documented['stats'].items()}
        stats['state.state'] = stats['state.reason'] = 1
        stats.update({'cpu.time': 10 ** 9 + i, 'vcpu.current': 1,
                      'vcpu.maximum': 1, 'vcpu.0.time': 6 * 10 ** 8})
        entries.append({'uuid': '6c1d2f5e-0000-4000-8000-%012x' % i,
                        'name': 'instance-%08x' % i, 'id': i + 1,
                        'stats': stats, 'xml': shapes[i % len(shapes)]})
    return entries


def simulated_manager(conf, sources):
    """A manager polling these sources, as the plugin's pollsters see it."""
    path = os.path.join(tempfile.mkdtemp(prefix='ceilometer-perf-bench-'),
                        'polling.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump({'sources': sources}, f)
    conf.set_override('cfg_file', path, group='polling')
    return types.SimpleNamespace(
        polling_manager=polling_manager.PollingManager(conf))


def measure_simulated(conf, manager, sources, count, cycles, baseline):
    entries = simulated_entries(count)
    sim = SimulatedConnection(entries)
    instances = [fakelibvirt.instance(e['uuid'], name=e['name'],
                                      extra_specs={'hw:pmu': 'true'})
                 for e in entries]
    host = state.HostState(conf, opener=lambda uri: sim)
    tasks = make_tasks(conf, sources, host)

    def cycle(hold=False):
        return polling.poll_tasks(tasks, manager, instances, hold)

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    made = cycle()
    cold = (time.perf_counter() - t0, time.process_time() - c0)
    assert host.vpmu.xml_reads == count, host.vpmu.xml_reads
    before_calls = len(sim.calls)
    wall, cpu, _, peak, made = measure.run_cycles(cycle, cycles)
    # run_cycles runs a warm-up and a tracemalloc cycle besides `cycles`.
    calls = (len(sim.calls) - before_calls) / (cycles + 2)
    per_task = [measure.median_time(
        lambda objects=objects: polling.poll_directly(
            objects, manager, instances), cycles) for objects in tasks]
    plans = [host.groups_for(manager, objects[0].meter)
             for objects in tasks]
    read, _, _, _, _ = measure.run_cycles(
        lambda: [host.reader.snapshot({}, groups) for groups in plans],
        cycles)
    before = None
    if baseline:
        # Sample construction as before: Ceilometer's function per sample.
        maker = samples.SampleMaker
        real = maker.__call__
        maker.__call__ = maker.ceilometer_way
        try:
            before, _, _, _, _ = measure.run_cycles(
                lambda: cycle(hold=True), 1, warmup=0)
        finally:
            maker.__call__ = real
    return dict(count=count, cold=cold, wall=wall, cpu=cpu, peak=peak,
                samples=made, read=read, before=before, calls=calls,
                per_task=per_task)


def run_simulated(counts, cycles, baseline_upto):
    conf = service.prepare_service([], [])
    sources = polling.shipped_sources()
    manager = simulated_manager(conf, sources)
    measured = [measure_simulated(conf, manager, sources, count, cycles,
                                  baseline=count <= baseline_upto)
                for count in counts]
    report.print_simulated(measured, sources, cycles)
    return measured


# -- both discoveries, whole agent cycle, and the soak ----------------------

def nova_entries(count, first=0):
    """count simulated domains, each an instance: nova's metadata shapes
    with a flavor id (nova 34's own and the hand-written 32+ one), so that
    neither discovery asks a Nova API."""
    shapes = [g.metadata for g in localguests.metadata_shapes()
              if g.name.startswith(('nova34-', 'hand-'))
              and g.metadata is not None]
    shapes.append(localguests.metadata_text(localguests.Guest('hand')))
    entries = simulated_entries(count)
    for i, entry in enumerate(entries):
        n = first + i
        entry['uuid'] = '6c1d2f5e-0000-4000-8000-%012x' % n
        entry['name'] = 'instance-%08x' % n
        entry['id'] = n + 1
        entry['xml'] = localguests.domain_xml(localguests.Guest(
            'sim-%d' % n, uuid=entry['uuid'],
            metadata=shapes[n % len(shapes)]))
    return entries


class Discoveries:
    """Ceilometer's local_instances and ours over one fake libvirtd."""

    def __init__(self, conf, sim):
        self.sim = sim
        self.theirs = ceilometer_discovery.InstanceDiscovery(conf)
        self.theirs._libvirt_connection = sim
        self.ours = discovery.CachedInstanceDiscovery(
            conf, opener=lambda uri: sim)

    def by_name(self):
        return {'local_instances': self.theirs,
                'local_instances_cached': self.ours}


def agent_cycle(tasks, manager, discover, secret):
    """One cycle of every polling task as the agent runs it, in this
    thread: the discovery once per task, each pollster's samples turned
    into signed messages (Ceilometer's publishing end)."""
    made = 0
    for objects in tasks:
        instances = discover()
        cache = {}
        for obj in objects:
            for sample in obj.get_samples(manager, cache, instances):
                if secret is not None:
                    publisher_utils.meter_message_from_counter(sample,
                                                               secret)
                made += 1
    return made


def make_tasks(conf, sources, host):
    tasks = []
    for source in sources:
        objects = []
        for name in source['meters']:
            obj = pollsters.POLLSTERS[catalogue.BY_NAME[name].class_name](
                conf)
            obj.host = host
            objects.append(obj)
        tasks.append(objects)
    return tasks


def measure_discoveries(conf, manager, sources, count, cycles):
    sim = SimulatedConnection(nova_entries(count))
    pair = Discoveries(conf, sim)
    theirs = [vars(s) for s in pair.theirs.discover(None)]
    ours = [vars(s) for s in pair.ours.discover(None)]
    if ours != theirs or len(ours) != count:
        raise SystemExit('the discoveries disagree on simulated domains')
    host = state.HostState(conf, opener=lambda uri: sim)
    tasks = make_tasks(conf, sources, host)
    secret = conf.publisher.telemetry_secret
    samples = []
    for objects in tasks:
        for obj in objects:
            samples.extend(obj.get_samples(manager, {}, pair.theirs.discover(
                None)))

    def convert():
        for sample in samples:
            publisher_utils.meter_message_from_counter(sample, secret)

    def discover_theirs():
        return pair.theirs.discover(None)

    def discover_ours():
        return pair.ours.discover(None)

    cases = [
        ('discovery', discover_theirs), ('discovery-cached', discover_ours),
        ('cycle', lambda: agent_cycle(tasks, manager, discover_theirs,
                                      secret)),
        ('cycle-cached', lambda: agent_cycle(tasks, manager, discover_ours,
                                             secret)),
        ('convert', convert),
    ]
    measured = measure.run_interleaved([f for _, f in cases], cycles)
    out = {'count': count, 'samples': len(samples)}
    for (key, _), (wall, cpu, _, peak, _) in zip(cases, measured,
                                                 strict=True):
        out[key] = (wall, cpu, peak)
    return out


def run_discoveries(counts, cycles):
    conf = service.prepare_service([], [])
    sources = polling.shipped_sources()
    manager = simulated_manager(conf, sources)
    measured = [measure_discoveries(conf, manager, sources, count, cycles)
                for count in counts]
    report.print_simulated_discoveries(measured, sources, cycles)
    return measured


def _rss_kib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 1024


def run_soak(count, cycles=1440, every=100, churn=0.1):
    """A day of 60 s cycles against churning simulated domains.

    Each cycle replaces a tenth of the domains by new ones (new UUIDs, new
    domain ids), then runs every polling task with local_instances_cached:
    the discovery per task and every meter (Ceilometer's message and
    signature left out: they keep nothing).  Prints memory and the size of
    every cache every `every` cycles; fails if a cache grows past its size
    after the first cycle (all domains new then).  Returns the rows.
    """
    conf = service.prepare_service([], [])
    sources = polling.shipped_sources()
    manager = simulated_manager(conf, sources)
    entries = nova_entries(count)
    sim = SimulatedConnection(entries)
    pair = Discoveries(conf, sim)
    host = state.HostState(conf, opener=lambda uri: sim)
    tasks = make_tasks(conf, sources, host)
    replaced = max(1, int(count * churn))
    bounds = None
    next_id = count
    rows = []
    peak_rss = 0
    walls = []
    print('\nSoak: %d simulated domains, %d cycles, %d replaced per cycle '
          '(whole agent cycle, local_instances_cached)' % (
              count, cycles, replaced))
    for cycle in range(1, cycles + 1):
        start = (cycle * replaced) % count
        fresh = nova_entries(replaced, first=next_id)
        next_id += replaced
        for offset, entry in enumerate(fresh):
            entries[(start + offset) % count] = entry
        sim.domains = [fakelibvirt.FakeDomain(e) for e in entries]
        sim._answers = {}
        t0 = time.perf_counter()
        made = agent_cycle(tasks, manager,
                           lambda: pair.ours.discover(None), None)
        walls.append(time.perf_counter() - t0)
        rss = _rss_kib()
        peak_rss = max(peak_rss, rss)
        if cycle % every == 0 or cycle == 1:
            caches = {
                'discovery': len(pair.ours._entries),
                'flavor LRU': len(pair.ours._flavor_id_cache),
                'metadata': len(host.metadata),
                'vpmu': len(host.vpmu),
                'derived': len(host.derived),
            }
            rows.append((cycle, '%.1f' % (sum(walls) / len(walls) * 1e3),
                         made, len(gc.get_objects()), '%.1f' % (rss / 1024.0),
                         '%.1f' % (peak_rss / 1024.0),
                         ' '.join('%s=%d' % kv for kv in caches.items())))
            print('  cycle %5d: %s ms/cycle, %d samples, %d objects, RSS %s '
                  'MiB (peak %s), caches: %s' % rows[-1])
            walls = []
            if bounds is None:
                bounds = {k: max(v, count) for k, v in caches.items()}
            grown = [k for k, v in caches.items() if v > bounds[k]]
            if grown:
                raise SystemExit('soak: caches grew: %s' % ', '.join(grown))
    print('Soak: peak RSS %.1f MiB, final %.1f MiB; no cache grew past its '
          'size after the first cycle (%s)' % (
              peak_rss / 1024.0, _rss_kib() / 1024.0,
              ' '.join('%s=%d' % kv for kv in bounds.items())))
    return rows
