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

"""Record real bulk stats records from the local hypervisor for unit tests.

    python tools/record_stats.py OUT.json [--uri URI] [--groups perf,state]

Writes what getAllDomainStats returned for the cperf- guests, with each
domain's live XML, in the format tests/unit/records/*.json use.
"""

import argparse
import json
import os
import sys

import libvirt

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from ceilometer_perf import stats


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('out')
    parser.add_argument('--uri', default='qemu:///system')
    parser.add_argument('--groups', default='perf,state')
    args = parser.parse_args(argv)
    flags = stats.flags(args.groups.split(','))
    conn = libvirt.openReadOnly(args.uri)
    domains = []
    for dom, record in conn.getAllDomainStats(flags, stats.LIST_ACTIVE):
        if not dom.name().startswith('cperf-'):
            continue
        domains.append({'uuid': dom.UUIDString(), 'name': dom.name(),
                        'id': dom.ID(), 'stats': record,
                        'xml': dom.XMLDesc(0)})
    record = {'source': 'recorded with tools/record_stats.py from TCG '
                        'guests (tools/localguests.py), libvirt %s, '
                        'groups %s' % (conn.getLibVersion(), args.groups),
              'domains': domains}
    with open(args.out, 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
    print('%d domains -> %s' % (len(domains), args.out))


if __name__ == '__main__':
    main()
