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

"""Bulk reads that may wait on a hung QEMU, bounded in time.

CPU_TOTAL and VCPU stats block on a domain whose QEMU does not answer,
NOWAIT or not.  Such a read runs in a worker thread and is waited for
`timeout` seconds.  Past that, it is left to finish on its own (it holds
the hung domain's job, and a libvirt call cannot be cancelled), and a
NOWAIT read, which skips what needs that domain's job, answers the cycle
instead; its snapshot names the domains whose record lacks keys their
last complete one had.  While a stuck read is pending no other one is
started, so hung QEMUs never pile up threads.  Reads of PERF, STATE and
MEMORY never wait on a QEMU and run in the caller.

StallWatch turns those snapshots into one log line when an instance gets
stuck and one when it answers again.
"""

import threading
import time

from ceilometer_perf import stats


class StatsTimeout(Exception):
    """libvirt did not answer a bulk stats read within the deadline."""


class DeadlineRead:
    """source.read(groups), within `timeout` seconds for slow groups."""

    def __init__(self, source, timeout):
        self.source = source
        self.timeout = timeout
        self._lock = threading.Lock()
        # Reads that outlived their deadline, by lane, until they end.
        self.pending = {}
        # {uuid: keys of its last complete slow read}, shared key sets.
        self._shapes = {}

    def read(self, groups):
        if not self.timeout or not groups & stats.SLOW:
            return self.source.read(groups)
        try:
            snap = self._within_deadline(
                'slow', lambda: self.source.read(groups))
        except StatsTimeout:
            pass
        else:
            self._remember_shapes(snap)
            return snap
        # The stuck read holds the hung domain's job: NOWAIT skips it.
        snap = self._within_deadline(
            'slow-nowait', lambda: self.source.read(groups, nowait=True))
        snap.stalled = self._stalled_domains(snap)
        return snap

    def _within_deadline(self, lane, func):
        uri = self.source.connection.uri
        with self._lock:
            stuck = self.pending.get(lane)
            if stuck is not None and stuck.done:
                del self.pending[lane]
                stuck = None
        if stuck is not None:
            raise StatsTimeout(
                'libvirt at %s has not answered a stats read started %.0f s '
                'ago' % (uri, stuck.age()))
        call = PendingCall(func)
        if call.wait(self.timeout):
            return call.outcome()
        with self._lock:
            self.pending[lane] = call
        raise StatsTimeout('libvirt at %s did not answer a stats read '
                           'within %s s' % (uri, self.timeout))

    def _remember_shapes(self, snap):
        shapes, pool = {}, {}
        for uuid, record in snap.records.items():
            keys = frozenset(record.stats)
            shapes[uuid] = pool.setdefault(keys, keys)
        self._shapes = shapes

    def _stalled_domains(self, snap):
        """Domains whose record lacks keys of their last complete read.

        What NOWAIT skips for a domain whose job is held (libvirt 9:
        cpu.haltpoll.*, and the monitor's data) is the only sign of which
        domain the stuck read waits for that never blocks itself:
        virDomainGetControlInfo can wait on the same QEMU.
        """
        stalled = {}
        for uuid, record in snap.records.items():
            shape = self._shapes.get(uuid)
            if shape is not None:
                missing = shape.difference(record.stats)
                if missing:
                    stalled[uuid] = tuple(sorted(missing))
        return stalled


class PendingCall:
    """A call run in a daemon thread, so that its caller can stop waiting.

    A libvirt call blocked on a hung QEMU cannot be cancelled; the thread
    ends when the QEMU (or libvirtd) answers or goes away.
    """

    def __init__(self, func):
        self.func = func
        self.started = time.monotonic()
        self._result = self._error = None
        self._done = threading.Event()
        threading.Thread(target=self._run, daemon=True,
                         name='ceilometer-perf-stats').start()

    def _run(self):
        try:
            self._result = self.func()
        except BaseException as exc:
            self._error = exc
        finally:
            self._done.set()

    @property
    def done(self):
        return self._done.is_set()

    def age(self):
        return time.monotonic() - self.started

    def wait(self, timeout):
        return self._done.wait(timeout)

    def outcome(self):
        if self._error is not None:
            raise self._error
        return self._result


class StallWatch:
    """One line when an instance's QEMU stops answering, one when back."""

    def __init__(self, reporter, timeout):
        self.reporter = reporter
        self.timeout = timeout
        # Instances a read went on without: {uuid: keys it lacked}.
        self.stalled = {}

    def observe(self, snap):
        say = self.reporter.say
        for uuid in list(self.stalled):
            if uuid not in snap.records:
                del self.stalled[uuid]
        if not snap.groups & stats.SLOW:
            return     # Reads of other groups never wait on a QEMU.
        for uuid in list(self.stalled):
            if snap.stalled is None or uuid not in snap.stalled:
                del self.stalled[uuid]
                say('answers-again', uuid, snap.records[uuid].name)
        if snap.stalled is None:
            self.reporter.notices.clear('stalled-unknown')
            return
        if not snap.stalled:
            say('stalled-unknown', self.timeout)
        for uuid, missing in snap.stalled.items():
            if uuid not in self.stalled:
                self.stalled[uuid] = missing
                say('stalled', uuid, snap.records[uuid].name, self.timeout,
                    ', '.join(missing))
