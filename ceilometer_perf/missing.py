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

"""Why an instance has no value of a meter in a cycle: one type, named.

A value kind returns a Missing instead of a value; the pollster hands it
to the reporter, which logs the operator hint keyed by its reason
(ceilometer_perf/hints.py) once per host, or not at all.  Nothing is
ever sent as a zero.
"""

# The instance's record lacks the perf event's key: not enabled for it.
EVENT_NOT_COUNTED = 'event-not-counted'
# Neither the perf RDT event nor a resctrl monitor of the feature.
NO_MONITOR = 'no-monitor'
# libvirt announced monitors, banks or nodes the record does not carry.
MONITOR_INCOMPLETE = 'monitor-incomplete'
# A rate needs an earlier reading of the same boot: first poll, or the
# previous one could not be trusted.
NO_BASELINE = 'no-baseline'
# The counters reset since the previous poll (detail says how).
COUNTER_RESET = 'counter-reset'
# Nothing to divide by, or a ratio the hardware cannot produce.
NOT_BELIEVABLE = 'not-believable'
# The read went on without the domain's CPU stats (NOWAIT, busy domain).
CPU_STATS_SKIPPED = 'cpu-stats-skipped'
# cpu.time below the vCPUs' time by more than the tick jitter.
CPU_TIME_INCONSISTENT = 'cpu-time-inconsistent'
# The domain XML could not be read (the domain went away meanwhile).
NO_DOMAIN_XML = 'no-domain-xml'

# Our resctrl monitoring groups (ceilometer_perf/resctrl/): no free RMID
# for the instance's group (pool exhausted, or only the reserve left).
RESCTRL_NO_RMID = 'resctrl-no-rmid'
# No free RMID now, but freed ones are still in limbo (mkdir: EBUSY).
RESCTRL_LIMBO = 'resctrl-limbo'
# The instance's QEMU or its vCPU threads could not be found or trusted.
RESCTRL_NO_THREADS = 'resctrl-no-threads'
# Its threads are in other tools' monitoring groups (left alone).
RESCTRL_FOREIGN = 'resctrl-foreign'
# Its group vanished between the reconcile and the read.
RESCTRL_GROUP_GONE = 'resctrl-group-gone'
# A counter read Unavailable, Unassigned or Error.
RESCTRL_VALUE_UNAVAILABLE = 'resctrl-value-unavailable'
# Any other kernel refusal (detail says which).
RESCTRL_ERROR = 'resctrl-error'


class Missing:
    """No value, and why: a reason above, the event, the detail."""

    __slots__ = ('reason', 'event', 'detail')

    def __init__(self, reason, event=None, detail=''):
        self.reason = reason
        self.event = event
        self.detail = detail

    def __eq__(self, other):
        return (isinstance(other, Missing) and
                (self.reason, self.event, self.detail) ==
                (other.reason, other.event, other.detail))

    def __hash__(self):
        return hash((self.reason, self.event, self.detail))

    def __repr__(self):
        return 'Missing(%r, event=%r, detail=%r)' % (
            self.reason, self.event, self.detail)
