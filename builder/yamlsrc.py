"""YAML with line numbers, for errors that point at the line a user must edit.

PyYAML's ``safe_load`` forgets where a value came from and silently keeps the last of two
duplicate keys. Here the node tree is walked instead: mappings and sequences become
``LocatedDict`` / ``LocatedList`` that remember the line of each key and item, scalars are
built by PyYAML's safe constructor (so ``2024-01-09`` is a date and ``1809`` an int, as YAML
says), and a duplicate key is an error.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import MatrixError


class LocatedDict(dict):
    """A mapping that knows its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list):
    """A sequence that knows its own line and the line of each item."""

    line: int
    item_lines: list[int]


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


# How many values a document may hold once every alias is expanded. The project's matrix holds about 300
# and uses no alias; a "billion laughs" of 1 KB holds 10**9 (minutes and gigabytes to build).
MAX_NODES = 20_000


def load_located(text: str, file: str, max_nodes: int = MAX_NODES) -> Any:
    """Parse one YAML document into located containers; raise MatrixError on bad YAML."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters (a NUL byte) right here
        root = loader.get_single_node()
        if root is None:
            return None
        _check_size(root, file, max_nodes)
        return _build(loader, root, file, "")
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        name = "a NUL byte" if exc.character in (0, "\0") else f"character {_codepoint(exc.character)}"
        raise MatrixError(file, line, "", f"{name} is not allowed in YAML; remove it") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        marked = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise MatrixError(file, marked, "", f"invalid YAML: {problem}; fix the syntax at this line") from None
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        raise MatrixError(file, None, "", f"invalid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise MatrixError(file, None, "", "nested too deeply to be a matrix; check the file") from None
    finally:
        if loader is not None:
            loader.dispose()


def _codepoint(character: object) -> str:
    code = character if isinstance(character, int) else ord(str(character)[:1] or "\0")
    return f"U+{code:04X}"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_size(root: yaml.Node, file: str, max_nodes: int) -> None:
    """Refuse a document that is small as written and huge once built. An alias is the node its anchor
    names, shared: the composed graph stays as small as the file, the tree built from it does not. So the
    tree's size is counted on the graph, each node once (children before parents, without recursion),
    before anything is built; an alias inside the node it names (``&a [*a]``) would be built forever."""
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            ancestors.discard(id(node))
            sizes[id(node)] = min(max_nodes + 1, 1 + sum(sizes[id(child)] for child in _children(node)))
            continue
        if id(node) in sizes:
            continue
        ancestors.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in ancestors:
                raise MatrixError(file, _line(child), "", "an alias refers to a value that contains it; "
                                  "such a value never ends")
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes[id(root)] > max_nodes:
        raise MatrixError(file, None, "", f"more than {max_nodes} values once its aliases are expanded; a matrix "
                          "needs a few hundred: write the values out, or use fewer nested aliases")


def join_path(path: str, key: Any) -> str:
    """``windows[2].build``: the key path errors name."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _build(loader: yaml.SafeLoader, node: yaml.Node, file: str, path: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolve YAML merge keys (<<)
        result = LocatedDict()
        result.line = _line(node)
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise MatrixError(file, _line(key_node), join_path(path, str(key)),
                                  f"key {key!r} is a {type(key).__name__}; keys must be strings (quote it)")
            if key in result:
                raise MatrixError(file, _line(key_node), join_path(path, key),
                                  f"duplicate key (first on line {result.key_lines[key]}); keep one")
            result[key] = _build(loader, value_node, file, join_path(path, key))
            result.key_lines[key] = _line(key_node)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = LocatedList()
        items.line = _line(node)
        items.item_lines = []
        for index, item in enumerate(node.value):
            items.append(_build(loader, item, file, join_path(path, index)))
            items.item_lines.append(_line(item))
        return items
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, TypeError, OverflowError):
        # e.g. 2021-13-45 matches YAML's timestamp pattern but is no date
        kind = node.tag.rsplit(":", 1)[-1]
        raise MatrixError(file, _line(node), path,
                          f"{node.value!r} looks like a {kind} but is not a valid one; fix the value") from None
