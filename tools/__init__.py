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
