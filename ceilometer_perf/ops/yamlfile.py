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

"""One way to merge into an operator's YAML file, for every merge we do.

The files we merge into (polling.yaml, gnocchi_resources.yaml) belong to
the operator.  A merge adds what is missing as new lines after the block
it extends, so their comments, order and layout stay; only a layout we
cannot extend line by line (flow style, ...) is written whole, and the
backup keeps the original.  Writing is atomic (a temporary file in the
same directory, fsync, rename over), keeps the file's mode and owner,
follows a symlink to the real file, comes after a backup
FILE.<timestamp>.bak, and does not happen at all when nothing is to add.

A merge is a function text -> (new text, what it did); this module runs
it on a file (`merge_file`) and offers the pieces to build the new text
from the parsed document (`load`, `value_of`, `Edits`, `merged_text`).
"""

import dataclasses
import datetime
import difflib
import os
import stat
import tempfile
import typing

import yaml

# A file we create (none was there) is read by the services: world
# readable, as the packaged files are.
NEW_FILE_MODE = 0o644


class MergeError(Exception):
    """The file cannot be merged into; nothing was changed."""


class _Dumper(yaml.SafeDumper):
    """Indents lists under their key, as Ceilometer's own files do."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def dump(data):
    """Block-style YAML, keys in the order given."""
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False,
                     sort_keys=False, width=79)


def load(text, what):
    """(data, root node) of a YAML mapping document.

    An empty document (nothing, or only comments) is ({}, None).  `what`
    names the file in errors: 'a polling.yaml'.
    """
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise MergeError('not valid YAML: %s' % exc) from exc
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise MergeError('not %s: the top level is not a mapping' % what)
    return data, root


# --- Line-preserving edits, planned on the node tree of the document.


def value_of(node, key):
    """The value node of `key` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def last_line(node):
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


def _is_block(node, kind):
    return isinstance(node, kind) and not node.flow_style and node.value


def _indent(text, column):
    pad = ' ' * column
    return ''.join(pad + line if line.strip() else line
                   for line in text.splitlines(True))


class Edits:
    """Blocks of lines to insert into a document, each after a comment.

    Each method returns whether it could plan the insertion; once one
    could not, `ok` is False and the caller writes the document whole.
    """

    def __init__(self, comment):
        self._comment = '# %s\n' % comment
        self._inserts = []
        self.ok = True

    def _insert(self, index, column, data):
        self._inserts.append(
            (index, _indent(self._comment + dump(data), column)))
        return True

    def extend_sequence(self, node, items):
        """Append `items` to a block sequence."""
        if not _is_block(node, yaml.SequenceNode):
            self.ok = False
            return False
        return self._insert(last_line(node) + 1, node.start_mark.column,
                            list(items))

    def extend_document(self, root, entries):
        """Add top-level keys; `root` None is an empty document (nothing
        or only comments), and the keys go at its end."""
        if root is None:
            return self._insert(None, 0, dict(entries))
        return self.extend_mapping(root, entries)

    def extend_mapping(self, node, entries):
        """Add the keys of `entries` to a block mapping."""
        if not _is_block(node, yaml.MappingNode):
            self.ok = False
            return False
        return self._insert(last_line(node) + 1,
                            node.value[0][0].start_mark.column,
                            dict(entries))

    def apply(self, text):
        lines = text.splitlines(True)
        if lines and not lines[-1].endswith(('\n', '\r')):
            lines[-1] += '\n'
        end = len(lines)
        inserts = [(end if index is None else index, block)
                   for index, block in self._inserts]
        # Bottom up; at one line the blocks land in the order planned
        # (the deepest nesting first, a top-level key last).
        order = sorted(range(len(inserts)),
                       key=lambda i: (inserts[i][0], i), reverse=True)
        for i in order:
            index, block = inserts[i]
            lines[index:index] = [block]
        return ''.join(lines)


def merged_text(text, edits, merged, comment):
    """(new text, rewritten): the edits applied if they read back as
    `merged`, else the merged data written whole (comments lost: the
    backup keeps them)."""
    if edits is not None and edits.ok:
        new_text = edits.apply(text)
        try:
            if yaml.safe_load(new_text) == merged:
                return new_text, False
        except yaml.YAMLError:
            pass
    return '# %s\n---\n%s' % (comment, dump(merged)), True


# --- The file.


@dataclasses.dataclass
class Outcome:
    """What merging into one file did, or would do (check)."""
    path: str
    existed: bool
    before: str         # the file's text, '' when there was none
    after: str          # the merged text
    backup: typing.Optional[str] = None  # the backup written, if any
    written: bool = False

    @property
    def changed(self):
        """Whether the file needs (or got) the merge."""
        return not self.existed or self.after != self.before

    def diff(self):
        """The merge as a unified diff ('' when there is nothing to do)."""
        if not self.changed:
            return ''
        return ''.join(difflib.unified_diff(
            self.before.splitlines(True), self.after.splitlines(True),
            self.path, self.path + ' (merged)'))


def _read(path):
    try:
        with open(path, encoding='utf-8', newline='') as f:
            return f.read()
    except UnicodeDecodeError as exc:
        raise MergeError('not UTF-8 text: %s' % exc) from exc


def backup_path(path):
    """FILE.<timestamp>.bak, never an existing file."""
    stamp = datetime.datetime.now().strftime('%Y%m%dT%H%M%S')
    candidate = '%s.%s.bak' % (path, stamp)
    n = 1
    while os.path.lexists(candidate):
        candidate = '%s.%s-%d.bak' % (path, stamp, n)
        n += 1
    return candidate


def _staged(directory, text, like):
    """A temporary file in `directory` holding `text`, synced to disk,
    with the mode and owner of the stat result `like` (or the mode of a
    new file).  The caller renames or removes it."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.ceilometer-perf.',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8', newline='') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if like is None:
            os.chmod(tmp, NEW_FILE_MODE)
            return tmp
        own = os.stat(tmp)
        if (own.st_uid, own.st_gid) != (like.st_uid, like.st_gid):
            try:
                os.chown(tmp, like.st_uid, like.st_gid)
            except PermissionError as exc:
                raise MergeError(
                    'cannot keep its owner (uid %d, gid %d): run this as '
                    'root or as that user' % (like.st_uid, like.st_gid)
                ) from exc
        # After chown, which may clear set-id bits.
        os.chmod(tmp, stat.S_IMODE(like.st_mode))
        return tmp
    except BaseException:
        os.unlink(tmp)
        raise


def _rename(staged, path):
    """os.replace, the staged file removed when it fails."""
    try:
        os.replace(staged, path)
    except BaseException:
        os.unlink(staged)
        raise


def _sync_directory(directory):
    """Make the rename durable; the merge is done either way."""
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def write(path, text, before=None, backup=True):
    """Replace the file at `path` with `text`, atomically.

    An existing file keeps its mode and owner and, unless `backup` is
    False, is first copied (its text `before`, same mode and owner) to
    FILE.<timestamp>.bak beside it.  A symlink stays a link: the file it
    points to is replaced.  Returns the backup path or None.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    like = os.stat(target) if os.path.exists(target) else None
    staged = _staged(directory, text, like)
    saved = None
    try:
        if like is not None and backup:
            if before is None:
                before = _read(target)
            saved = backup_path(path)
            _rename(_staged(os.path.dirname(os.path.abspath(saved)),
                            before, like), saved)
    except BaseException:
        os.unlink(staged)
        raise
    _rename(staged, target)
    _sync_directory(directory)
    return saved


def merge_file(path, merge, start=None, check=False, backup=True):
    """Run merge(text) -> (new text, info) on the file at `path`.

    A missing file starts as start(), or empty.  The file is
    written only when the merge changes it and `check` is False.
    Returns (Outcome, info).
    """
    existed = os.path.exists(path)
    before = _read(path) if existed else ''
    text = before
    if not existed and start is not None:
        text = start()
    after, info = merge(text)
    outcome = Outcome(path, existed, before, after)
    if outcome.changed and not check:
        outcome.backup = write(path, after, before, backup=backup)
        outcome.written = True
    return outcome, info
