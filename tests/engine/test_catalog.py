"""The model catalog: its config numbers against the publishers' parameter counts, and its fit badges against the
memory prediction for 8, 16 and 32 GB Macs (the limit each would give, as gpu_guard caps it)."""

import pytest

from macapp.engine.check.gpu_guard import GIB
from macapp.engine.models import catalog, memory
from macapp.engine.train import config, presets

LENGTH = 512


def settings(method: str = "lora"):
    values = {**presets.GENERIC, **presets.PRESETS["balanced"][2], "fine_tune_type": presets.METHODS[method][1]}
    return config.from_dict(values, source="settings")


def test_each_entry_is_complete_and_its_numbers_give_the_publishers_parameter_count():
    entries = catalog.entries()
    assert len({entry.key for entry in entries}) == len(entries) >= 15
    families = {entry.config["model_type"] for entry in entries}
    assert {"llama", "qwen2", "qwen3", "gemma3_text", "mistral", "phi3"} <= families
    for entry in entries:
        assert memory.parameter_count(entry.config) == pytest.approx(entry.parameters, rel=0.04), entry.key
        assert set(entry.forms) <= set(catalog.BITS) and "4bit" in entry.forms, entry.key
        assert all(repo.startswith("mlx-community/") for repo in entry.forms.values())
        assert entry.licence and entry.licence_url.startswith("https://") and 20 < len(entry.good_at) < 110
        assert catalog.find(entry.key) == (entry, next(iter(entry.forms)))
        assert catalog.find(entry.forms["4bit"].upper()) == (entry, "4bit")  # the hub's names ignore case
    llama = catalog.find("llama-3.2-1b")[0]
    assert llama.download_bytes("4bit") / 1e9 == pytest.approx(0.70, abs=0.05)  # mlx-community's file: 695 MB
    assert llama.download_bytes("bf16") / 1e9 == pytest.approx(2.47, abs=0.05)


@pytest.mark.parametrize("memory_gb", [8, 16, 32])
def test_the_fit_badges_are_the_memory_predictions_for_8_16_and_32_gb_macs(memory_gb):
    limit = memory.mac_limit(memory_gb * GIB)
    train = settings()
    for row in catalog.table(train, LENGTH, limit):
        entry = row["entry"]
        plans = {form: memory.plan(entry.model_config(form), train, LENGTH, limit) for form in entry.forms}
        best = min(catalog.STATUS_ORDER.index(plan["status"]) for plan in plans.values())
        assert row["status"] == catalog.STATUS_ORDER[best], entry.key
        assert plans[row["form"]]["status"] == row["status"]
        if row["status"] != "too_big":  # the largest form that fits that well: full precision before 4 bits
            assert row["form"] == next(form for form in entry.forms if plans[form]["status"] == row["status"])
        elif row["suggestion"]:  # the settings offered do fit
            fitted = config.from_dict({**train.to_dict(), "batch_size": row["suggestion"]["batch_size"],
                                       "grad_checkpoint": row["suggestion"]["grad_checkpoint"]})
            predicted = memory.predict(entry.model_config(row["form"]), fitted, row["suggestion"]["max_seq_length"])
            assert predicted["total"] < 0.8 * limit
        assert row["download_bytes"] == entry.download_bytes(row["form"])


def test_more_memory_never_fits_fewer_models_and_the_badges_read_as_a_person_expects():
    statuses = {gb: {row["entry"].key: row["status"]
                     for row in catalog.table(settings(), LENGTH, memory.mac_limit(gb * GIB))} for gb in (8, 16, 32)}
    rank = catalog.STATUS_ORDER.index
    for key in statuses[8]:
        assert rank(statuses[8][key]) >= rank(statuses[16][key]) >= rank(statuses[32][key]), key
    assert all(statuses[gb]["smollm2-135m"] != "too_big" for gb in (8, 16, 32))
    assert statuses[8]["llama-3.1-8b"] == statuses[16]["llama-3.1-8b"] == "too_big"
    assert statuses[32]["llama-3.2-1b"] == "ok"


def test_qlora_judges_a_4_bit_copy_and_a_full_fine_tune_only_full_precision():
    limit = memory.mac_limit(16 * GIB)
    gemma = catalog.find("gemma-3-4b")[0]  # in the catalog as 4-bit only
    assert catalog.fit(gemma, settings("full"), LENGTH, limit)["form"] is None
    smol = catalog.find("smollm2-360m")[0]
    qlora = catalog.fit(smol, settings("qlora"), LENGTH, limit, method_bits=4)
    assert qlora["form"] == "4bit"
    assert qlora["predicted_bytes"] < memory.plan(smol.model_config("bf16"), settings(), LENGTH, limit)[
        "predicted_bytes"]


def test_a_catalog_name_given_as_a_model_names_its_repositories(tmp_path, monkeypatch):
    from macapp.engine.models import models, obtain

    monkeypatch.chdir(tmp_path)
    with pytest.raises(models.ModelError, match="give one of its repositories instead, "
                                                "mlx-community/Qwen3-1.7B-bf16 or mlx-community/Qwen3-1.7B-4bit"):
        obtain.resolve("qwen3-1.7b")
