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

"""Small TCG guests that look like nova instances, for the demo and tests.

Each guest carries nova's <metadata> (what Ceilometer's libvirt_metadata
discovery reads), a <perf> list of software events and a vPMU setting.
They have no disk: they sit in SeaBIOS and still count real software
events.  This is test/demo tooling: it uses a read-write connection, which
the plugin itself never does.
"""

import argparse
import dataclasses
import glob
import os
import sys
import time
import uuid as uuidlib
from xml.sax import saxutils

import libvirt

PREFIX = 'cperf-'
NOVA_NS = 'http://openstack.org/xmlns/libvirt/nova/1.1'
NOVA_NS_1_0 = 'http://openstack.org/xmlns/libvirt/nova/1.0'
NOVA_FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests',
    'fixtures', 'nova')
SOFTWARE_EVENTS = ('cpu_clock', 'task_clock', 'page_faults',
                   'context_switches', 'cpu_migrations', 'page_faults_min',
                   'page_faults_maj', 'alignment_faults', 'emulation_faults')
PROJECT_ID = '5e0d8ce4c0a8436fb8b1bd4e50c1e1d1'
USER_ID = '7f1b5b5a3f5a4d4e9b1a2c3d4e5f6a7b'


@dataclasses.dataclass
class Guest:
    name: str                     # nova display name
    pmu: str = None               # 'on', 'off' or None (no <pmu>)
    cpu_mode: str = None          # libvirt <cpu mode>, None for none
    events: tuple = SOFTWARE_EVENTS
    flavor_pmu: str = None        # nova flavor extra spec hw:pmu
    nova_metadata: bool = True
    memory_mib: int = 40
    uuid: str = None
    # The whole <metadata> element, in place of the nova 32+ style one
    # made from the fields above (e.g. nova_metadata_of() a nova fixture).
    metadata: str = None

    def __post_init__(self):
        if self.uuid is None:
            self.uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                                          'ceilometer-perf/' + self.name))

    @property
    def domain_name(self):
        return PREFIX + self.name


# The demo's and the functional tests' guests: vPMU explicit on, explicit
# off, and unset (QEMU decides from the CPU mode: maximum means on).
DEFAULT_GUESTS = (
    Guest('pmu-on', pmu='on', flavor_pmu='true'),
    Guest('pmu-off', pmu='off', flavor_pmu='false',
          events=('cpu_clock', 'task_clock', 'page_faults',
                  'context_switches')),
    Guest('pmu-unset', cpu_mode='maximum'),
)


def nova_metadata_of(path):
    """The <metadata> element of a domain XML file (nova's fixtures in
    tests/fixtures/nova), as text, for Guest(metadata=...)."""
    with open(path, encoding='utf-8') as f:
        text = f.read()
    start, end = text.find('<metadata>'), text.find('</metadata>')
    if start < 0 or end < 0:
        raise ValueError('%s has no <metadata>' % path)
    return '\n  ' + text[start:end + len('</metadata>')]


def metadata_shapes(fixtures=NOVA_FIXTURES):
    """A Guest per nova metadata shape we know.

    nova's own (each tests/fixtures/nova/<version>/<case>.xml: nova 31
    without flavor id, nova 34 with flavor id, extra specs and image
    properties), this module's hand-written nova 32+ one, the older 1.0
    namespace, none, and one without <nova:owner> (which Ceilometer's
    discovery leaves out).
    """
    guests = []
    paths = sorted(glob.glob(os.path.join(fixtures, '*', '*.xml')))
    for path in paths:
        version = os.path.basename(os.path.dirname(path)).split('.')[0]
        case = os.path.basename(path)[:-4]
        guests.append(Guest('nova%s-%s' % (version, case),
                            metadata=nova_metadata_of(path)))
    if paths:
        old = nova_metadata_of(paths[0]).replace(NOVA_NS, NOVA_NS_1_0)
        guests.append(Guest('namespace-1-0', metadata=old))
    no_owner = _metadata(Guest('no-owner'))
    start = no_owner.index('<nova:owner>')
    end = no_owner.index('</nova:owner>') + len('</nova:owner>')
    guests += [
        Guest('hand-nova32', flavor_pmu='true'),
        Guest('no-metadata', nova_metadata=False),
        Guest('no-owner', metadata=no_owner[:start] + no_owner[end:]),
    ]
    return guests


def _metadata(guest):
    if guest.metadata is not None:
        return guest.metadata
    if not guest.nova_metadata:
        return ''
    esc = saxutils.escape
    specs = ''
    if guest.flavor_pmu is not None:
        specs = ('<nova:extraSpecs><nova:extraSpec name="hw:pmu">%s'
                 '</nova:extraSpec></nova:extraSpecs>' % esc(guest.flavor_pmu))
    return """
  <metadata>
    <nova:instance xmlns:nova="%(ns)s">
      <nova:package version="27.0.0"/>
      <nova:name>%(name)s</nova:name>
      <nova:creationTime>2026-11-25 00:00:00</nova:creationTime>
      <nova:flavor name="m1.tcg" id="tcg-%(mem)d">
        <nova:memory>%(mem)d</nova:memory>
        <nova:disk>0</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus>
        %(specs)s
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="%(user)s">demo</nova:user>
        <nova:project uuid="%(project)s">demo</nova:project>
      </nova:owner>
    </nova:instance>
  </metadata>""" % {'ns': NOVA_NS, 'name': esc(guest.name),
                    'mem': guest.memory_mib, 'specs': specs,
                    'user': USER_ID, 'project': PROJECT_ID}


def domain_xml(guest):
    features = ''
    if guest.pmu is not None:
        features = "<features><pmu state='%s'/></features>" % guest.pmu
    cpu = ''
    if guest.cpu_mode is not None:
        cpu = "<cpu mode='%s'/>" % guest.cpu_mode
    perf = ''.join("<event name='%s' enabled='yes'/>" % e
                   for e in guest.events)
    return """<domain type='qemu'>
  <name>%(dname)s</name>
  <uuid>%(uuid)s</uuid>%(metadata)s
  <memory unit='MiB'>%(mem)d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  %(features)s
  %(cpu)s
  <perf>%(perf)s</perf>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
  </devices>
</domain>""" % {'dname': guest.domain_name, 'uuid': guest.uuid,
                'metadata': _metadata(guest), 'mem': guest.memory_mib,
                'features': features, 'cpu': cpu, 'perf': perf}


def connect(uri='qemu:///system'):
    # Errors are handled here; keep libvirt from printing them too.
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    return libvirt.open(uri)


def start(conn, guests=DEFAULT_GUESTS):
    """Start the guests (transient) that are not running yet."""
    for guest in guests:
        try:
            conn.lookupByName(guest.domain_name)
            continue
        except libvirt.libvirtError:
            pass
        conn.createXML(domain_xml(guest), 0)


def stop_all(conn):
    """Destroy every guest this tooling started (by name prefix)."""
    stopped = []
    for dom in conn.listAllDomains():
        if dom.name().startswith(PREFIX):
            try:
                if dom.isActive():
                    dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
            except libvirt.libvirtError:
                continue
            stopped.append(dom.name())
    return stopped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=['up', 'down', 'list'])
    parser.add_argument('--uri', default='qemu:///system')
    args = parser.parse_args(argv)
    conn = connect(args.uri)
    if args.action == 'up':
        start(conn)
        time.sleep(1)
    elif args.action == 'down':
        for name in stop_all(conn):
            print('removed %s' % name)
        return 0
    for dom in conn.listAllDomains():
        if dom.name().startswith(PREFIX):
            print('%s %s %s' % (dom.name(), dom.UUIDString(),
                                'running' if dom.isActive() else 'stopped'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
