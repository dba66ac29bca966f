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

"""Real TCG guests: the libvirt floor, ceilometer-perf and Ceilometer.

Each case runs in this one process, side by side: one bulk PERF stats
call (the floor), each polling task of the shipped polling.yaml with the
pollsters driven directly and inside Ceilometer's polling agent, and
Ceilometer's own perf.* pollsters both ways.
"""

import os
import subprocess
import sys
import time

import libvirt
from ceilometer.publisher import utils as publisher_utils

from ceilometer_perf import catalogue
from ceilometer_perf import stats
from ceilometer_perf.ops import localagent
from tools import ROOT
from tools import libvirtcalls
from tools import localguests
from tools.bench import measure
from tools.bench import polling
from tools.bench import report

# Ceilometer 27's own perf pollsters (instance_stats.py, libvirt inspector).
UPSTREAM = ['perf.cpu.cycles', 'perf.instructions', 'perf.cache.references',
            'perf.cache.misses']
# Ours for the same four events.
FOUR = ['perf.event.cpu_cycles', 'perf.event.instructions',
        'perf.event.cache_references', 'perf.event.cache_misses']
# Ceilometer's own compute pollsters, under either discovery.
COMPUTE = ['cpu', 'memory.usage', 'disk.device.read.bytes',
           'disk.device.write.bytes']
CEILOMETER = 'local_instances'
CACHED = 'local_instances_cached'
GUEST_PREFIX = 'bench-'
PERF_FLAGS = stats.FLAGS[stats.PERF]


def make_agent(sources, uri):
    return localagent.on_libvirt(sources, uri, 'bench')


def pollster_objects(agent, names):
    found = [ext.obj for ext in agent.manager.extensions
             if ext.name in names]
    missing = set(names) - {ext.name for ext in agent.manager.extensions}
    if missing:
        sys.exit('pollsters not loaded: %s' % ', '.join(sorted(missing)))
    return found


def poll_agent_task(agent, interval):
    """One cycle of one polling task of the agent; samples published."""
    agent.tasks[interval].poll_and_notify()
    made = len(agent.recorder.samples)
    del agent.recorder.samples[:]
    return made


def task_label(source):
    groups = set()
    for name in source['meters']:
        groups.update(catalogue.BY_NAME[name].groups)
    return '%s (%d meters, %s)' % (source['name'], len(source['meters']),
                                   '+'.join(sorted(g.upper()
                                                   for g in groups)))


def with_discovery(sources, discovery):
    """The sources, each naming this discovery for all its pollsters."""
    return [dict(source, discovery=[discovery]) for source in sources]


def converter(agent, samples):
    """Ceilometer's per-sample work at the publishing end: conversion to
    a message and its signature (PollingTask._send_notification)."""
    secret = agent.conf.publisher.telemetry_secret

    def convert():
        for sample in samples:
            publisher_utils.meter_message_from_counter(sample, secret)
        return 0
    return convert


def measure_guests(uri, cycles, counter):
    sources = polling.shipped_sources()
    main = sources[0]
    # Our pollsters' default discovery: local_instances_cached.
    ours_agent = make_agent(sources, uri)
    # The same tasks with Ceilometer's local_instances.
    before_agent = make_agent(with_discovery(sources, CEILOMETER), uri)
    four = [{'name': 'four', 'interval': 60, 'meters': FOUR}]
    four_agent = make_agent(four, uri)
    upstream_agent = make_agent(
        [{'name': 'upstream', 'interval': 60, 'meters': UPSTREAM}], uri)
    upstream = pollster_objects(upstream_agent, UPSTREAM)
    compute = [{'name': 'compute', 'interval': 60, 'meters': COMPUTE}]
    compute_agents = {d: make_agent(with_discovery(compute, d), uri)
                      for d in (CEILOMETER, CACHED)}
    manager = ours_agent.manager
    instances = manager.discover([CEILOMETER], {})
    conn = libvirt.openReadOnly(uri)
    flags = stats.LIST_ACTIVE | stats.NOWAIT
    running = len(conn.getAllDomainStats(PERF_FLAGS, flags))
    samples = []
    for obj in pollster_objects(ours_agent, main['meters']):
        samples.extend(obj.get_samples(manager, {}, instances))

    def direct(objects):
        return lambda: polling.poll_directly(objects, manager, instances)

    def in_agent(agent, interval):
        return lambda: poll_agent_task(agent, interval)

    scenarios = [('floor', 'libvirt floor: 1 bulk PERF stats call',
                  lambda: len(conn.getAllDomainStats(PERF_FLAGS, flags))
                  and 0)]
    for source in sources:
        scenarios.append((
            'ours:' + source['name'], 'ceilometer-perf %s, no discovery' %
            task_label(source),
            direct(pollster_objects(ours_agent, source['meters']))))
    scenarios += [
        ('upstream', 'Ceilometer perf.* (4 meters), no discovery',
         lambda: polling.poll_directly(upstream, upstream_agent.manager,
                                       instances)),
        ('discovery', 'discovery: Ceilometer local_instances',
         lambda: len(manager.discover([CEILOMETER], {})) and 0),
        ('discovery-cached', 'discovery: local_instances_cached',
         lambda: len(manager.discover([CACHED], {})) and 0),
        ('convert', 'Ceilometer per sample: message + signature '
         '(%d samples; ms/inst = per sample)' % len(samples),
         converter(ours_agent, samples)),
    ]
    for source in sources:
        scenarios.append((
            'agent:' + source['name'],
            'agent %s, local_instances_cached' % source['name'],
            in_agent(ours_agent, source['interval'])))
        scenarios.append((
            'agent-before:' + source['name'],
            'agent %s, local_instances' % source['name'],
            in_agent(before_agent, source['interval'])))
    scenarios += [
        ('four-agent', 'agent, our 4 perf meters, local_instances_cached',
         lambda: poll_agent_task(four_agent, 60)),
        ('upstream-agent', 'agent, Ceilometer perf.*, local_instances',
         lambda: len(upstream_agent.poll())),
        ('compute-agent', 'agent, Ceilometer cpu/memory/disk, '
         'local_instances', lambda: poll_agent_task(
             compute_agents[CEILOMETER], 60)),
        ('compute-agent-cached', 'agent, Ceilometer cpu/memory/disk, '
         'local_instances_cached', lambda: poll_agent_task(
             compute_agents[CACHED], 60)),
    ]
    results = {}
    measured = measure.run_interleaved(
        [func for _, _, func in scenarios], cycles, counter)
    for (key, label, _), (wall, cpu, calls, peak, made) in zip(
            scenarios, measured, strict=True):
        results[key] = measure.Result(label, wall, cpu, running, calls,
                                      peak, made)
    results['convert'].items = len(samples)
    # The agent runs pollsters in a thread pool, out of the profiler's
    # sight: the same work, in this thread.
    objects = pollster_objects(ours_agent, main['meters'])
    secret = ours_agent.conf.publisher.telemetry_secret

    def our_cycle():
        found = manager.discover([CACHED], {})
        cache = {}
        for obj in objects:
            for sample in obj.get_samples(manager, cache, found):
                publisher_utils.meter_message_from_counter(sample, secret)
    profile = measure.profile(
        our_cycle, cycles, 'the %s task in one thread: '
        'local_instances_cached, our pollsters, Ceilometer\'s message and '
        'signature' % main['name'])
    conn.close()
    for agent in [ours_agent, before_agent, four_agent, upstream_agent,
                  *compute_agents.values()]:
        agent.close()
    return running, len(instances), main['name'], results, profile


def run_guests(counts, cycles, uri):
    """Measure with each guest count; {count: (running, found, results)}."""
    counter = libvirtcalls.CallCounter()
    hypervisor = os.path.join(ROOT, 'tools', 'hypervisor.sh')
    started_hypervisor = False
    if uri == 'qemu:///system' and subprocess.run(
            [hypervisor, 'status'], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode != 0:
        # No hypervisor here: a local one for the run, as the demo does.
        subprocess.run([hypervisor, 'start'], check=True)
        started_hypervisor = True
    conn = localguests.connect(uri)
    print('libvirtd %s, %s %s at %s' % (
        report.version(conn.getLibVersion()), conn.getType(),
        report.version(conn.getVersion()), uri))
    started = []
    measured = {}
    try:
        for count in sorted(counts):
            guests = [localguests.Guest(GUEST_PREFIX + str(i))
                      for i in range(len(started), count)]
            localguests.start(conn, guests)
            started.extend(g.domain_name for g in guests)
            time.sleep(1.5)
            running, discovered, main_task, results, profile = (
                measure_guests(uri, cycles, counter))
            report.print_guests(count, running, discovered, main_task,
                                results)
            report.print_discoveries(results, main_task)
            print(profile)
            measured[count] = (running, discovered, results)
    finally:
        for name in started:
            try:
                conn.lookupByName(name).destroy()
            except libvirt.libvirtError:
                pass
        conn.close()
        counter.close()
        if started_hypervisor:
            subprocess.run([hypervisor, 'stop'], check=False)
    counts = sorted(measured)
    if len(counts) > 1:
        low, high = measured[counts[0]], measured[counts[-1]]
        report.print_slopes((low[0], low[2]), (high[0], high[2]))
    return measured
