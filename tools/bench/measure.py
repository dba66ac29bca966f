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

"""Timing: median wall and CPU time of a cycle, its calls, its memory."""

import cProfile
import gc
import io
import pstats
import statistics
import time
import tracemalloc


class Result:
    def __init__(self, label, seconds, cpu, items, calls=None, peak=None,
                 samples_made=None):
        self.label = label
        self.seconds = seconds      # median wall time per cycle
        self.cpu = cpu              # median CPU time of this process
        self.items = items          # instances the cycle covered
        self.calls = calls          # {libvirt function: calls per cycle}
        self.peak = peak            # tracemalloc peak bytes in one cycle
        self.samples = samples_made

    @property
    def per_item(self):
        return self.seconds / self.items if self.items else float('nan')


def median_time(func, cycles):
    """Median wall seconds of func(), without warm-up or extras."""
    walls = []
    for _ in range(cycles):
        gc.collect()
        t0 = time.perf_counter()
        func()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def run_cycles(func, cycles, counter=None, warmup=1):
    """Median wall and CPU seconds of func(), its calls and peak memory."""
    return run_interleaved([func], cycles, counter, warmup)[0]


def run_interleaved(funcs, cycles, counter=None, warmup=1):
    """Median wall and CPU seconds of each func(), its calls, peak memory.

    Round r runs every case once, starting from a different one each
    round, so that a slow spell of a shared machine (seen here: 30% swings
    within seconds) falls on all cases alike and their ratios hold.  Calls
    are counted (counter: a tools.libvirtcalls.CallCounter) and memory
    traced in one more cycle each, untimed.  Returns (wall, cpu,
    {libvirt function: calls}, peak bytes, result of the last cycle) per
    case.
    """
    for _ in range(warmup):
        for func in funcs:
            func()
    walls = [[] for _ in funcs]
    cpus = [[] for _ in funcs]
    results = [None] * len(funcs)
    for round_ in range(cycles):
        for step in range(len(funcs)):
            i = (round_ + step) % len(funcs)
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            results[i] = funcs[i]()
            walls[i].append(time.perf_counter() - t0)
            cpus[i].append(time.process_time() - c0)
    out = []
    for i, func in enumerate(funcs):
        calls = None
        if counter is not None:
            counter.start()
            try:
                func()
            finally:
                calls = counter.stop()
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        func()
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        out.append((statistics.median(walls[i]), statistics.median(cpus[i]),
                    calls, peak, results[i]))
    return out


def profile(func, cycles, what, top=14):
    """What func() spends its time in: cProfile over `cycles` runs, the
    functions with the most time of their own, as text."""
    profiler = cProfile.Profile()
    func()
    profiler.enable()
    for _ in range(cycles):
        func()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats('tottime').print_stats(top)
    skip = ('   Ordered', '   List')
    lines = [line for line in out.getvalue().splitlines()
             if line.strip() and not line.startswith(skip)]
    return ('\nProfile of %d cycles of %s, by own time:\n%s'
            % (cycles, what, '\n'.join(lines)))
