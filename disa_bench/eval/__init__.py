"""Mean@k evaluation: config, grading and aggregation shared by both engines, our sampler (``evaluate.py``) and
lm-evaluation-harness (``lmeval.py``), bootstrap statistics (``metrics.py``) and the eval stage (``stage.py``)."""
