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

"""Every source file carries the Apache license header setup.cfg declares."""

import configparser
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NOTICE = 'Licensed under the Apache License, Version 2.0'
SCRIPTS = ('tools/sync-catalogue', '.ci/run', 'devstack/plugin.sh',
           'devstack/settings')


def source_files():
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    return [f for f in files if f.endswith(('.py', '.sh')) or f in SCRIPTS]


def test_setup_cfg_declares_apache():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    assert parser.get('metadata', 'license') == 'Apache-2.0'
    with open(os.path.join(ROOT, 'LICENSE')) as f:
        assert 'Apache License' in f.read(200)


def test_every_source_file_has_the_header():
    files = source_files()
    assert 'ceilometer_perf/pollsters.py' in files and len(files) > 50
    lacking = []
    for name in files:
        with open(os.path.join(ROOT, name)) as f:
            head = f.read(400)
        if NOTICE not in head:
            lacking.append(name)
    assert lacking == []
