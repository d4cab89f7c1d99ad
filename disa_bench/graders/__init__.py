"""Graders: one function per kind of answer, used both as RL reward and as eval metric."""
