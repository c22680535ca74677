"""Vagrant boxes of dunelab's own images (`dunelab image box`).

    from dunelab.box import build_box, Box
    result = build_box(image)          # BoxResult(box: Box, rebuilt: bool, message: str), cached by key
    result.box.catalog                 # box.json: `vagrant box add` it (dunelab.vagrant.add_box does)

What the box is (layout.py) and how it is made (build.py) are described there.
"""

from .build import Box, BoxResult, box_key, box_name, build_box
from .layout import kernel_cmdline

__all__ = ["Box", "BoxResult", "box_key", "box_name", "build_box", "kernel_cmdline"]
