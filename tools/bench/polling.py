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

"""The polling tasks a cycle runs: the shipped polling.yaml's sources."""

import os
import sys

import yaml

from ceilometer_perf import catalogue
from tools import ROOT

OURS = [m.name for m in catalogue.METERS]


def shipped_sources():
    """The polling sources of etc/ceilometer/polling.yaml (the catalogue's).

    Ceilometer runs one polling task per interval; the plugin makes one
    bulk call per task, for the stats groups of that task's meters.
    """
    with open(os.path.join(ROOT, 'etc', 'ceilometer', 'polling.yaml')) as f:
        sources = yaml.safe_load(f)['sources']
    polled = {m for s in sources for m in s['meters']}
    if polled != set(OURS):
        sys.exit('etc/ceilometer/polling.yaml does not poll every meter of '
                 'the catalogue: run tools/sync-catalogue')
    return sources


def poll_directly(objects, manager, instances, hold=False):
    """One cycle of the given pollsters, the way a polling task runs them.

    Each sample is dropped as it comes, as the agent publishes it; with
    hold, each pollster's samples are kept until it is done (the way this
    plugin returned them before it made them lazily).
    """
    cache = {}
    made = 0
    for obj in objects:
        if hold:
            made += len(list(obj.get_samples(manager, cache, instances)))
            continue
        for _ in obj.get_samples(manager, cache, instances):
            made += 1
    return made


def poll_tasks(tasks, manager, instances, hold=False):
    """One cycle of each polling task: [(pollster objects)], one cache each."""
    return sum(poll_directly(objects, manager, instances, hold)
               for objects in tasks)
