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

"""Every operator message of the agent, as data keyed by reason.

Per-instance reasons (ceilometer_perf/missing.py) map to a Hint: its log
level, how often it is logged (once per host and process, per event, per
meter, or every time for DEBUG lines), and its text.  Host conditions
(libvirt gone, a stuck QEMU, bad configuration) are MESSAGES.  The code
that detects a condition never spells its message; the texts can be
read, reviewed and translated in one place.
"""

import logging
import typing

from ceilometer_perf import catalogue
from ceilometer_perf import missing


# How often a hint is logged: once per host and process, once per perf
# event, once per meter, or every time (DEBUG lines only).
ONCE = 'once'
PER_EVENT = 'event'
PER_METER = 'meter'
EVERY_TIME = None


class Hint(typing.NamedTuple):
    level: int
    once: str
    text: str


# nova-compute reads [libvirt] enabled_perf_events only when it starts, and
# writes the <perf> list of an instance when it (re)builds its domain XML:
# at boot and at a hard reboot, not at a soft one.
NOVA_RESTART = ('then restart nova-compute (it reads the option only when '
                'it starts) and hard reboot the running instances')

# How to get a perf event counted, by its event class.
ENABLE_EVENT = {
    catalogue.HARDWARE: 'it needs a hardware PMU on the host and the event '
                        'in nova.conf [libvirt] enabled_perf_events; '
                        + NOVA_RESTART,
    catalogue.SOFTWARE: 'add it to nova.conf [libvirt] enabled_perf_events; '
                        + NOVA_RESTART,
    # nova drops cmt, mbmt and mbml from enabled_perf_events on every
    # kernel: never tell an operator to add them there.
    catalogue.RDT: 'nova never enables it (it drops cmt, mbmt and mbml '
                   'from enabled_perf_events, and kernels from 4.14 on '
                   'have no such perf event): cache and memory bandwidth '
                   'come from resctrl monitors instead',
}

HINTS = {
    missing.EVENT_NOT_COUNTED: Hint(
        logging.WARNING, PER_EVENT,
        'ceilometer-perf: perf event %(event)s is not counted for instance '
        '%(instance)s (and maybe others), so %(meter)s has no sample for '
        'it: %(enable)s. Logged once.'),
    missing.NO_MONITOR: Hint(
        logging.WARNING, ONCE,
        'ceilometer-perf: instance %(instance)s (and maybe others) has '
        'neither the perf %(event)s event nor a resctrl %(feature)s '
        'monitor, so %(meter)s has no sample for it. nova does not '
        'configure resctrl monitors: add <monitor> elements to the '
        '<cachetune> (cache) and <memorytune> (memory bandwidth) of the '
        'domain\'s <cputune>, see "Cache and memory bandwidth monitors" '
        'in the ceilometer-perf docs. This host: %(host_resctrl)s. Logged '
        'once for %(monitored_meters)s.'),
    missing.MONITOR_INCOMPLETE: Hint(
        logging.WARNING, ONCE,
        'ceilometer-perf: the resctrl monitor stats libvirt returned for '
        'instance %(instance)s are incomplete (%(detail)s), so %(meter)s '
        'has no sample for it this cycle. Logged once.'),
    missing.NO_BASELINE: Hint(
        logging.DEBUG, EVERY_TIME,
        '%(meter)s: no earlier reading of this boot of %(instance)s to take '
        'a rate from (first poll, or after a reset); a value from the next '
        'poll on'),
    missing.COUNTER_RESET: Hint(
        logging.DEBUG, EVERY_TIME,
        'ceilometer-perf: no %(meter)s for %(instance)s this cycle: '
        '%(detail)s'),
    missing.NOT_BELIEVABLE: None,
    missing.CPU_STATS_SKIPPED: None,
    missing.CPU_TIME_INCONSISTENT: Hint(
        logging.WARNING, PER_METER,
        'ceilometer-perf: cpu.time of instance %(instance)s is below the '
        'time of its vCPUs (%(detail)s ns); no %(meter)s sample while it '
        'is. Logged once.'),
    missing.NO_DOMAIN_XML: Hint(
        logging.DEBUG, EVERY_TIME,
        'no XML for instance %(instance)s: %(detail)s'),
}


class Message(typing.NamedTuple):
    level: int
    once: bool
    text: str


MESSAGES = {
    'bad-config': Message(
        logging.ERROR, False, 'ceilometer-perf: bad configuration: %s'),
    'polling-definition': Message(logging.ERROR, False, 'ceilometer-perf: %s'),
    'unavailable': Message(
        logging.ERROR, True,
        'ceilometer-perf: %s; no perf samples until it is back'),
    'reachable-again': Message(
        logging.INFO, False,
        'ceilometer-perf: libvirt at %s is reachable again'),
    'read-error': Message(
        logging.ERROR, True,
        'ceilometer-perf: bulk libvirt stats read failed: %s'),
    'stalled-unknown': Message(
        logging.WARNING, True,
        'ceilometer-perf: a CPU stats read has waited over %s s and no '
        'instance shows which QEMU it waits for; samples of this task come '
        'from a read that does not wait. Logged once.'),
    'stalled': Message(
        logging.WARNING, False,
        'ceilometer-perf: instance %s (domain %s) is stuck: a stats read '
        'has waited over %s s for its QEMU, which does not answer. Polling '
        'goes on without waiting for it; its %s are skipped until it '
        'answers. Logged once.'),
    'answers-again': Message(
        logging.INFO, False,
        'ceilometer-perf: instance %s (domain %s) answers again: its stats '
        'are read whole'),
}


class Reporter:
    """Logs the hint of a Missing value, once per condition and host.

    lazy_fields: {field: function} for fields worth computing only when
    the line is logged (the host's resctrl probe reads /proc files).
    """

    def __init__(self, notices, log, lazy_fields=None):
        self.notices = notices
        self._log = log
        self._lazy = lazy_fields or {}

    def missing(self, result, meter, instance):
        hint = HINTS[result.reason]
        if hint is None:
            return
        once = hint.once
        if once is EVERY_TIME:
            if self._log.isEnabledFor(hint.level):
                self._log.log(hint.level, hint.text,
                              self._fields(result, meter, instance, hint))
            return
        # Every cycle for every such instance: stay cheap until logging.
        if once == PER_EVENT:
            key = (result.reason, result.event or meter.event)
        elif once == PER_METER:
            key = (result.reason, meter.name)
        else:
            key = result.reason
        if self.notices.seen(key):
            return
        self.notices.once(key, hint.level, hint.text,
                          self._fields(result, meter, instance, hint))

    def _fields(self, result, meter, instance, hint):
        event = result.event or meter.event
        fields = {'instance': instance.id, 'meter': meter.name,
                  'event': event, 'detail': result.detail,
                  'feature': meter.fallback,
                  'enable': ENABLE_EVENT.get(
                      catalogue.EVENT_CLASS.get(event), '')}
        for name, compute in self._lazy.items():
            if '%%(%s)' % name in hint.text:
                fields[name] = compute()
        return fields

    def say(self, name, *args, key=None):
        """Log a host MESSAGE; a `once` one only the first time (per key)."""
        message = MESSAGES[name]
        if message.once:
            return self.notices.once(key or name, message.level,
                                     message.text, *args)
        self._log.log(message.level, message.text, *args)
        return True
