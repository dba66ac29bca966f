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

"""The benchmark's options; `python3 tools/bench --help`."""

import argparse
import logging
import sys

import tools.bench
from tools.bench import guests
from tools.bench import report
from tools.bench import resctrl
from tools.bench import simulated


def int_list(text):
    return [int(x) for x in text.split(',') if x]


def main(argv=None):
    doc = tools.bench.__doc__.splitlines()
    parser = argparse.ArgumentParser(
        prog='python3 tools/bench', description=doc[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(doc[2:]))
    parser.add_argument('--guests', type=int_list, metavar='N,N',
                        help='real TCG guest counts, e.g. 10,25')
    parser.add_argument('--simulated', type=int_list, metavar='N,N',
                        help='simulated domain counts, e.g. 1000,10000')
    parser.add_argument('--resctrl', type=int_list, metavar='N,N',
                        help='simulated instance counts for the cost of '
                             'our resctrl groups (reconcile + read), e.g. '
                             '100,1000')
    parser.add_argument('--cycles', type=int, default=None,
                        help='measured cycles per case (default 5, 11 '
                             'with neither --guests nor --simulated)')
    parser.add_argument('--baseline-upto', type=int, default=10000,
                        metavar='N', help='also time Ceilometer\'s own '
                        'sample construction up to N simulated domains')
    parser.add_argument('--soak', type=int, metavar='N',
                        help='soak: N simulated domains, a tenth replaced '
                        'every cycle, --soak-cycles whole agent cycles')
    parser.add_argument('--soak-cycles', type=int, default=1440,
                        metavar='N', help='cycles of the soak (default '
                        '1440: a day of 60 s cycles)')
    parser.add_argument('--uri', default='qemu:///system')
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, 'reconfigure'):
        sys.stdout.reconfigure(line_buffering=True)
    if args.soak:
        simulated.run_soak(args.soak, args.soak_cycles)
        if args.guests is None and args.simulated is None:
            return 0
    if args.guests is None and args.simulated is None \
            and args.resctrl is None:
        # What doc/source/performance.rst records.
        args.guests, args.simulated = [10, 25, 50], [1000, 10000]
        args.resctrl = [100, 1000]
        args.cycles = args.cycles or 11
    args.cycles = args.cycles or 5
    # Ceilometer's perf pollsters warn for every instance and cycle where
    # the host has no hardware PMU; the cost of logging is not the point.
    logging.getLogger('ceilometer').setLevel(logging.ERROR)
    logging.getLogger('ceilometer_perf').setLevel(logging.ERROR)
    # Optional cache backends the agent's option loading does not find.
    logging.getLogger('stevedore').setLevel(logging.CRITICAL)
    print(report.machine())
    if args.guests:
        guests.run_guests(args.guests, args.cycles, args.uri)
    if args.simulated:
        simulated.run_simulated(args.simulated, args.cycles,
                                args.baseline_upto)
        simulated.run_discoveries(args.simulated, args.cycles)
    if args.resctrl:
        resctrl.run_resctrl(args.resctrl, args.cycles)
    return 0
