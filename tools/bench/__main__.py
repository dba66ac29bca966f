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

"""`python3 tools/bench [options]`: the benchmark's command line.

Python runs this file for the directory (as for `python3 -m tools.bench`
from the top of the tree).  The project's root goes first on sys.path, in
place of tools/bench itself, so that the benchmark's modules import as
the package tools.bench; then, started with a bare python3, the command
re-runs itself in the project's venv.
"""

import os
import sys
import warnings

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
sys.path[:] = [_ROOT] + [p for p in sys.path
                         if os.path.abspath(p or os.curdir) != _HERE]

from tools import venvexec  # noqa: E402

venvexec.reexec(('ceilometer', 'libvirt'), install=True)
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

from tools.bench import cli  # noqa: E402

sys.exit(cli.main())
