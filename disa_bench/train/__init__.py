"""The one training engine every method shares (``engine.py``), its config (``config.py``) and the train stage
(``stage.py``). Methods (``disa_bench.methods``) own only their loss."""
