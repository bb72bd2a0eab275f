"""An example progalign plug-in: one algorithm and one challenge.

* :class:`~progalign_example.chosen_sft.ChosenSFT` — supervised fine-tuning on the responses the
  human proxy chose (registered as ``ChosenSFT``).
* :class:`~progalign_example.follow_last.FollowLast` — similarity to the last century only
  (registered as ``follow-last``).

progalign finds them through the ``progalign.plugins`` entry points declared in this package's
``pyproject.toml``; importing this package registers both.
"""

from progalign_example.chosen_sft import ChosenSFT
from progalign_example.follow_last import FollowLast

__all__ = ["ChosenSFT", "FollowLast"]
__version__ = "0.1.0"
