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

"""Run a command again in the project's venv when a bare python3 started it.

The venv is $CEILOMETER_PERF_VENV, else .venv at the top of the tree (where
tools/install.sh makes it).  Only the standard library is imported here:
this runs before anything the venv holds can be.
"""

import importlib
import os
import subprocess
import sys

from tools import ROOT

# Set in the environment of the re-run, so that it does not loop.
GUARD = 'CEILOMETER_PERF_REEXEC'


def venv_python():
    venv = os.environ.get('CEILOMETER_PERF_VENV', os.path.join(ROOT, '.venv'))
    return os.path.join(venv, 'bin', 'python')


def reexec(modules, install=False):
    """Return if all `modules` import; else re-run this command in the venv.

    With install, first run tools/install.sh (idempotent, as the demo and
    the tests run it): a newcomer's first run.  Without, a venv that is
    not there is an error.  Exits when the venv lacks the modules too.
    """
    try:
        for name in modules:
            importlib.import_module(name)
        return
    except ImportError as exc:
        missing = exc.name
    python = venv_python()
    command = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    if os.environ.get(GUARD) != '1':
        if install:
            subprocess.run([os.path.join(ROOT, 'tools', 'install.sh')],
                           check=True)
        if os.path.exists(python):
            os.environ[GUARD] = '1'
            os.execv(python,  # noqa: S606 - the project venv's python
                     [python, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    sys.exit('%s needs %s in %s: run tools/install.sh' % (
        command, missing, os.path.dirname(os.path.dirname(python))))
