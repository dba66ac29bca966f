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

"""tools/bench keeps working: its simulated part, on a few domains."""

import logging

import pytest

from ceilometer_perf import catalogue
from tools.bench import cli
from tools.bench import polling
from tools.bench import simulated


@pytest.fixture
def quiet_loggers_restored():
    """main() quiets some loggers; give the next tests theirs back."""
    names = ('ceilometer', 'ceilometer_perf', 'stevedore')
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_simulated_cycle_polls_every_meter_one_call_per_task(conf):
    sources = polling.shipped_sources()
    manager = simulated.simulated_manager(conf, sources)
    result = simulated.measure_simulated(conf, manager, sources, 12,
                                         cycles=1, baseline=True)
    assert result['samples'] == 12 * len(catalogue.METERS)
    assert result['calls'] == len({s['interval'] for s in sources})
    assert result['before'] is not None and result['peak'] > 0


def test_command_prints_the_simulated_table(capsys, quiet_loggers_restored):
    assert cli.main(['--simulated', '5,10', '--cycles', '1']) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()
            if line.split()[:1] in (['5'], ['10'])]
    # The first table: samples last.
    assert [r[-1] for r in rows if len(r) > 10 and r[1] != 'whole'] == [
        str(5 * len(catalogue.METERS)), str(10 * len(catalogue.METERS))]
    # The discoveries side by side: both discovery rows and the cycles.
    assert [r[1:3] for r in rows
            if r[0] == '10' and r[1] in ('discovery', 'whole')] == [
        ['discovery', 'alone'], ['whole', 'agent']]


def test_both_discoveries_agree_on_simulated_domains(conf):
    sources = polling.shipped_sources()
    manager = simulated.simulated_manager(conf, sources)
    result = simulated.measure_discoveries(conf, manager, sources, 20,
                                           cycles=1)
    # (Derived meters need a second reading: not in this first one.)
    assert result['samples'] >= 20 * (len(catalogue.METERS) - 4)
    assert result['discovery-cached'][0] > 0


def test_soak_prints_memory_and_bounded_caches(capsys):
    rows = simulated.run_soak(20, cycles=30, every=10)
    assert [r[0] for r in rows] == [1, 10, 20, 30]
    out = capsys.readouterr().out
    assert 'caches: discovery=20' in out
    assert 'no cache grew' in out


def test_resctrl_cost_measures_the_products_reconcile_and_read(capsys):
    from tools.bench import resctrl
    (steady, read), first = resctrl.measure_count(4, cycles=1)
    # steady() and read() assert themselves that nothing was written and
    # every instance kept its group; the first cycle created 4.
    assert steady[0] > 0 and read[0] > 0 and first > 0
    resctrl.run_resctrl([2], 1)
    assert 'steady cycle' in capsys.readouterr().out
