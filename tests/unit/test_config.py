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

"""Bad configuration: reported clearly, never costs the agent its meters."""

import logging

import pytest

from ceilometer_perf import state
from ceilometer_perf import opts
from ceilometer_perf import plan
from ceilometer_perf.ops import polling_yaml
from tests.unit import fakes
from tests.unit.conftest import poll


def _conf(conf, tmp_path, text):
    """The agent's configuration, read again from a file with text.

    (Not a new prepare_service: its logging setup would take pytest's
    log capture away.)
    """
    path = tmp_path / 'ceilometer.conf'
    path.write_text(text)
    conf(['--config-file', str(path)], project='ceilometer',
         validate_default_values=True)
    return conf, str(path)


@pytest.mark.parametrize('text, values, said', [
    ('', {'stats_nowait': True, 'stats_timeout': 10.0}, []),
    ('stats_nowait = false\nstats_timeout = 2.5\n',
     {'stats_nowait': False, 'stats_timeout': 2.5}, []),
    ('stats_nowait = maybe\n', {'stats_nowait': True},
     ["stats_nowait: Value for option stats_nowait in {path} is not valid: "
      "Unexpected boolean value 'maybe'; using the default, True"]),
    ('stats_timeout = -1\n', {'stats_timeout': 10.0},
     ['stats_timeout', 'greater than or equal to 0', 'the default, 10.0']),
    ('stats_timeout = soon\n', {'stats_timeout': 10.0}, ['soon']),
    ('stats_timout = 3\n', {'stats_timeout': 10.0},
     ['unknown option [ceilometer_perf] stats_timout in {path}; the options '
      'are: resctrl_manage_groups, resctrl_rmid_reserve, resctrl_root, '
      'resctrl_threads, stats_nowait, stats_timeout']),
    ('resctrl_threads = some\n', {'resctrl_threads': 'vcpus'},
     ['resctrl_threads', 'the default, vcpus']),
    ('resctrl_rmid_reserve = -1\n', {'resctrl_rmid_reserve': 8},
     ['resctrl_rmid_reserve', 'the default, 8']),
])
def test_options_bad_values_fall_back_to_defaults(conf, tmp_path, text,
                                                  values, said):
    conf, path = _conf(conf, tmp_path, '[ceilometer_perf]\n' + text)
    got, problems = opts.read(conf)
    for name, value in values.items():
        assert got[name] == value
    assert bool(problems) == bool(said)
    text = ' '.join(problems)
    for fragment in said:
        assert fragment.format(path=path) in text
    assert 'LocationInfo' not in text


def test_agent_with_bad_options_logs_and_still_polls(conf, tmp_path,
                                                     caplog):
    conf, path = _conf(conf, tmp_path,
                       '[ceilometer_perf]\nstats_nowait = maybe\n'
                       'stats_timout = 3\n')
    entries = fakes.load('real-tcg-guests-perf-state.json')
    fake = fakes.FakeConnection(entries)
    with caplog.at_level(logging.INFO, logger='ceilometer_perf'):
        host = state.HostState(conf, opener=lambda uri: fake)
        got = poll(host, 'perf.event.cpu_clock', fakes.instances_for(entries))
    assert len(got) == 3
    # (poll() builds a pollster, which says it again for its own host.)
    errors = {r.getMessage() for r in caplog.records
              if r.levelno == logging.ERROR}
    assert len(errors) == 2
    assert all(e.startswith('ceilometer-perf: bad configuration: ')
               for e in errors)
    assert host.reader.nowait is True


INSTALLED = {'perf.event.cpu_cycles', 'perf.event.cpu_clock', 'perf.vpmu',
             'cpu_l3_cache', 'memory.usage', 'cpu', 'perf.cpu.cycles',
             'disk.device.read.bytes'}


@pytest.mark.parametrize('entries, said', [
    (['perf.event.cpu_cycles', 'perf.vpmu', 'cpu_l3_cache'], []),
    (['perf.event.*', '!perf.vpmu', '*', 'memory.usage'], []),
    # Not ours to judge: another plugin's or a dynamic pollster's meter.
    (['network.incoming.bytes', 'hardware.*', 'my.custom'], []),
    (['perf.event.cpu_cyles'],
     ["polling source 's': no installed pollster provides meter "
      "'perf.event.cpu_cyles' (did you mean 'perf.event.cpu_cycles'?); "
      'Ceilometer ignores it without a word']),
    (['!perf.vpnu'], ["meter 'perf.vpnu' (did you mean 'perf.vpmu'?)"]),
    (['cpu_l3_cahce'], ["'cpu_l3_cahce' (did you mean 'cpu_l3_cache'?)"]),
    (['perf.evnt.*'],
     ["polling source 's': pattern 'perf.evnt.*' matches no installed "
      'meter']),
    (['memory.bandwidth.total'],
     ["no installed pollster provides meter 'memory.bandwidth.total'"]),
])
def test_polling_problems(entries, said):
    problems = plan.polling_problems([('s', entries)], INSTALLED)
    assert len(problems) == len(said)
    for problem, fragment in zip(problems, said, strict=True):
        assert fragment in problem


def test_polling_file_problems(tmp_path):
    path = tmp_path / 'polling.yaml'
    path.write_text('sources:\n  - name: perf\n    interval: 60\n'
                    '    meters: [perf.event.cpu_clock, '
                    'perf.event.cpuclock]\n')
    problems = polling_yaml.polling_file_problems(str(path))
    assert problems == [
        "polling source 'perf': no installed pollster provides meter "
        "'perf.event.cpuclock' (did you mean 'perf.event.cpu_clock'?); "
        'Ceilometer ignores it without a word']
    path.write_text('sources: [')
    assert polling_yaml.polling_file_problems(str(path))[0].startswith(
        'cannot read the polling definition %s' % path)


def test_shipped_polling_yaml_has_no_problem():
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    assert polling_yaml.polling_file_problems(
        os.path.join(root, 'etc', 'ceilometer', 'polling.yaml')) == []
