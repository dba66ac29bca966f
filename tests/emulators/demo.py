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

"""Mount the resctrl EMULATOR for a demo on a host without RDT.

    python -m tests.emulators.demo /tmp/resctrl-emulator [--seconds N]

Mounts the emulator (an imitation of the kernel's resctrl filesystem,
not the kernel's: no RDT hardware is involved) at the directory, and
every second makes up cache occupancy and memory traffic for each
``ceilometer-perf-*`` group the product creates there, so that
`ceilometer-perf poll` pointed at it (resctrl_root) shows cpu_l3_cache
and memory.bandwidth.* for the local guests.  Unmounts on Ctrl-C, on
SIGTERM or after --seconds.
"""

import argparse
import os
import random
import signal
import sys
import threading

from tests.emulators import resctrlfs


def drive(emu, stop, rng):
    """Made-up counters for our groups, once a second."""
    while not stop.wait(1.0):
        for path in emu.groups('MON'):
            if not path.rsplit('/', 1)[-1].startswith('ceilometer-perf-'):
                continue
            try:
                for domain in emu.domains:
                    emu.set_value(path, 'llc_occupancy', domain,
                                  rng.randrange(1, 64) << 16)
                    emu.add_bytes(path, 'mbm_total_bytes', domain,
                                  rng.randrange(10, 200) << 20)
                    emu.add_bytes(path, 'mbm_local_bytes', domain,
                                  rng.randrange(5, 100) << 20)
            except KeyError:
                continue        # removed meanwhile


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('mountpoint')
    parser.add_argument('--seconds', type=float, default=None,
                        help='unmount after this long (default: Ctrl-C)')
    parser.add_argument('--num-rmids', type=int, default=64)
    args = parser.parse_args(argv)
    problem = resctrlfs.fuse_problem()
    if problem:
        sys.stderr.write('cannot mount the emulator: %s\n' % problem)
        return 2
    os.makedirs(args.mountpoint, exist_ok=True)
    mount = resctrlfs.mount(args.mountpoint, num_rmids=args.num_rmids)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *a: stop.set())
    driver = threading.Thread(target=drive, daemon=True,
                              args=(mount.emu, stop, random.Random(15)))
    driver.start()
    print('resctrl EMULATOR mounted at %s (not the kernel\'s resctrl); '
          'set [ceilometer_perf] resctrl_root = %s' % (args.mountpoint,
                                                       args.mountpoint),
          flush=True)
    stop.wait(args.seconds)
    stop.set()
    driver.join()
    mount.unmount()
    return 0


if __name__ == '__main__':
    sys.exit(main())
