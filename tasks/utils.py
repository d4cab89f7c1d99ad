# lm-eval hooks for the disa_<task> YAMLs: all logic lives in disa_bench.eval.lmeval (this file only re-exports it).
from disa_bench.eval.lmeval import doc_to_text, keep_all, load_docs, process_results  # noqa: F401
