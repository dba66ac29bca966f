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
from ceilometer.polling import manager as polling_manager

from ceilometer_perf import catalogue
from ceilometer_perf import pollsters
from ceilometer_perf import samples
from ceilometer_perf import state
from tools import fakelibvirt
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
    tasks = []
    for source in sources:
        objects = []
        for name in source['meters']:
            obj = pollsters.POLLSTERS[catalogue.BY_NAME[name].class_name](
                conf)
            obj.host = host
            objects.append(obj)
        tasks.append(objects)

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
