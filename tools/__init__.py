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

"""The project's tools, importable by one another and by the tests.

Modules here serve the benchmark, the demo and the tests alike:
localguests (TCG guests that look like nova instances), fakelibvirt (a
libvirt connection serving recorded stats records), libvirtcalls
(counting libvirt API calls) and venvexec (running a command again in the
project's venv).  tools/bench is the benchmark (`python3 tools/bench`).
The plugin (ceilometer_perf) never imports anything from here.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
