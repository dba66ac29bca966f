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

"""Does the host offer resctrl monitoring?  (For `ceilometer-perf check`.)

The /proc and sysfs trees are BUILT in a temporary directory from the
kernel's documented formats (Documentation/arch/x86/resctrl.rst: the
resctrl filesystem type, info/L3_MON/mon_features and num_rmids); the
capabilities come from the published MBM RFC and cover letter and from
this development host, recorded.
"""

import os

import pytest

from ceilometer_perf import stats
from ceilometer_perf.resctrl import host as resctrl_host
from tests.unit import fakes

CPUINFO = ('processor\t: 0\nvendor_id\t: GenuineIntel\n'
           'flags\t\t: fpu vme de pse tsc msr %s rdtscp lm\n\n')
RDT_FLAGS = 'cqm cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local rdt_a'
FILESYSTEMS = 'nodev\tsysfs\nnodev\tproc\nnodev\tcgroup2\n'
ROOT_MOUNT = '/dev/root / ext4 rw 0 0\n'
RESCTRL_MOUNT = 'resctrl /sys/fs/resctrl resctrl rw,relatime 0 0\n'


def build(tmp_path, flags='', filesystems=FILESYSTEMS, mounts=ROOT_MOUNT,
          mon_features=None, num_rmids=None):
    proc = tmp_path / 'proc'
    proc.mkdir()
    (proc / 'cpuinfo').write_text(CPUINFO % flags)
    (proc / 'filesystems').write_text(filesystems)
    (proc / 'mounts').write_text(mounts)
    if mon_features is not None:
        info = tmp_path / 'sys' / 'fs' / 'resctrl' / 'info' / 'L3_MON'
        info.mkdir(parents=True)
        (info / 'mon_features').write_text(mon_features)
        if num_rmids is not None:
            (info / 'num_rmids').write_text('%d\n' % num_rmids)
    return resctrl_host.host_support(str(tmp_path))


WITH_RESCTRL = FILESYSTEMS + 'nodev\tresctrl\n'
ALL_FEATURES = 'llc_occupancy\nmbm_total_bytes\nmbm_local_bytes\n'

CASES = [
    # (id, build arguments, first problem (None: none), features supported)
    ('virtual-machine-like-this-host', {},
     'no cqm_* flag in /proc/cpuinfo', ()),
    ('kernel-without-resctrl', {'flags': RDT_FLAGS},
     'kernel has no resctrl filesystem', ()),
    ('not-mounted', {'flags': RDT_FLAGS, 'filesystems': WITH_RESCTRL},
     'not mounted at /sys/fs/resctrl, where libvirt looks: mount -t '
     'resctrl resctrl /sys/fs/resctrl', ()),
    ('mounted-elsewhere', {
        'flags': RDT_FLAGS, 'filesystems': WITH_RESCTRL,
        'mounts': ROOT_MOUNT + 'resctrl /mnt/rdt\\040x resctrl rw 0 0\n'},
     '(mounted at /mnt/rdt x instead)', ()),
    ('no-l3-monitoring', {'flags': RDT_FLAGS, 'filesystems': WITH_RESCTRL,
                          'mounts': ROOT_MOUNT + RESCTRL_MOUNT,
                          'mon_features': ''},
     'resctrl has no L3 monitoring', ()),
    ('occupancy-only', {'flags': 'cqm cqm_llc cqm_occup_llc',
                        'filesystems': WITH_RESCTRL,
                        'mounts': ROOT_MOUNT + RESCTRL_MOUNT,
                        'mon_features': 'llc_occupancy\n'},
     'resctrl does not offer mbm_total_bytes', (stats.LLC_OCCUPANCY,)),
    # 176 monitors: the maxMonitors of the published MBM capabilities,
    # which libvirt reads from num_rmids.
    ('everything', {'flags': RDT_FLAGS, 'filesystems': WITH_RESCTRL,
                    'mounts': ROOT_MOUNT + RESCTRL_MOUNT,
                    'mon_features': ALL_FEATURES, 'num_rmids': 176},
     None, tuple(stats.QUANTITIES)),
]


@pytest.mark.parametrize('kwargs,problem,supported',
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_host_support(tmp_path, kwargs, problem, supported):
    support = build(tmp_path, **kwargs)
    problems = support.problems()
    if problem is None:
        assert problems == []
        assert support.summary().startswith('resctrl monitoring available')
        assert support.num_rmids == 176
    else:
        assert problem in problems[0]
        assert problem in support.summary()
    assert tuple(f for f in stats.QUANTITIES
                 if support.supports(f)) == supported


def test_missing_proc_files_are_no_support(tmp_path):
    support = resctrl_host.host_support(str(tmp_path / 'nothing'))
    assert not support.mounted and not support.cpu_flags
    assert support.problems()


# The MBM RFC's capabilities (lists.libvirt.org rendering, April 2019;
# /work/shared/fixtures/sample-mbm-rfc-2019-04-capabilities.PARTIAL.txt):
# its values, with the RFC's '+' diff markers and the elided parts of
# <host> left out.
RFC_CAPABILITIES = """<capabilities><host>
  <cache>
    <bank id='0' level='3' type='both' size='15' unit='MiB' cpus='0-5'>
      <control granularity='768' min='1536' unit='KiB' type='both'
               maxAllocs='4'/>
    </bank>
    <monitor level='3' reuseThreshold='270336' maxMonitors='176'>
      <feature name='llc_occupancy'/>
    </monitor>
  </cache>
  <memory_bandwidth>
    <node id='0' cpus='0-5'>
      <control granularity='10' min ='10' maxAllocs='4'/>
    </node>
    <node id='1' cpus='6-11'>
      <control granularity='10' min ='10' maxAllocs='4'/>
    </node>
    <monitor maxMonitors='176'>
      <feature name='mbm_total_bytes'/>
      <feature name='mbm_local_bytes'/>
    </monitor>
  </memory_bandwidth>
</host></capabilities>"""

# The MBM cover letter's capabilities lines (merged format, libvirt 6.0).
COVER_LETTER_CAPABILITIES = """<capabilities><host><memory_bandwidth>
<monitor maxMonitors='176'>
<feature name='mbm_total_bytes'/>
<feature name='mbm_local_bytes'/>
</monitor>
</memory_bandwidth></host></capabilities>"""


def _real_capabilities():
    path = os.path.join(fakes.RECORDS, 'real-host-capabilities-no-resctrl.xml')
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize('xml,expected', [
    (RFC_CAPABILITIES, {'llc_occupancy': 176, 'mbm_total_bytes': 176,
                        'mbm_local_bytes': 176}),
    (COVER_LETTER_CAPABILITIES, {'mbm_total_bytes': 176,
                                 'mbm_local_bytes': 176}),
    # Recorded on this development host (virsh -r capabilities): an L3
    # <bank> but no <monitor>.
    (_real_capabilities(), {}),
], ids=['mbm-rfc-2019', 'mbm-cover-letter', 'real-host-no-resctrl'])
def test_libvirt_monitors(xml, expected):
    assert resctrl_host.libvirt_monitors(xml) == expected
