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

"""Every reason has its hint, and every hint formats with what it gets."""

import logging

from ceilometer_perf import catalogue
from ceilometer_perf import hints
from ceilometer_perf import missing
from ceilometer_perf import notices
from tools import fakelibvirt

REASONS = [getattr(missing, n) for n in dir(missing)
           if n.isupper() and isinstance(getattr(missing, n), str)]


class _Log:
    def __init__(self):
        self.lines = []

    def isEnabledFor(self, level):
        return True

    def log(self, level, msg, *args):
        # As logging does: one mapping argument fills %(name)s fields.
        if len(args) == 1 and isinstance(args[0], dict):
            args = args[0]
        self.lines.append((level, msg % args if args else msg))


def _reporter():
    log = _Log()
    reporter = hints.Reporter(notices.Notices(log), log, lazy_fields={
        'host_resctrl': lambda: 'no resctrl here',
        'monitored_meters': lambda: 'cpu_l3_cache'})
    return reporter, log


def test_every_reason_has_a_hint_entry():
    assert len(REASONS) >= 9
    assert set(REASONS) == set(hints.HINTS)


def test_every_hint_formats_and_is_logged_as_often_as_it_says():
    instances = [fakelibvirt.instance('u-%d' % i) for i in range(3)]
    meter = catalogue.BY_NAME['cpu_l3_cache']
    for reason, hint in hints.HINTS.items():
        reporter, log = _reporter()
        for instance in instances:
            reporter.missing(missing.Missing(reason, 'cmt', 'why'), meter,
                             instance)
        if hint is None:
            assert log.lines == [], reason
            continue
        expected = 3 if hint.once is hints.EVERY_TIME else 1
        assert len(log.lines) == expected, reason
        level, text = log.lines[0]
        assert level == hint.level and '%(' not in text, reason
        assert 'u-0' in text, reason


def test_per_event_hints_are_logged_once_per_event():
    reporter, log = _reporter()
    instance = fakelibvirt.instance('u-1')
    for event in ('cpu_cycles', 'cpu_cycles', 'instructions'):
        meter = catalogue.BY_NAME['perf.event.' + event]
        reporter.missing(missing.Missing(missing.EVENT_NOT_COUNTED, event),
                         meter, instance)
    assert [lvl for lvl, _ in log.lines] == [logging.WARNING] * 2
    assert 'nova.conf' in log.lines[0][1]


def test_every_message_formats():
    reporter, log = _reporter()
    for name, message in hints.MESSAGES.items():
        args = ('a',) * message.text.count('%s')
        assert reporter.say(name, *args)
        assert log.lines[-1] == (message.level, message.text % args)
