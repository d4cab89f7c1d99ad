"""The embedded models: shipped copies are reused by recipe hash; the builder makes ordinary HF model dirs."""

import json

from conftest import run_cli
from disa_bench.world import embedded


def test_base_reuses_shipped_models_and_writes_a_manifest(tmp_path):
    r = run_cli("base", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "o" / "manifest.json").read_text())
    for name in ("base", "teacher"):
        assert m["models"][name]["path"] == str(embedded.ASSETS / name)
        shipped = json.loads((embedded.ASSETS / name / "recipe.json").read_text())
        assert m["models"][name]["recipe_hash"] == shipped["hash"] == embedded.recipe_hash(name)
        assert shipped["recipe"]["steps"] == embedded.CHECKPOINTS[name]


def test_builder_makes_a_loadable_llama_dir_with_its_recipe(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = tmp_path / "b"
    embedded.train_embedded(3, {3: ("base", d)}, seed=7, device="cpu")
    info = json.loads((d / "recipe.json").read_text())
    assert info["hash"] == embedded.recipe_hash("base", 7) != embedded.recipe_hash("base")
    assert info["recipe"]["seed"] == 7
    model = AutoModelForCausalLM.from_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    assert model.config.model_type == "llama"
    s = "Use 3 5 7 to make 22: 3*5+7=22"
    assert tok.decode(tok(s)["input_ids"]) == s


def test_unknown_embedded_name_is_one_error_line(tmp_path):
    r = run_cli("base", "--name", "giant", "--out", tmp_path / "o")
    assert r.exit_code == 2 and r.stderr.strip().startswith("error: unknown embedded model 'giant'")
    assert not (tmp_path / "o").exists()
