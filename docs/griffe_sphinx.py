"""A Griffe extension for the API pages: the docstrings' Sphinx markup as mkdocstrings renders it.

The package's docstrings are written for ``help()`` and for readers of the source, in the Sphinx
style Python's scientific libraries use (``:func:`~tfmusictag.tagging.tag_files```,
``Example::`` before an indented block). mkdocstrings would show those roles as raw text, so
before rendering this extension rewrites, in every docstring of the package:

* each role (``:mod:``, ``:func:``, ``:class:``, ``:meth:``, ``:attr:``, ``:data:``, ``:exc:``)
  into an autorefs cross-reference to the object it names, resolved with Griffe from the
  docstring's own module, class and package (a leading ``~`` shows the last name only). A name
  that is not on the API pages stays as code (the reference is ``optional``);
* a paragraph ending in ``::`` followed by an indented block into the paragraph and a fenced
  Python block (``Example::`` becomes ``For example:``, which Google-style parsing does not
  mistake for a section of doctests).
"""

from __future__ import annotations

import html
import re
import textwrap

import griffe

_ROLE = re.compile(r":(mod|func|class|meth|attr|data|exc|obj):`(~?)([^`<]+?)`")
_LITERAL_BLOCK = re.compile(r"(?m)^(?P<indent>[ \t]*)(?P<text>[^\n]*?)::[ \t]*\n(?P<blank>[ \t]*\n)+"
                            r"(?P<body>(?:(?P=indent)[ \t]+[^\n]*\n|[ \t]*\n)+)")


def _member(obj, parts):
    for part in parts:
        try:
            if isinstance(obj, griffe.Alias):
                obj = obj.final_target
            obj = obj.members[part]
        except (KeyError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    try:
        return obj.final_target if isinstance(obj, griffe.Alias) else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _resolve(name: str, context, package) -> str:
    """The canonical path of ``name`` as seen from ``context`` (an object of ``package``), or
    ``name`` itself when Griffe cannot find it."""
    parts = name.split(".")
    if parts[0] == package.name:
        found = _member(package, parts[1:])
        return found.canonical_path if found is not None else name
    scope = context
    while scope is not None:  # the object itself, its class, module, parent packages
        found = _member(scope, parts)
        if found is not None:
            return found.canonical_path
        scope = scope.parent
    return name


def convert(text: str, context, package) -> str:
    """``text`` (a docstring) with its roles as cross-references and its ``::`` blocks fenced."""

    def role(match):
        kind, short, name = match.group(1), match.group(2), match.group(3).strip()
        name = name.rstrip("()")
        shown = name.split(".")[-1] if short else name
        if kind in ("func", "meth"):
            shown += "()"
        target = _resolve(name, context, package)
        return (f'<autoref identifier="{html.escape(target)}" optional>'
                f"<code>{html.escape(shown)}</code></autoref>")

    def block(match):
        indent, lead = match.group("indent"), match.group("text")
        body = textwrap.dedent(match.group("body")).rstrip("\n")
        lead = {"Example": "For example:", "Examples": "For example:"}.get(lead.strip(), lead.rstrip() + ":")
        lines = [indent + lead, "", indent + "```python"]
        lines += [(indent + line) if line.strip() else "" for line in body.splitlines()]
        return "\n".join(lines + [indent + "```", "", ""])

    text = _LITERAL_BLOCK.sub(block, text + "\n").rstrip("\n")
    return _ROLE.sub(role, text)


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg, **kwargs):
        seen = set()

        def walk(obj):
            if id(obj) in seen or isinstance(obj, griffe.Alias):
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj, pkg)
            for member in obj.members.values():
                walk(member)

        walk(pkg)
