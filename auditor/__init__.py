"""auditor: audit a language model for hidden backdoors before it is deployed.

Pipeline (one package each): resolve the model -> scan its files -> probe its
behaviour -> judge against policy -> write and sign the report.
"""

__version__ = "0.1.0"
