"""The pass/fail rule of a GGUF's measured fidelity: top-1 agreement counts only where the model is sure of the
next word (near-ties flip with any rounding), the KL divergence always; the message names what missed its bar."""

from dataclasses import asdict

from macapp.engine.export import fidelity


def measured(outtype: str, top1: float, sure: int, kl: float) -> fidelity.Fidelity:
    return fidelity.Fidelity(outtype, {"same": True, "texts": 30}, {"top1": top1, "kl": kl, "positions": 1024,
                                                                     "sure": sure},
                             {"same": True}, asdict(fidelity.BARS[outtype]))


def test_a_model_that_is_rarely_sure_is_judged_by_its_kl_alone():
    """A briefly tuned random model: no word is sure, so llama.cpp's picks among near-ties say nothing."""
    flat = measured("q8_0", top1=0.0, sure=fidelity.MIN_SURE - 1, kl=0.004)
    assert flat.passed and "too rarely to count" in flat.words() and "0.0040 (KL divergence" in flat.words()
    assert not measured("q8_0", top1=1.0, sure=0, kl=0.3).passed


def test_flips_where_the_model_is_sure_fail_and_are_named():
    sure = measured("Q4_K_M", top1=0.6, sure=700, kl=0.05)
    assert not sure.passed
    assert sure.failure() == ("The GGUF does not answer like the model it came from: where your model is sure of "
                              "the next word, llama.cpp picks the same one only 60.0% of the time (at least 85% "
                              "needed for Q4_K_M). Choose a type with more bits.")
    both = measured("bf16", top1=0.5, sure=700, kl=0.8).failure()
    assert "; and its word probabilities differ from your model's by 0.8000" in both
    assert both.endswith("not converted faithfully by llama.cpp's converter.")
    good = measured("bf16", top1=1.0, sure=700, kl=0.001)
    assert good.passed and good.words().startswith("llama.cpp picks the same next word as your model 100.0% of the "
                                                   "time where your model is sure of it (700 of 1024 words")
