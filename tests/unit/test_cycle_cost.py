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

"""Work meant to be done once per host is not done per instance and meter.

tools/bench found the host probe of the "no resctrl monitor" hint (three
/proc files read and parsed) running for every instance, meter and cycle,
though the line is logged once: ten times the cost of the bulk read.
"""

import logging

from ceilometer_perf.resctrl import host as resctrl_host
from tests.unit import fakes
from tests.unit.conftest import poll

NO_MONITORS = 'real-tcg-guests-no-resctrl-monitors.json'
FALLBACK_METERS = ('cpu_l3_cache', 'memory.bandwidth.total',
                   'memory.bandwidth.local')


def test_host_probe_runs_once_however_many_instances(make_host, monkeypatch,
                                                     caplog):
    entries = fakes.load(NO_MONITORS)
    host = make_host(entries)
    instances = fakes.instances_for(entries)
    probes = []
    real = resctrl_host.host_support

    def counting(*args, **kwargs):
        probes.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(resctrl_host, "host_support", counting)
    with caplog.at_level(logging.WARNING, logger='ceilometer_perf'):
        for _ in range(3):
            cache = {}
            for name in FALLBACK_METERS:
                assert poll(host, name, instances, cache) == []
    assert len(instances) == 3
    assert len(probes) == 1
    hints = [r for r in caplog.records if 'resctrl' in r.getMessage()]
    assert len(hints) == 1
