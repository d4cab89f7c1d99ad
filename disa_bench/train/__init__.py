"""The one training engine every method shares: the loop (``engine.py``), its config (``config.py``), the store
as training data (``data.py``), online rollouts (``online.py``), counts and the summary (``accounting.py``) and
the train stage (``stage.py``). Methods (``disa_bench.methods``) own only their loss and declared hooks."""
