"""The anchor: importance-sampled log Z per prompt (``estimators.py``), its diagnostics (``plots.py``), the exact check on
enumerable worlds (``exact.py``), the prompt-conditioned regressor (``regressor.py``) and the anchor stage (``stage.py``)."""
