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

"""The benchmark's output: RST simple tables, pasteable into the docs.

Through the project's one table renderer (ceilometer_perf.ops.tables);
here only what the cells say.
"""

import os
import platform
from importlib import metadata

from ceilometer_perf.ops import tables
from tools.bench import polling


def ms(seconds):
    return '%.3f' % (seconds * 1e3)


def us(seconds):
    return '%.1f' % (seconds * 1e6)


def mib(nbytes):
    return '%.2f' % (nbytes / 2.0 ** 20)


def version(number):
    """A libvirt version number as text: 9000000 -> 9.0.0."""
    return '%d.%d.%d' % (number // 1000000, number // 1000 % 1000,
                         number % 1000)


def calls_text(calls):
    if not calls:
        return '0', '-'
    total = sum(calls.values())
    detail = ' '.join('%s=%g' % (name[3:], round(n, 2)) for name, n in
                      sorted(calls.items(), key=lambda kv: -kv[1]))
    return '%g' % round(total, 2), detail


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    versions = ', '.join('%s %s' % (p, metadata.version(p)) for p in (
        'ceilometer', 'libvirt-python', 'ceilometer-perf'))
    return ('%s, %d CPUs (%d usable), Python %s, %s, %s' % (
        cpu, os.cpu_count(), len(os.sched_getaffinity(0)),
        platform.python_version(), platform.platform(terse=True), versions))


def print_guests(count, running, discovered, main_task, results):
    floor = results['floor'].per_item
    rows = []
    for r in results.values():
        total, detail = calls_text(r.calls)
        rows.append((r.label, ms(r.seconds), ms(r.per_item),
                     '%.1f' % (r.per_item / floor), total,
                     mib(r.peak), r.samples, detail))
    print('\n%d bench guests: %d running domains, %d instances discovered; '
          'median of the cycles' % (count, running, discovered))
    print(tables.simple_table(
        ('Per polling cycle', 'ms', 'ms/inst', 'x floor', 'libvirt calls',
         'peak MiB', 'samples', 'calls by API'), rows))
    ours = results['ours:' + main_task]
    ours_agent = results['agent:' + main_task]
    upstream, upstream_agent = results['upstream'], results['upstream-agent']
    print('%s: %.2f x the floor per instance without discovery; Ceilometer '
          'perf.* / ceilometer-perf %s: %.0f x without discovery, %.1f x in '
          'the agent (where discovery is %.0f%% of ceilometer-perf\'s cost)'
          % (main_task, ours.per_item / floor, main_task,
             upstream.per_item / ours.per_item,
             upstream_agent.per_item / ours_agent.per_item,
             100.0 * results['discovery'].seconds / ours_agent.seconds))


def print_discoveries(results, main_task):
    """Both discoveries side by side, per instance, from the same run."""
    def per(key):
        return results[key].per_item

    rows = []
    for label, before, after in [
            ('discovery alone', 'discovery', 'discovery-cached'),
            ('agent %s (whole cycle)' % main_task,
             'agent-before:' + main_task, 'agent:' + main_task),
            ('agent, Ceilometer cpu/memory/disk', 'compute-agent',
             'compute-agent-cached')]:
        rows.append((label, ms(per(before)), ms(per(after)),
                     '%.1f' % (per(before) / per(after))))
    rows.append(('perf.* 4 meters: Ceilometer\'s vs ours, agent',
                 ms(per('upstream-agent')), ms(per('four-agent')),
                 '%.1f' % (per('upstream-agent') / per('four-agent'))))
    print('\nPer instance, ms: local_instances (before) and '
          'local_instances_cached (after)')
    print(tables.simple_table(('Per polling cycle', 'before', 'after',
                               'x'), rows))
    print('Ceilometer per sample (message + signature): %s us' %
          us(results['convert'].per_item))


def print_slopes(low, high):
    """Cost of one more instance: the slope between two guest counts."""
    (n1, r1), (n2, r2) = low, high
    if n2 <= n1:
        return
    floor = (r2['floor'].seconds - r1['floor'].seconds) / (n2 - n1)
    rows = []
    for a, b in zip(r1.values(), r2.values(), strict=False):
        slope = (b.seconds - a.seconds) / (n2 - n1)
        calls = (sum((b.calls or {}).values()) -
                 sum((a.calls or {}).values())) / (n2 - n1)
        rows.append((a.label, ms(slope), '%.1f' % (slope / floor),
                     '%.2f' % calls))
    print('\nOne more instance: slope between %d and %d running domains'
          % (n1, n2))
    print(tables.simple_table(
        ('Per extra instance', 'ms', 'x floor', 'libvirt calls'), rows))


def print_simulated(measured, sources, cycles):
    """measured: what simulated.measure_simulated returned, per count."""
    rows = []
    for r in measured:
        count = r['count']
        rows.append((
            count, '%.3f' % r['cold'][0], '%.3f' % r['wall'],
            '%.3f' % r['cpu'],
            ' '.join('%.3f' % t for t in r['per_task']),
            us(r['wall'] / count), us(r['wall'] / r['samples']),
            '%g' % r['calls'], '%.3f' % r['read'],
            '%.3f' % r['before'] if r['before'] is not None else '-',
            mib(r['peak']), '%.1f' % (r['peak'] / count / 1024.0),
            r['samples']))
    print('\nSimulated domains, all %d meters on, pollsters driven directly '
          '(no discovery); a cycle runs each polling task of '
          'etc/ceilometer/polling.yaml once (%s); median of %d cycles' % (
              len(polling.OURS), ', '.join(s['name'] for s in sources),
              cycles))
    print(tables.simple_table(
        ('domains', 'cold s', 's/cycle', 'CPU s', 'tasks s', 'us/inst',
         'us/sample', 'calls', 'bulk read s', 'before s', 'peak MiB',
         'KiB/inst', 'samples'), rows))
    print('cold: first cycle (reads every domain XML once, for perf.vpmu); '
          'tasks: each task alone, in that order; '
          'calls: bulk stats calls per cycle (one per task); '
          'bulk read: the reader alone (fake libvirt answers at no cost); '
          'before: one cycle as before this benchmark\'s fixes (samples made '
          'by Ceilometer\'s make_sample_from_instance, held per pollster)')


def print_simulated_discoveries(measured, sources, cycles):
    """measured: what simulated.measure_discoveries returned, per count."""
    rows = []
    for r in measured:
        count = r['count']
        for label, before, after in (
                ('discovery alone', 'discovery', 'discovery-cached'),
                ('whole agent cycle (%d tasks)' % len(sources), 'cycle',
                 'cycle-cached')):
            rows.append((count, label, ms(r[before][0] / count),
                         ms(r[after][0] / count),
                         '%.1f' % (r[before][0] / r[after][0]),
                         mib(r[before][2]), mib(r[after][2])))
        rows.append((count, 'Ceilometer message + signature, per sample',
                     ms(r['convert'][0] / r['samples']), '', '', '', ''))
    print('\nSimulated domains, every one a nova instance, all meters: '
          'local_instances (before) and local_instances_cached (after), '
          'ms per instance; the agent cycle runs the discovery once per '
          'polling task and makes a signed message of every sample; '
          'median of %d cycles' % cycles)
    print(tables.simple_table(
        ('domains', 'per cycle', 'before', 'after', 'x', 'peak MiB before',
         'peak MiB after'), rows))
