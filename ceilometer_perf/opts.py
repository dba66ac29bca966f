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

"""oslo.config options of the plugin (listed by oslo-config-generator).

The libvirt URI itself is Ceilometer's: [DEFAULT] libvirt_type and
libvirt_uri, so the plugin always watches the hypervisor the agent does.
"""

import glob
import os
import re

from oslo_config import cfg

GROUP = 'ceilometer_perf'

OPTS = [
    cfg.BoolOpt('stats_nowait',
                default=True,
                help='Ask libvirt not to wait for a domain that is busy with '
                     'another job (VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT), '
                     'so one busy instance never delays the polling cycle. '
                     'Such an instance may miss some values in that cycle.'),
    cfg.FloatOpt('stats_timeout',
                 default=10.0,
                 min=0.0,
                 help='Seconds a polling cycle waits for a bulk read of CPU '
                      'or vCPU stats, which libvirt collects from each '
                      'QEMU.  A hung QEMU makes that read wait for as long '
                      'as it hangs, NOWAIT or not; past this deadline the '
                      'cycle goes on with a read that skips what needs the '
                      'hung QEMU, and the instance is logged once.  Reads '
                      'of perf counters never wait on a QEMU.  0 waits for '
                      'ever.'),
    cfg.StrOpt('resctrl_root',
               default='/sys/fs/resctrl',
               help='Where the resctrl filesystem is mounted.  Whether '
                    'resctrl monitoring is usable is decided from the tree '
                    'found here (info/L3_MON), not from the mount\'s '
                    'filesystem type.'),
    cfg.BoolOpt('resctrl_manage_groups',
                default=False,
                help='Keep one resctrl monitoring group per running '
                     'instance (ceilometer-perf-<instance uuid>) and read '
                     'cpu_l3_cache and memory.bandwidth.* from it: cache '
                     'and bandwidth on every Intel RDT / AMD PQoS host with '
                     'no nova change.  This writes kernel state (mkdir, '
                     'rmdir, tasks), so it is the operator\'s choice; '
                     'ceilometer-perf check says whether this host can. '
                     'Instances with libvirt <monitor>s keep that path.'),
    cfg.StrOpt('resctrl_threads',
               default='vcpus',
               choices=[('vcpus', 'the instance\'s vCPU threads, the '
                         'meaning of cpu_l3_cache and of libvirt\'s '
                         'monitors'),
                        ('all', 'every thread of its QEMU process (I/O '
                         'threads, emulator, migration)')],
               help='Which threads of an instance its monitoring group '
                    'holds.'),
    cfg.IntOpt('resctrl_rmid_reserve',
               default=8,
               min=0,
               help='RMIDs (monitoring ids, info/L3_MON/num_rmids, one pool '
                    'per host shared with libvirt and every other tool) '
                    'that ceilometer-perf always leaves free.  8 leaves '
                    'room for a few libvirt <cachetune> monitors starting '
                    'or migrating in and for an operator\'s pqos session, '
                    'and costs under 5% of the smallest pools RDT hosts '
                    'have (176+).  When RMIDs run short, instances already '
                    'monitored keep their group before new ones get one.'),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]


def read(conf):
    """({option: value}, [problem]) for the plugin's options.

    A bad value must not cost the agent its perf meters (Ceilometer would
    skip the pollsters with only a debug line): it is reported and the
    option's default used instead.
    """
    register_opts(conf)
    values, problems = {}, []
    for opt in OPTS:
        try:
            values[opt.dest] = getattr(conf[GROUP], opt.dest)
        except (cfg.Error, ValueError) as exc:
            values[opt.dest] = opt.default
            problems.append('[%s] %s: %s; using the default, %s'
                            % (GROUP, opt.name, _one_line(exc), opt.default))
    problems.extend(unknown_options(conf))
    return values, problems


def unknown_options(conf):
    """Options set in the [ceilometer_perf] section that do not exist.

    oslo.config ignores them silently; a misspelt option would otherwise
    look set and do nothing.
    """
    known = {opt.name for opt in OPTS} | {opt.dest for opt in OPTS}
    problems = []
    for path in config_files(conf):
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except Exception:  # noqa: S112 - oslo.config reports unreadable files
            continue
        for name in sorted(sections.get(GROUP, {})):
            if name not in known:
                problems.append(
                    'unknown option [%s] %s in %s; the options are: %s'
                    % (GROUP, name, path,
                       ', '.join(sorted(o.name for o in OPTS))))
    return problems


def config_files(conf):
    """The files oslo.config read, in order (config_file, then config_dir)."""
    files = list(getattr(conf, 'config_file', None) or ())
    for directory in getattr(conf, 'config_dir', None) or ():
        files.extend(sorted(glob.glob(os.path.join(directory, '*.conf'))))
    return files


def _one_line(exc):
    text = ' '.join(str(exc).split())
    # oslo.config names the file as a LocationInfo repr.
    return re.sub(r"from LocationInfo\(.*?detail='([^']*)'\)", r'in \1',
                  text)
