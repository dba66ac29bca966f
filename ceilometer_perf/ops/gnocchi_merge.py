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

"""`ceilometer-perf gnocchi merge`: the mapping into the operator's file.

A semantic merge first (which of our meters and policies the file lacks;
the operator's own mapping of a meter of ours stands), then those are
added as lines (ops/yamlfile.py), so comments and layout stay.  A missing
file starts as Ceilometer's packaged gnocchi_resources.yaml, which is
what the publisher reads when the operator has none.
"""

import copy
import importlib.util
import os

import yaml

from ceilometer_perf.ops import gnocchi
from ceilometer_perf.ops import yamlfile

MARK = 'Added by ceilometer-perf gnocchi merge (ceilometer-perf meters)'

MergeError = yamlfile.MergeError


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


def packaged_text():
    with open(packaged_resources_file(), encoding='utf-8') as f:
        return f.read()


def _packaged_instance_entry():
    data = yaml.safe_load(packaged_text())
    for entry in data.get('resources', []):
        if entry.get('resource_type') == gnocchi.RESOURCE_TYPE:
            return entry
    raise MergeError('no %r resource in Ceilometer\'s packaged '
                     'gnocchi_resources.yaml' % gnocchi.RESOURCE_TYPE)


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
                entry.get('resource_type') == gnocchi.RESOURCE_TYPE):
            return entry
    return None


def _wanted_changes(data, wanted):
    """Semantic merge: (merged data, Merge, missing metric definitions)."""
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
    result.foreign_policies = (used - set(gnocchi.ARCHIVE_POLICIES)
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


def _edits(root, merged, missing, result):
    """The lines to add, planned on the file's node tree."""
    edits = yamlfile.Edits(MARK)
    if root is None:
        # Nothing but comments: the merged data goes below them.
        edits.extend_document(None, merged)
        return edits
    resources = yamlfile.value_of(root, 'resources')
    if result.added_resource:
        if resources is None:
            edits.extend_document(root, {'resources': [
                _instance_entry(merged)]})
        else:
            edits.extend_sequence(resources, [_instance_entry(merged)])
    elif missing:
        # Not found when the entry is built by YAML merge keys or
        # aliases: then the edits fail and the file is written whole.
        entry = next(
            (item for item in resources.value
             if getattr(yamlfile.value_of(item, 'resource_type'), 'value',
                        None) == gnocchi.RESOURCE_TYPE), None)
        edits.extend_mapping(yamlfile.value_of(entry, 'metrics'), missing)
    if result.added_policies:
        policies = yamlfile.value_of(root, 'archive_policies')
        if policies is None:
            edits.extend_document(
                root, {'archive_policies': result.added_policies})
        else:
            edits.extend_sequence(policies, result.added_policies)
    return edits


def merge_text(text, wanted=None):
    """Merge the mapping into the text of a gnocchi_resources.yaml."""
    wanted = wanted or gnocchi.mapping()
    data, root = yamlfile.load(text, 'a gnocchi_resources.yaml')
    if not isinstance(data.get('resources') or [], list):
        raise MergeError('not a gnocchi_resources.yaml: `resources` is not '
                         'a list')
    merged, result, missing = _wanted_changes(data, wanted)
    if not result.changed:
        result.text = text
        return result
    # A layout we cannot extend line by line (flow style, list-form
    # metrics, ...) is written whole; the backup keeps the original.
    result.text, result.rewritten = yamlfile.merged_text(
        text, _edits(root, merged, missing, result), merged, MARK)
    return result


def merge_file(path, wanted=None, check=False, backup=True):
    """Merge into the file at `path`: (yamlfile.Outcome, Merge)."""
    def merge(text):
        result = merge_text(text, wanted)
        return result.text, result
    return yamlfile.merge_file(path, merge, start=packaged_text,
                               check=check, backup=backup)
