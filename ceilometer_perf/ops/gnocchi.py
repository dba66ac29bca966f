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

"""The Gnocchi mapping of the catalogue's meters, and its merge tool.

Ceilometer's Gnocchi publisher drops, with one warning, every meter its
gnocchi_resources.yaml does not list, and an operator's file replaces the
packaged one.  So the mapping is derived here from the catalogue (every
meter on the `instance` resource, an archive policy chosen by meter type)
and merged into the operator's file by `ceilometer-perf-gnocchi merge`:
idempotent, keeping their edits and comments, with a backup.

The archive policies are defined in the merged file too: the publisher
creates the policies listed there on its first publish.
"""

import argparse
import copy
import datetime
import difflib
import importlib.util
import os
import shutil
import sys
import tempfile

import yaml

from ceilometer_perf import catalogue

RESOURCE_TYPE = 'instance'
RATE_POLICY = 'ceilometer-perf-rate'
GAUGE_POLICY = 'ceilometer-perf'

# One point a minute for a day (dashboards), one an hour for 90 days
# (trends).  Gnocchi keeps each aggregation method at each granularity.
_DEFINITION = [
    {'granularity': '1 minute', 'timespan': '1 day'},
    {'granularity': '1 hour', 'timespan': '90 days'},
]

# Policies of our own, added to the operator's file when a meter uses one.
# `rate:mean` is the mean, over a granule, of the differences between
# consecutive raw values: a counter's increase per polling interval.
ARCHIVE_POLICIES = {
    RATE_POLICY: {
        'name': RATE_POLICY,
        'aggregation_methods': ['mean', 'max', 'rate:mean', 'rate:max'],
        'back_window': 0,
        'definition': _DEFINITION,
    },
    GAUGE_POLICY: {
        'name': GAUGE_POLICY,
        'aggregation_methods': ['mean', 'min', 'max', 'last'],
        'back_window': 0,
        'definition': _DEFINITION,
    },
}

MARK = 'Added by ceilometer-perf-gnocchi merge (ceilometer-perf meters)'


def policy_for(meter, rate_policy=RATE_POLICY, gauge_policy=GAUGE_POLICY):
    """Cumulative counters need a policy that keeps rates; others don't."""
    if meter.type == catalogue.CUMULATIVE:
        return rate_policy
    if meter.type in (catalogue.GAUGE, 'delta'):
        return gauge_policy
    raise ValueError('no archive policy for meter type %r of %s'
                     % (meter.type, meter.name))


def metrics(rate_policy=RATE_POLICY, gauge_policy=GAUGE_POLICY):
    """{meter name: metric definition} for every catalogue row."""
    return {m.name: {'archive_policy_name':
                     policy_for(m, rate_policy, gauge_policy)}
            for m in catalogue.METERS}


def own_policies(metric_defs):
    """Definitions of our own policies that the metrics use, in order."""
    used = {d['archive_policy_name'] for d in metric_defs.values()}
    return [copy.deepcopy(p) for name, p in ARCHIVE_POLICIES.items()
            if name in used]


def mapping(rate_policy=RATE_POLICY, gauge_policy=GAUGE_POLICY):
    """The fragment merged into gnocchi_resources.yaml."""
    metric_defs = metrics(rate_policy, gauge_policy)
    return {'archive_policies': own_policies(metric_defs),
            'resources': [{'resource_type': RESOURCE_TYPE,
                           'metrics': metric_defs}]}


MAPPING_HEADER = """\
# Gnocchi mapping of the ceilometer-perf meters: generated from
# ceilometer_perf/catalogue.py by tools/sync-catalogue; do not edit.
#
# Not a gnocchi_resources.yaml on its own: the Gnocchi publisher reads ONE
# such file, which replaces Ceilometer's packaged one.  Merge these
# definitions into yours (it keeps your edits and writes a backup):
#
#     ceilometer-perf-gnocchi merge /etc/ceilometer/gnocchi_resources.yaml
#
# then restart ceilometer-agent-notification.  The publisher creates the
# archive policies below in Gnocchi on its first publish.
---
"""


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as Ceilometer's own file does."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _dump(data):
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False,
                     sort_keys=False, width=79)


def render_mapping():
    """Text of etc/ceilometer/gnocchi_resources-perf.yaml."""
    return MAPPING_HEADER + _dump(mapping())


def packaged_resources_file():
    """Ceilometer's own gnocchi_resources.yaml, what an operator starts from.

    Located without importing the publisher (which needs gnocchiclient).
    """
    spec = importlib.util.find_spec('ceilometer')
    if spec is None or not spec.submodule_search_locations:
        raise MergeError('Ceilometer is not installed here: cannot find its '
                         'packaged gnocchi_resources.yaml')
    base = list(spec.submodule_search_locations)[0]
    return os.path.join(base, 'publisher', 'data', 'gnocchi_resources.yaml')


def _packaged_instance_entry():
    with open(packaged_resources_file()) as f:
        data = yaml.safe_load(f)
    for entry in data.get('resources', []):
        if entry.get('resource_type') == RESOURCE_TYPE:
            return entry
    raise MergeError('no %r resource in Ceilometer\'s packaged '
                     'gnocchi_resources.yaml' % RESOURCE_TYPE)


class MergeError(Exception):
    pass


class Merge:
    """The outcome of merging the mapping into one file's text."""

    def __init__(self):
        self.text = None
        self.added_metrics = []
        self.added_policies = []
        self.added_resource = False
        # meter -> (resource type, archive policy) the operator chose
        self.kept = {}
        self.foreign_policies = set()
        self.rewritten = False

    @property
    def changed(self):
        return bool(self.added_metrics or self.added_policies or
                    self.added_resource)


def _mapped_metrics(data):
    """{meter: (resource type, policy or None)} already in the file."""
    found = {}
    for entry in data.get('resources') or []:
        if not isinstance(entry, dict):
            continue
        defs = entry.get('metrics') or {}
        if isinstance(defs, list):
            defs = dict.fromkeys(defs)
        if not isinstance(defs, dict):
            continue
        for name, extra in defs.items():
            policy = (extra or {}).get('archive_policy_name')
            found[name] = (entry.get('resource_type'), policy)
    return found


def _instance_entry(data):
    for entry in data.get('resources') or []:
        if (isinstance(entry, dict) and
                entry.get('resource_type') == RESOURCE_TYPE):
            return entry
    return None


def _wanted_changes(data, wanted):
    """Semantic merge: (merged data, Merge) from the parsed file."""
    result = Merge()
    merged = copy.deepcopy(data)
    have = _mapped_metrics(merged)
    policies_in_file = {p.get('name') for p in
                        merged.get('archive_policies') or []
                        if isinstance(p, dict)}
    metric_defs = wanted['resources'][0]['metrics']
    missing = {}
    for name, definition in metric_defs.items():
        if name in have:
            result.kept[name] = have[name]
        else:
            missing[name] = copy.deepcopy(definition)
    result.added_metrics = list(missing)

    used = {d['archive_policy_name'] for d in missing.values()}
    for policy in wanted['archive_policies']:
        if policy['name'] in used and policy['name'] not in policies_in_file:
            result.added_policies.append(copy.deepcopy(policy))
    result.foreign_policies = (used - set(ARCHIVE_POLICIES)
                               - policies_in_file)

    if missing:
        entry = _instance_entry(merged)
        if entry is None:
            entry = copy.deepcopy(_packaged_instance_entry())
            entry['metrics'] = {}
            merged.setdefault('resources', []).append(entry)
            result.added_resource = True
        if isinstance(entry.get('metrics'), list):
            entry['metrics'] = dict.fromkeys(entry['metrics'])
        if not isinstance(entry.get('metrics'), dict):
            entry['metrics'] = {}
        entry['metrics'].update(missing)
    if result.added_policies:
        if not isinstance(merged.get('archive_policies'), list):
            merged['archive_policies'] = []
        merged['archive_policies'].extend(result.added_policies)
    return merged, result, missing


# --- Text edits: insert lines, so the operator's comments and layout stay.


def _value_of(node, key):
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def _last_line(node):
    """0-based number of the last line holding part of `node`."""
    last = -1
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.ScalarNode):
            mark = n.end_mark
            last = max(last, mark.line if mark.column else mark.line - 1)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.extend((k, v))
        else:
            stack.extend(n.value)
    return last


def _indent(text, column):
    pad = ' ' * column
    return ''.join(pad + line if line.strip() else line
                   for line in text.splitlines(True))


def _is_block(node, kind):
    return isinstance(node, kind) and not node.flow_style and node.value


def _text_edits(root, merged_entry_missing, missing, result):
    """[(line index to insert before, text)], or None if the layout is
    one we do not edit in place."""
    if not isinstance(root, yaml.MappingNode) or root.flow_style:
        return None
    edits = []
    comment = '# %s\n' % MARK
    if missing and not result.added_resource:
        resources = _value_of(root, 'resources')
        entry = None
        for item in resources.value:
            if (_value_of(item, 'resource_type') is not None and
                    _value_of(item, 'resource_type').value == RESOURCE_TYPE):
                entry = item
                break
        metrics_node = _value_of(entry, 'metrics')
        if not _is_block(metrics_node, yaml.MappingNode):
            return None
        column = metrics_node.value[0][0].start_mark.column
        edits.append((_last_line(metrics_node) + 1,
                      _indent(comment + _dump(missing), column)))
    if result.added_resource:
        resources = _value_of(root, 'resources')
        if not _is_block(resources, yaml.SequenceNode):
            return None
        column = resources.start_mark.column
        edits.append((_last_line(resources) + 1,
                      _indent(comment + _dump([merged_entry_missing]),
                              column)))
    if result.added_policies:
        policies = _value_of(root, 'archive_policies')
        if policies is None:
            column = root.value[0][0].start_mark.column
            edits.append((_last_line(root) + 1, _indent(
                comment + _dump({'archive_policies': result.added_policies}),
                column)))
        elif _is_block(policies, yaml.SequenceNode):
            column = policies.start_mark.column
            edits.append((_last_line(policies) + 1, _indent(
                comment + _dump(result.added_policies), column)))
        else:
            return None
    return edits


def _apply(text, edits):
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith('\n'):
        lines[-1] += '\n'
    # Bottom up; at one index the edits land in list order (the deepest
    # nesting first, a top-level section last).
    order = sorted(range(len(edits)), key=lambda i: (edits[i][0], i),
                   reverse=True)
    for i in order:
        index, block = edits[i]
        lines[index:index] = [block]
    return ''.join(lines)


def merge_text(text, wanted=None):
    """Merge the mapping into the text of a gnocchi_resources.yaml."""
    wanted = wanted or mapping()
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise MergeError('not valid YAML: %s' % exc) from exc
    if data is None:
        data, root = {}, None
    if not isinstance(data, dict):
        raise MergeError('not a gnocchi_resources.yaml: the top level is '
                         'not a mapping')
    if not isinstance(data.get('resources') or [], list):
        raise MergeError('not a gnocchi_resources.yaml: `resources` is not '
                         'a list')
    merged, result, missing = _wanted_changes(data, wanted)
    if not result.changed:
        result.text = text
        return result
    entry = _instance_entry(merged) if result.added_resource else None
    edits = None
    if root is not None:
        edits = _text_edits(root, entry, missing, result)
    if edits is not None:
        new_text = _apply(text, edits)
        try:
            if yaml.safe_load(new_text) == merged:
                result.text = new_text
                return result
        except yaml.YAMLError:
            pass
    # A layout we cannot extend line by line (flow style, list-form
    # metrics, ...): write the merged data whole.  The backup keeps the
    # original with its comments.
    result.rewritten = True
    result.text = '# %s\n---\n%s' % (MARK, _dump(merged))
    return result


# --- Files and the command line.


def _backup_path(path):
    stamp = datetime.datetime.now().strftime('%Y%m%dT%H%M%S')
    candidate = '%s.%s.bak' % (path, stamp)
    n = 1
    while os.path.exists(candidate):
        candidate = '%s.%s-%d.bak' % (path, stamp, n)
        n += 1
    return candidate


def _write_atomically(path, text, like=None):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.gnocchi_resources.')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        if like is not None:
            shutil.copymode(like, tmp)
            st = os.stat(like)
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except PermissionError:
                pass
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def merge_file(path, wanted=None, check=False, backup=True):
    """Merge into the file at `path`; returns (Merge, backup path or None).

    A missing file starts from Ceilometer's packaged one, which is what the
    publisher reads when the operator has none.
    """
    exists = os.path.exists(path)
    source = path if exists else packaged_resources_file()
    with open(source) as f:
        original = f.read()
    result = merge_text(original, wanted)
    if exists and not result.changed:
        return result, None
    if check:
        return result, None
    saved = None
    if exists and backup:
        saved = _backup_path(path)
        shutil.copy2(path, saved)
    # A symlinked file (config management often links it) stays a link.
    target = os.path.realpath(path)
    _write_atomically(target, result.text, like=target if exists else None)
    return result, saved


def _report(path, result, saved, exists, check, out):
    write = out.write
    if not result.changed and exists:
        write('%s: up to date, every ceilometer-perf meter is mapped.\n'
              % path)
    else:
        verb = 'would add' if check else 'added'
        if not exists:
            write('%s: %s from Ceilometer\'s packaged %s\n' % (
                path, 'would be created' if check else 'created',
                packaged_resources_file()))
        if result.added_resource:
            write('%s: %s an %r resource (attributes from Ceilometer\'s '
                  'packaged file)\n' % (path, verb, RESOURCE_TYPE))
        if result.added_metrics:
            write('%s: %s %d metrics: %s\n' % (
                path, verb, len(result.added_metrics),
                ', '.join(result.added_metrics)))
        if result.added_policies:
            write('%s: %s archive policies: %s\n' % (
                path, verb,
                ', '.join(p['name'] for p in result.added_policies)))
        if result.rewritten:
            write('%s: its layout could not be extended in place, so it '
                  'is %s whole: comments are not kept (the backup has '
                  'them)\n' % (path, 'to be rewritten' if check
                               else 'rewritten'))
        if saved:
            write('%s: backup of the previous file: %s\n' % (path, saved))
    own = metrics()
    custom = {name: have for name, have in sorted(result.kept.items())
              if have != (RESOURCE_TYPE, own[name]['archive_policy_name'])}
    for name, (rtype, policy) in custom.items():
        write('%s: kept your mapping of %s (resource type %s, archive '
              'policy %s)\n' % (path, name, rtype, policy or 'default'))
    for name in sorted(result.foreign_policies):
        write('%s: archive policy %s is not defined in this file: make '
              'sure it exists in Gnocchi\n' % (path, name))


def main(argv=None, out=None):
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog='ceilometer-perf-gnocchi',
        description='Gnocchi mapping of the ceilometer-perf meters.')
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('mapping', help='print the mapping derived from the '
                                   'meter catalogue')
    merge = sub.add_parser(
        'merge', help='merge the mapping into a gnocchi_resources.yaml '
                      '(created from Ceilometer\'s packaged one if missing)')
    merge.add_argument('file')
    merge.add_argument('--check', action='store_true',
                       help='change nothing; exit 1 if the file needs the '
                            'merge')
    merge.add_argument('--diff', action='store_true',
                       help='print the change as a unified diff')
    merge.add_argument('--no-backup', action='store_true')
    merge.add_argument('--rate-policy', default=RATE_POLICY,
                       help='archive policy of the cumulative meters '
                            '(default %(default)s)')
    merge.add_argument('--gauge-policy', default=GAUGE_POLICY,
                       help='archive policy of the gauges (default '
                            '%(default)s)')
    args = parser.parse_args(argv)

    if args.command == 'mapping':
        out.write(render_mapping())
        return 0

    wanted = mapping(args.rate_policy, args.gauge_policy)
    exists = os.path.exists(args.file)
    before = ''
    if exists:
        with open(args.file) as f:
            before = f.read()
    try:
        result, saved = merge_file(args.file, wanted, check=args.check,
                                   backup=not args.no_backup)
    except (MergeError, OSError) as exc:
        sys.stderr.write('ceilometer-perf-gnocchi: %s: %s\n'
                         % (args.file, exc))
        return 2
    if args.diff and (result.changed or not exists):
        out.writelines(difflib.unified_diff(
            before.splitlines(True), result.text.splitlines(True),
            args.file, args.file + ' (merged)'))
    _report(args.file, result, saved, exists, args.check, out)
    if args.check and (result.changed or not exists):
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
