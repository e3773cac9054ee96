"""``torch.nn.modules.module``: ``Module`` and the global module hooks, aliased from ``deepgrad.nn``."""
from ..hooks import (register_module_forward_hook, register_module_forward_pre_hook,  # noqa: F401
                     register_module_full_backward_hook, register_module_full_backward_pre_hook)
from ..module import Module  # noqa: F401
