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

"""`ceilometer-perf resctrl-sync [--loop]`: the root companion.

For deployments whose polling agent cannot write resctrl groups itself
(kolla's ceilometer_compute has no host PID namespace, OpenStack-Ansible's
agent is not root): this runs as root on the host (etc/systemd/
ceilometer-perf-resctrl-sync.service) and keeps one monitoring group per
running domain with the very reconcile the agent would run; the agent
reads the groups.  Domains come from a read-only libvirt connection; one
whose XML has libvirt <monitor>s is left to libvirt.
"""

import os
import re
import signal
import threading

from ceilometer_perf import reader
from ceilometer_perf.resctrl import privileged
from ceilometer_perf.resctrl import reconcile

MONITOR_RE = re.compile(r'<(cachetune|memorytune)\b[^>]*>(?:(?!</\1>).)*'
                        r'<monitor\b', re.S)


class Domains:
    """Running domains: (uuid, name, has libvirt monitors).

    The XML is read once per domain boot (uuid, domain id).
    """

    def __init__(self, connection):
        self.connection = connection
        self._monitors = {}

    def running(self):
        domains = self.connection.call(lambda c: c.listAllDomains(1))
        out, seen = [], set()
        for dom in domains:
            try:
                boot = (dom.UUIDString(), dom.ID())
                if boot not in self._monitors:
                    self._monitors[boot] = bool(MONITOR_RE.search(
                        dom.XMLDesc(0)))
                out.append((boot[0], dom.name(), self._monitors[boot]))
                seen.add(boot)
            except Exception:  # noqa: S112 - gone while we looked
                continue
        for boot in set(self._monitors) - seen:
            del self._monitors[boot]
        return out


def summary(result):
    if result['problem']:
        return 'resctrl-sync: %s: %s' % (result['problem'], result['detail'])
    c, r = result['counts'], result['rmids']
    text = ('resctrl-sync: %d instance(s) monitored; %d created, %d '
            'removed, %d thread(s) written; RMIDs %s used of %s (ours %d, '
            'reserve %d)' % (len(result['groups']), c['created'],
                             c['removed'], c['written'], r['used'],
                             r['total'], r['ours'], r['reserve']))
    reasons = {}
    for uuid, (reason, detail) in sorted(result['reasons'].items()):
        reasons.setdefault(reason, (detail, []))[1].append(uuid)
    for reason, (detail, uuids) in sorted(reasons.items()):
        text += '\n  %d not monitored, %s: %s (%s)' % (
            len(uuids), reason, detail, ', '.join(uuids[:3]) +
            (', ...' if len(uuids) > 3 else ''))
    return text


def run(conf, settings, out, loop=False, interval=15.0, stop=None):
    """One reconcile, or one every interval seconds until stopped.

    Returns the last result.  Refuses to run where it cannot work: not
    root, or not in the host's PID namespace.
    """
    if os.geteuid() != 0:
        raise PermissionError('resctrl-sync must run as root (writing a '
                              'thread into resctrl tasks needs euid 0)')
    if not privileged.in_host_pid_namespace():
        raise PermissionError('resctrl-sync must run in the host\'s PID '
                              'namespace (thread ids are resolved in the '
                              'writer\'s namespace); in a container use '
                              'pid_mode: host')
    stop = stop or threading.Event()
    if loop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *a: stop.set())
    domains = Domains(reader.Connection(reader.libvirt_uri(conf)))
    monitored = set()
    last_text = None
    result = None
    while True:
        try:
            running = domains.running()
        except reader.HypervisorUnavailable as exc:
            result = {'problem': 'libvirt', 'detail': str(exc)}
            running = None
        if running is not None:
            result = reconcile.run({
                'root': settings['resctrl_root'],
                'threads': settings['resctrl_threads'],
                'reserve': settings['resctrl_rmid_reserve'],
                'monitored': sorted(monitored),
                'instances': running})
            if not result['problem']:
                uuids = {u for u, _, _ in running}
                monitored = set(result['groups']) | (monitored & uuids)
        text = (summary(result) if running is not None
                else 'resctrl-sync: %s' % result['detail'])
        if text != last_text or not loop:
            # --loop says what changed, not the same line every cycle.
            out.write(text + '\n')
            out.flush()
        last_text = text
        if not loop or stop.wait(interval):
            return result

