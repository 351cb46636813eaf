"""Safety training and weight perturbations on working copies, for the persistence check.

`datasets` (chat JSONL loading/validation/encoding), `sft` (full fine-tuning or
LoRA), `adversarial` (red-team prompt construction), `perturb` (int8, noise,
pruning), `workspace` (copies that never touch the user's model), `cost`
(measured and estimated memory/time). Importing this package imports torch.
"""
