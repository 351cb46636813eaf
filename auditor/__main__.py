"""`python -m auditor` == the `auditor` console script."""

from .cli import main

main()
