"""Orchestration above the stages: the ``run`` pipeline, its profiles, and the β × proposal-strength sweep."""
