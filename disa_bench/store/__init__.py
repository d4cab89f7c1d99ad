"""The trajectory store: its schema (``schema.py``), filling it from a proposal (``propose.py``) and the propose stage
(``stage.py``). See docs/store.md."""
