"""Stage 4 of the pipeline: the policy decides what the findings mean."""

from .judge import Judgement, judge
from .model import Policy, load_policy

__all__ = ["Judgement", "Policy", "judge", "load_policy"]
