"""The core: submission model, typed periods, settings, Vietnamese text. Imports nothing else."""
