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

"""Faults, churn and bad input on the real hypervisor.

Each test injects a fault into a real libvirtd / QEMU setup while
Ceilometer's polling agent runs the plugin, and checks what the operator
sees (samples, log lines) and that the next cycle is whole again.  The
session prints a summary: faults injected, cycles polled, samples lost
outside the faulted instance, exceptions that reached the agent.
"""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ceilometer_perf import state
from ceilometer_perf import catalogue
from ceilometer_perf.ops.localagent import polling_manager
from tests.functional import agent as agent_mod
from tests.functional.conftest import localguests

CLOCK = 'perf.event.cpu_clock'
SOURCES = [{'name': 'perf', 'interval': 60,
            'meters': [CLOCK, 'perf.event.task_clock', 'perf.vpmu']}]


class AgentErrors(logging.Handler):
    """Exceptions of ours that reached the agent; lines the plugin logged.

    Ceilometer logs 'Continue after error from <pollster>' when a
    pollster raises; the plugin's own code never logs a traceback.
    """

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.exceptions = []
        self.plugin_lines = []
        self.plugin_info = []

    def emit(self, record):
        message = record.getMessage()
        ours = record.name.startswith('ceilometer_perf')
        if ours and record.levelno >= logging.WARNING:
            self.plugin_lines.append(message)
        elif ours and record.levelno >= logging.INFO:
            self.plugin_info.append(message)
        if (ours and record.exc_info) or any(
                'Continue after error from %s:' % m in message
                for m in catalogue.BY_NAME):
            self.exceptions.append(message)


@pytest.fixture
def watch(ledger):
    # On the loggers themselves: every agent set up in a test runs
    # oslo.log's setup, which takes all handlers off the root logger.
    handler = AgentErrors()
    loggers = [logging.getLogger(name)
               for name in ('ceilometer_perf', 'ceilometer')]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
    ledger.agent_exceptions += len(handler.exceptions)
    assert handler.exceptions == []


class Run:
    """Polls with the real agent and books cycles and losses."""

    def __init__(self, ledger, sources=SOURCES, **agent_args):
        self.ledger = ledger
        self.sources = sources
        self.agent = agent_mod.Agent(sources, **agent_args)

    def cycle(self, expect=(), faulted=()):
        """One cycle; each guest in expect, unless faulted, must have a
        sample of every meter polled.  Returns our samples."""
        samples = [s for s in self.agent.poll()
                   if s['counter_name'] in catalogue.BY_NAME]
        self.ledger.cycles += 1
        self.ledger.samples += len(samples)
        got = {(s['resource_id'], s['counter_name']) for s in samples}
        faulted = {g.uuid for g in faulted}
        missing = [(g.name, m) for g in expect if g.uuid not in faulted
                   for m in self.meters if (g.uuid, m) not in got]
        self.ledger.lost += len(missing)
        assert not missing
        for s in samples:
            # Never attributed to the wrong instance.
            name = s['resource_metadata']['display_name']
            if name.startswith(('churn-', 'fault-')):
                assert s['resource_id'] == localguests.Guest(name).uuid
        return samples

    @property
    def meters(self):
        return {m for src in self.sources for m in src['meters']}


def _ids(samples, meter=CLOCK):
    return {s['resource_id']: s['counter_volume'] for s in samples
            if s['counter_name'] == meter}


def test_domain_vanishes_between_discovery_and_read(hypervisor, guests,
                                                    ledger, watch,
                                                    monkeypatch):
    victim = localguests.Guest('fault-vanish')
    localguests.start(hypervisor, [victim])
    time.sleep(1)
    run = Run(ledger)
    assert victim.uuid in _ids(run.cycle(expect=guests.values()))
    real_discover = polling_manager.AgentManager.discover

    def discover_then_destroy(self, *args, **kwargs):
        found = real_discover(self, *args, **kwargs)
        try:
            hypervisor.lookupByName(victim.domain_name).destroy()
        except Exception:  # noqa: S110 - already gone in a later pollster
            pass
        return found
    monkeypatch.setattr(polling_manager.AgentManager, 'discover',
                        discover_then_destroy)
    ledger.faults.append('domain destroyed between discovery and bulk read')
    samples = run.cycle(expect=list(guests.values()) + [victim],
                        faulted=[victim])
    assert victim.uuid not in _ids(samples)
    monkeypatch.undo()
    run.cycle(expect=guests.values())


def test_domain_started_mid_cycle(hypervisor, guests, ledger, watch,
                                  monkeypatch):
    late = localguests.Guest('fault-late')
    run = Run(ledger)
    real_discover = polling_manager.AgentManager.discover
    started = []

    def discover_then_start(self, *args, **kwargs):
        found = real_discover(self, *args, **kwargs)
        if not started:
            localguests.start(hypervisor, [late])
            started.append(late)
        return found
    monkeypatch.setattr(polling_manager.AgentManager, 'discover',
                        discover_then_start)
    ledger.faults.append('domain started between discovery and bulk read')
    try:
        first = run.cycle(expect=guests.values())
        # Running in the bulk read but not discovered: not reported.
        assert late.uuid not in _ids(first)
        monkeypatch.undo()
        run.cycle(expect=list(guests.values()) + [late])
    finally:
        hypervisor.lookupByName(late.domain_name).destroy()


def test_churn_keeps_caches_bounded(hypervisor, guests, ledger, watch):
    """Guests start and stop continuously while the agent polls."""
    run = Run(ledger)
    host = state.host_state(run.agent.conf)
    pool = [localguests.Guest('churn-%02d' % i) for i in range(24)]
    alive = []
    seconds = float(os.environ.get('CEILOMETER_PERF_CHURN_SECONDS', '90'))
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        # Start two, stop one: up to ~8 alive, every name reused.
        for guest in (pool[step % 24], pool[(step + 7) % 24]):
            if guest not in alive:
                localguests.start(hypervisor, [guest])
                alive.append(guest)
        if len(alive) > 8:
            gone = alive.pop(0)
            hypervisor.lookupByName(gone.domain_name).destroy()
        step += 1
        # Every guest running through the whole cycle is reported.
        run.cycle(expect=list(guests.values()) + alive)
        # The per-boot XML cache holds running domains only.
        running = hypervisor.listAllDomains(1)   # ..._LIST_ACTIVE
        assert len(host.vpmu) <= len(running)
    ledger.faults.append('churn: %d start/stop steps over %.0f s'
                         % (step, seconds))
    for guest in alive:
        hypervisor.lookupByName(guest.domain_name).destroy()
    run.cycle(expect=guests.values())
    # Only the running guests stay cached.
    assert len(host.vpmu) == len(guests)
    assert step >= 5


def _guarded(func, seconds=120):
    """func() in a thread, given up after seconds: a hang fails the test
    instead of wedging the run.  Returns (result, seconds taken)."""
    out = {}

    def run():
        started = time.monotonic()
        out['result'] = func()
        out['took'] = time.monotonic() - started
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), '%s hung' % func
    return out['result'], out['took']


def _qemu_pid(guest):
    with open('/run/libvirt/qemu/%s.pid' % guest.domain_name) as f:
        return int(f.read())


def test_hung_qemu_holds_up_no_cycle_and_is_reported_once(
        hypervisor, guests, ledger, watch):
    hung = localguests.Guest('fault-hung')
    localguests.start(hypervisor, [hung])
    time.sleep(1)
    deadline = 2.0
    run = Run(ledger, sources=SOURCES + [
        {'name': 'cpu', 'interval': 300, 'meters': ['cpu.overhead']}],
        overrides={('ceilometer_perf', 'stats_timeout'): deadline})
    everyone = list(guests.values()) + [hung]
    host = state.host_state(run.agent.conf)
    try:
        run.cycle(expect=everyone)
        os.kill(_qemu_pid(hung), signal.SIGSTOP)
        ledger.faults.append('QEMU stopped (SIGSTOP) for two cycles')
        try:
            took = []
            for _ in range(2):
                # cpu.time and the vCPU times come from the kernel, not the
                # QEMU monitor: even the hung instance keeps its samples.
                _, seconds = _guarded(lambda: run.cycle(expect=everyone))
                took.append(seconds)
            stuck = [x for x in watch.plugin_lines if hung.uuid in x]
            assert len(stuck) == 1 and 'is stuck' in stuck[0], stuck
            assert 'cpu.haltpoll' in stuck[0]
            assert not [x for x in watch.plugin_lines if hung.uuid not in x]
        finally:
            os.kill(_qemu_pid(hung), signal.SIGCONT)
        ledger.faults.append(
            'hung QEMU: cycles took %s s with stats_timeout = %s s'
            % (', '.join('%.1f' % t for t in took), deadline))
        # The read left behind ends once the QEMU answers.
        for _ in range(100):
            if not [c for c in host.reader.deadline.pending.values()
                    if not c.done]:
                break
            time.sleep(0.1)
        run.cycle(expect=everyone)
        assert [x for x in watch.plugin_info
                if hung.uuid in x and 'answers again' in x]
        assert host.stalled == {}
    finally:
        hypervisor.lookupByName(hung.domain_name).destroy()


def test_libvirtd_restarted_during_a_cycle(hypervisor, guests, ledger, watch,
                                           monkeypatch):
    run = Run(ledger)
    host = state.host_state(run.agent.conf)
    before = _ids(run.cycle(expect=guests.values()))
    real_discover = polling_manager.AgentManager.discover

    def discover_then_restart(self, *args, **kwargs):
        found = real_discover(self, *args, **kwargs)
        monkeypatch.setattr(polling_manager.AgentManager, 'discover',
                            real_discover)
        hypervisor.restart_libvirtd()
        return found
    monkeypatch.setattr(polling_manager.AgentManager, 'discover',
                        discover_then_restart)
    ledger.faults.append('libvirtd restarted between discovery and the '
                         'bulk read of a cycle')
    opened = host.connection.opened
    during = _ids(run.cycle(expect=guests.values()))
    # The read met the broken connection, reconnected once and read every
    # instance from the new libvirtd (counters restarted): nothing half-read.
    assert host.connection.opened == opened + 1
    for guest in guests.values():
        assert during[guest.uuid] < before[guest.uuid]
    after = _ids(run.cycle(expect=guests.values()))
    for guest in guests.values():
        assert after[guest.uuid] >= during[guest.uuid]


def test_libvirtd_down_for_two_cycles(hypervisor, guests, ledger, watch,
                                      monkeypatch):
    run = Run(ledger)
    host = state.host_state(run.agent.conf)
    found = []
    real_discover = polling_manager.AgentManager.discover

    def remembered(self, *args, **kwargs):
        # Ceilometer's own discovery needs libvirtd too (and retries for
        # seconds): while it is down, the last instances stand in.
        if not found:
            found.append(real_discover(self, *args, **kwargs))
        return found[0]
    monkeypatch.setattr(polling_manager.AgentManager, 'discover',
                        remembered)
    run.cycle(expect=guests.values())
    hypervisor.stop_libvirtd()
    ledger.faults.append('libvirtd stopped for two cycles')
    try:
        for _ in range(2):
            # Every instance is faulted: no sample, and no exception.
            assert _guarded(lambda: run.cycle(
                faulted=guests.values()))[0] == []
    finally:
        hypervisor.start_libvirtd()
    down = [x for x in watch.plugin_lines if 'qemu:///system' in x]
    assert len(down) == 1 and 'no perf samples until it is back' in \
        down[0], watch.plugin_lines
    run.cycle(expect=guests.values())
    assert [x for x in watch.plugin_info if 'reachable again' in x]
    assert host.notices.seen('unavailable') is False


def test_bad_configuration_costs_nothing_else(guests, ledger, watch,
                                              tmp_path):
    conf_file = tmp_path / 'ceilometer.conf'
    conf_file.write_text('[ceilometer_perf]\nstats_nowait = maybe\n'
                         'stats_timout = 5\n')
    sources = [dict(SOURCES[0],
                    meters=SOURCES[0]['meters'] + ['perf.event.cpu_clok'])]
    run = Run(ledger, sources=sources, config_files=[str(conf_file)])
    run.sources = SOURCES
    ledger.faults.append('bad option value, unknown option, unknown meter '
                         'in polling.yaml')
    for _ in range(2):
        run.cycle(expect=guests.values())
    errors = sorted(x for x in watch.plugin_lines if 'clok' in x
                    or 'bad configuration' in x)
    assert len(errors) == 3, watch.plugin_lines
    assert "'perf.event.cpu_clok' (did you mean 'perf.event.cpu_clock'?)" \
        in errors[2]
    assert 'stats_nowait' in errors[0] and 'maybe' in errors[0]
    assert 'unknown option [ceilometer_perf] stats_timout' in errors[1]


def test_no_events_enabled_one_line_per_event(hypervisor, ledger, watch):
    bare = localguests.Guest('fault-no-events', events=())
    localguests.start(hypervisor, [bare])
    try:
        run = Run(ledger)
        for _ in range(3):
            samples = run.cycle()
            assert bare.uuid not in _ids(samples)
            assert bare.uuid in _ids(samples, 'perf.vpmu')
        ledger.faults.append('instance with no perf event enabled')
        about = [x for x in watch.plugin_lines if bare.uuid in x]
        # cpu_clock and task_clock: one line each, not one per cycle.
        assert 1 <= len(about) <= 2, watch.plugin_lines
        assert all('enabled_perf_events' in x for x in about)
    finally:
        hypervisor.lookupByName(bare.domain_name).destroy()


def test_domain_without_nova_metadata_is_ignored(hypervisor, guests, ledger,
                                                 watch):
    stray = localguests.Guest('fault-stray', nova_metadata=False)
    localguests.start(hypervisor, [stray])
    try:
        run = Run(ledger)
        samples = run.cycle(expect=guests.values())
        assert stray.uuid not in {s['resource_id'] for s in samples}
        ledger.faults.append('domain without nova metadata')
    finally:
        hypervisor.lookupByName(stray.domain_name).destroy()


def test_unreachable_libvirt_uri(ledger, watch):
    # Ceilometer's own discovery fails first (and says so, after its
    # retries); the plugin's pollsters then have nothing to poll and the
    # agent carries on.  The plugin's own line for an unreachable libvirt
    # is covered by test_permission_denied_is_one_clear_line and by
    # `ceilometer-perf check`.
    agent = agent_mod.Agent(SOURCES, uri='qemu+unix:///system?socket=/nope')
    assert agent.poll() == []
    ledger.cycles += 1
    ledger.faults.append('unreachable libvirt URI')


PERMISSION_SCRIPT = textwrap.dedent('''
    import logging, sys
    from ceilometer import service
    from ceilometer_perf.ops import localagent
    conf = service.prepare_service([], [])
    agent = localagent.LocalAgent(
        [{"name": "p", "interval": 60, "meters": ["perf.event.cpu_clock"]}],
        conf, {("DEFAULT", "libvirt_uri"): sys.argv[1],
               ("compute", "instance_discovery_method"): "naive"})
    lines = []
    class Keep(logging.Handler):
        def emit(self, record):
            if record.name.startswith("ceilometer_perf"):
                lines.append(record.getMessage())
    logging.getLogger().addHandler(Keep())
    from ceilometer_perf import pollsters
    cls = pollsters.POLLSTERS["PerfEventCpuClockPollster"]
    pollster = cls(conf)
    for _ in range(3):
        list(pollster.get_samples(None, {}, []))
    print("LINES", len(lines))
    print(lines[0] if lines else "")
''')


def test_permission_denied_is_one_clear_line(root_only_socket, ledger):
    proc = subprocess.run(
        ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
         '--', sys.executable, '-c', PERMISSION_SCRIPT,
         'qemu+unix:///system?socket=%s' % root_only_socket],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, HOME='/tmp'), cwd='/')
    ledger.faults.append('libvirt socket without permission')
    ledger.cycles += 3
    assert 'Traceback' not in proc.stderr, proc.stderr
    assert 'LINES 1' in proc.stdout, proc.stdout + proc.stderr
    assert 'Permission denied' in proc.stdout
