"""A griffe extension for the API pages: a module keeps only its public names.

deepgrad's packages re-export their modules' names (``from .container import Sequential``, ``from .ops import *``),
mostly without ``__all__``, and the pages read modules live (``force_inspection``), where griffe cannot tell an
imported name from a defined one. A module's name stays if it is in the module's ``__all__`` when it has one, else
if it is defined in deepgrad (not NumPy or the standard library passing through). mkdocs.yml's filter then drops
names with a leading underscore.
"""
import griffe


def _public(module, member):
    if module.exports:
        return member.name in module.exports
    return not member.is_alias or member.target_path.startswith("deepgrad.")


class PublicNames(griffe.Extension):
    def on_module_members(self, *, mod, **kwargs):
        for name in [name for name, member in mod.members.items() if not _public(mod, member)]:
            del mod.members[name]
