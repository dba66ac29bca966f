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

"""Both merges (polling.yaml, gnocchi_resources.yaml) through one writer.

Each case runs the real subcommand on an operator's file with comments,
a 0640 mode and (as root) another owner, and checks what an operator
would: their lines are all still there, the file keeps its mode and
owner, a backup holds the original, a second run changes nothing.
"""

import difflib
import os
import stat

import pytest
import yaml

from ceilometer_perf import catalogue
from ceilometer_perf.cmd import cli
from ceilometer_perf.ops import polling_yaml
from ceilometer_perf.ops import yamlfile

POLLING = """\
---
# Site polling: keep this comment.
sources:
    # Nova's basics, every five minutes.
    - name: some_pollsters
      interval: 300
      meters:
        - cpu
        - memory.usage   # the one billing reads
    - name: perf_vpmu    # ours, slowed down on purpose
      interval: 1200
      meters:
        - perf.vpmu
"""

GNOCCHI = """\
# Site mapping: keep this comment.
archive_policy_default: ceilometer-low
resources:
  - resource_type: instance
    metrics:
      cpu:   # billing
        archive_policy_name: ceilometer-low
    attributes:
      display_name: resource_metadata.display_name
"""


def _polling_merged(text):
    by_name = {s['name']: s for s in yaml.safe_load(text)['sources']}
    assert by_name['perf_vpmu']['interval'] == 1200
    assert by_name['some_pollsters']['meters'] == ['cpu', 'memory.usage']
    ours = {s['name']: s for s in polling_yaml.polling_sources()}
    assert by_name['perf_counters'] == ours['perf_counters']
    return set(by_name) == set(ours) | {'some_pollsters'}


def _gnocchi_merged(text):
    [instance] = yaml.safe_load(text)['resources']
    assert instance['metrics']['cpu'] == {
        'archive_policy_name': 'ceilometer-low'}
    return set(instance['metrics']) == {m.name for m in
                                        catalogue.METERS} | {'cpu'}


MERGES = {
    'polling': (['merge-polling'], POLLING, _polling_merged),
    'gnocchi': (['gnocchi', 'merge'], GNOCCHI, _gnocchi_merged),
}


@pytest.fixture(params=sorted(MERGES))
def merge(request, tmp_path, capsys):
    """(run(*options) -> (exit code, output), path, original, merged?)."""
    command, original, merged = MERGES[request.param]
    path = tmp_path / 'operator.yaml'
    path.write_text(original)

    def run(*options):
        code = cli.main(command + list(options) + [str(path)])
        return code, capsys.readouterr()
    return run, path, original, merged


def _others(path):
    """Every file beside `path`: backups, and temporary files left."""
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def _diff(before, after, sign):
    """The lines a line-by-line comparison finds added ('+') or removed
    ('-')."""
    return [line[2:] for line in difflib.ndiff(before.splitlines(),
                                                after.splitlines())
            if line.startswith(sign + ' ')]


def _only_added(before, after):
    """The merge only added lines: every line of theirs is still there."""
    return _diff(before, after, '-') == []


def test_both_merges_use_the_one_writer(merge, monkeypatch):
    run, path, original, _merged = merge
    calls = []
    real = yamlfile.write

    def write(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(yamlfile, 'write', write)
    assert run()[0] == 0
    assert calls == [str(path)]


def test_comments_mode_and_backup_survive(merge):
    run, path, original, merged = merge
    os.chmod(path, 0o640)
    code, out = run()
    assert code == 0
    text = path.read_text()
    assert merged(text)
    assert _only_added(original, text)
    assert 'keep this comment' in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    [backup] = _others(path)
    assert backup.startswith('operator.yaml.') and backup.endswith('.bak')
    backup = path.parent / backup
    assert backup.read_text() == original
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o640
    assert 'backup of the previous file: %s' % backup in out.out


@pytest.mark.skipif(os.geteuid() != 0, reason='chown needs root')
def test_owner_survives(merge):
    run, path, original, merged = merge
    os.chown(path, 4242, 4343)
    assert run()[0] == 0
    assert merged(path.read_text())
    for p in [path] + [path.parent / n for n in _others(path)]:
        st = os.stat(p)
        assert (st.st_uid, st.st_gid) == (4242, 4343), p


# What breaks -> (the os function that fails, its error, the message).
FAILURES = {
    'owner-not-kept': ('chown', PermissionError(1, 'Operation not '
                                                'permitted'),
                       'cannot keep its owner'),
    'disk-full': ('fsync', OSError(28, 'No space left on device'),
                  'No space left on device'),
    'rename-refused': ('replace', OSError(1, 'Operation not permitted'),
                       'Operation not permitted'),
}


@pytest.mark.parametrize('failure', sorted(FAILURES))
def test_a_failed_merge_changes_nothing_and_leaves_no_debris(
        failure, merge, monkeypatch):
    run, path, original, _merged = merge
    function, error, message = FAILURES[failure]
    if function == 'chown':
        if os.geteuid() != 0:
            pytest.skip('chown needs root')
        os.chown(path, os.getuid() + 1, os.getgid())

    def fail(*args):
        raise error
    monkeypatch.setattr(os, function, fail)
    code, out = run()
    assert code == 2
    assert message in out.err
    assert path.read_text() == original
    assert _others(path) == []


def test_idempotent(merge):
    run, path, _original, _merged = merge
    assert run()[0] == 0
    merged_text = path.read_text()
    before = os.stat(path)
    code, out = run()
    assert code == 0
    assert path.read_text() == merged_text
    assert os.stat(path).st_ino == before.st_ino
    assert len(_others(path)) == 1
    assert 'added' not in out.out


def test_check_and_diff(merge):
    run, path, original, _merged = merge
    code, out = run('--check', '--diff')
    assert code == 1
    assert path.read_text() == original and _others(path) == []
    diff = out.out.splitlines()
    assert diff[:2] == ['--- %s' % path, '+++ %s (merged)' % path]
    diff_added = [line[1:] for line in diff[2:] if line.startswith('+')]
    assert not [line for line in diff[2:] if line.startswith('-')]
    assert run('--no-backup')[0] == 0
    assert _others(path) == []
    assert diff_added == _diff(original, path.read_text(), '+')
    code, out = run('--check', '--diff')
    assert code == 0 and '+++' not in out.out


def test_through_a_symlink(merge):
    run, path, original, merged = merge
    real = path.parent / 'real.yaml'
    os.replace(path, real)
    path.symlink_to(real.name)
    assert run()[0] == 0
    assert path.is_symlink()
    assert merged(real.read_text())


def test_missing_polling_file_gets_just_our_sources(tmp_path, capsys):
    path = tmp_path / 'polling.yaml'
    assert cli.main(['merge-polling', '--check', str(path)]) == 1
    assert not path.exists()
    assert cli.main(['merge-polling', str(path)]) == 0
    assert 'created with source(s) perf_counters' in capsys.readouterr().out
    assert yaml.safe_load(path.read_text()) == {
        'sources': polling_yaml.polling_sources()}
    assert stat.S_IMODE(os.stat(path).st_mode) == yamlfile.NEW_FILE_MODE
    assert _others(path) == []


@pytest.mark.parametrize('command', [['merge-polling'],
                                     ['gnocchi', 'merge']])
def test_unknown_option_is_an_error(command, tmp_path, capsys):
    path = tmp_path / 'x.yaml'
    with pytest.raises(SystemExit) as exc:
        cli.main(command + ['--config-file=x', str(path)])
    assert exc.value.code == 2
    assert 'unrecognized arguments' in capsys.readouterr().err
    assert not path.exists()


@pytest.mark.parametrize('text,problem', [
    ('sources: [unclosed\n', 'not valid YAML'),
    ('- a list\n', 'the top level is not a mapping'),
])
def test_broken_files_are_left_alone(text, problem, tmp_path, capsys):
    for command in (['merge-polling'], ['gnocchi', 'merge']):
        path = tmp_path / 'x.yaml'
        path.write_text(text)
        assert cli.main(command + [str(path)]) == 2
        assert problem in capsys.readouterr().err
        assert path.read_text() == text
        assert _others(path) == []


def test_backup_names_never_clash(tmp_path):
    path = tmp_path / 'f.yaml'
    first = yamlfile.backup_path(str(path))
    open(first, 'w').close()
    second = yamlfile.backup_path(str(path))
    assert second != first and second.endswith('-1.bak')
