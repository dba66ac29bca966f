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

"""What a polling cycle costs: libvirt floor, ceilometer-perf, Ceilometer.

    python3 tools/bench                  both parts: --guests 10,25,50
                                         --simulated 1000,10000 --cycles 11
    python3 tools/bench --guests 10,25   real TCG guests on local libvirtd
    python3 tools/bench --simulated 1000,10000
                                         recorded-shape domains, no libvirt
    python3 tools/bench --soak 200       1,440 cycles, a tenth of the
                                         domains replaced each cycle

Real guests (root; with no libvirtd answering at qemu:///system it starts
one with tools/hypervisor.sh and stops it at the end): starts small TCG
guests named cperf-bench-N, measures in this one process, side by side,
the libvirt floor (one bulk PERF stats call), ceilometer-perf's pollsters
for all its meters and Ceilometer's own perf.* pollsters, each directly
(no discovery) and inside Ceilometer's polling agent, with
Ceilometer's local_instances discovery and with local_instances_cached,
then destroys the guests.  Simulated: the plugin side alone,
with a fake libvirt serving recorded stats records, all meters on.
Started with a bare python3, it first runs tools/install.sh (idempotent)
and re-runs itself in the project's venv.  doc/source/performance.rst explains
the tables and records results.  On a shared hypervisor, run it under your
hypervisor lock (e.g. flock).
"""
