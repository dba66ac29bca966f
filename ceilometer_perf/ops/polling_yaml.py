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

"""The plugin's polling.yaml sources, derived from the catalogue.

Cheap meters often, slow ones in their own task; merged into an
operator's file as added lines (ops/yamlfile.py: comments, layout, mode
and owner kept, with a backup), and checked for meters no installed
pollster provides.
"""

import dataclasses

import yaml

from ceilometer_perf import catalogue
from ceilometer_perf.ops import yamlfile
from ceilometer_perf import plan
from ceilometer_perf import stats

HEADER = """\
# ceilometer-perf polling sources, generated from the meter catalogue
# (ceilometer_perf/catalogue.py; `tools/sync-catalogue` rewrites this file).
# Merge them into /etc/ceilometer/polling.yaml with
#     ceilometer-perf merge-polling /etc/ceilometer/polling.yaml
#
# Ceilometer runs one polling task per interval and ceilometer-perf makes one
# bulk libvirt call per task and cycle, asking only for the stats groups that
# task's meters need.  Counters from the PERF and STATE groups cost ~0.04 ms
# per instance and never wait on QEMU.  Meters that need CPU_TOTAL or VCPU
# (~2 ms per instance, and they block on a hung QEMU) are kept in their own,
# slower source: another interval, another task, another call.
#
# cpu_l3_cache and memory.bandwidth.* are in the 60 s source: with
# [ceilometer_perf] resctrl_manage_groups = true they are read from the
# monitoring groups ceilometer-perf keeps in /sys/fs/resctrl, which needs no
# CPU_TOTAL.  Without group management, on hosts whose domains have libvirt
# <cachetune> <monitor>s, move cpu_l3_cache to perf_cpu_total: libvirt
# reports those monitors with CPU_TOTAL only.
"""

MARK = 'Added by ceilometer-perf merge-polling (ceilometer-perf sources)'

FAST_INTERVAL = 60
VPMU_INTERVAL = 600
SLOW_INTERVAL = 300


def polling_sources(names=None):
    """The plugin's polling.yaml sources, from the catalogue (only the
    meters in `names`, if given; empty sources left out)."""
    fast, slow, vpmu = [], [], []
    for meter in catalogue.METERS:
        if names is not None and meter.name not in names:
            continue
        if meter.kind == catalogue.KIND_VPMU:
            vpmu.append(meter.name)
        elif set(plan.meter_groups(meter, own_groups=True)) & stats.SLOW:
            slow.append(meter.name)
        else:
            fast.append(meter.name)
    sources = [{'name': 'perf_counters', 'interval': FAST_INTERVAL,
                'meters': fast},
               {'name': 'perf_cpu_total', 'interval': SLOW_INTERVAL,
                'meters': slow},
               {'name': 'perf_vpmu', 'interval': VPMU_INTERVAL,
                'meters': vpmu}]
    return [s for s in sources if s['meters']]


def polling_yaml():
    return HEADER + '---\n' + yaml.safe_dump(
        {'sources': polling_sources()}, default_flow_style=False,
        sort_keys=False)


LEAN_HEADER = """\
# The lean ceilometer-perf polling profile: the meters most operators need
# (catalogue.LEAN in ceilometer_perf/catalogue.py; `tools/sync-catalogue`
# rewrites this file), in the same sources and at the same intervals as the
# full etc/ceilometer/polling.yaml, so the same Gnocchi archive policies fit.
# Use it as your polling.yaml's ceilometer-perf sources instead of the full
# ones: about a quarter of the samples, Gnocchi metrics and Prometheus
# series (doc/source/admin/consumers.rst).
"""


def lean_polling_yaml():
    return LEAN_HEADER + '---\n' + yaml.safe_dump(
        {'sources': polling_sources(catalogue.LEAN)},
        default_flow_style=False, sort_keys=False)


def merge_polling(existing):
    """The operator's polling definition plus ours, theirs kept as is.

    A source of ours that is missing is added; one the operator already
    has (by name) is left alone, so their interval or meter edits stay.
    Returns (merged dict, names of the sources added).
    """
    merged = dict(existing or {})
    sources = list(merged.get('sources') or [])
    have = {s.get('name') for s in sources if isinstance(s, dict)}
    added = []
    for source in polling_sources():
        if source['name'] not in have:
            sources.append(source)
            added.append(source['name'])
    merged['sources'] = sources
    return merged, added


@dataclasses.dataclass
class Merge:
    """What merging our sources into one polling.yaml text did."""
    added: list         # names of the sources added
    rewritten: bool = False   # written whole: its layout was not extended


def merge_text(text):
    """(new text, Merge): our missing sources added as lines, so the
    operator's comments and layout stay."""
    data, root = yamlfile.load(text, 'a polling.yaml')
    if not isinstance(data.get('sources') or [], list):
        raise yamlfile.MergeError('not a polling.yaml: `sources` is not a '
                                  'list')
    merged, added = merge_polling(data)
    if not added:
        return text, Merge(added)
    new = [s for s in polling_sources() if s['name'] in added]
    edits = yamlfile.Edits(MARK)
    sources = yamlfile.value_of(root, 'sources')
    if sources is None:
        edits.extend_document(root, {'sources': new})
    else:
        edits.extend_sequence(sources, new)
    new_text, rewritten = yamlfile.merged_text(text, edits, merged, MARK)
    return new_text, Merge(added, rewritten)


def merge_file(path, check=False, backup=True):
    """Merge our sources into the polling.yaml at `path` (a missing one
    gets just our sources): (yamlfile.Outcome, Merge)."""
    return yamlfile.merge_file(path, merge_text, check=check,
                               backup=backup)


def polling_file_problems(path, installed=None):
    """polling_problems() of a polling.yaml file; unreadable is one too."""
    try:
        with open(path) as f:
            definition = yaml.safe_load(f) or {}
        sources = [(s.get('name'), s.get('meters'))
                   for s in definition.get('sources') or ()]
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return ['cannot read the polling definition %s: %s' % (path, exc)]
    if installed is None:
        installed = plan.installed_pollsters()
    return plan.polling_problems(sources, installed)
