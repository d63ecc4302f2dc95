"""A Mac that stays up: the memory cap, the macOS 26 GPU watchdog workaround, and the GPU's failures in plain words.

Metal and macOS are not available on these Linux machines, so the Mac-only parts are tested through their decision
logic (gpu_guard's functions, given what a Mac reports); the memory stop and the failures' path through a training
run are tested for real on the demo model.
"""

import pytest

from macapp import jobs
from macapp.engine.check import gpu_guard, mlx_device
from macapp.engine.check.gpu_guard import GIB
from macapp.engine.errors import RunFailed
from macapp.engine.models import memory
from macapp.engine.train import training
from tests.helpers import train_settings as settings

# The GPU working sets macOS 14 and 15 report (max_recommended_working_set_size) on 8, 16 and 32 GB Macs: 2/3 of the
# memory below 36 GB (llama.cpp's logs show 5461.34, 10922.67 and 21845.34 MiB), 3/4 from 36 GB on. macOS 26 can
# report more (10.7 -> 11.8 GB on a 16 GB M3; 107.5 GiB of 128), so Tailor reads it from MLX rather than assume it.
WORKING_SETS = {8: 5_726_623_744, 16: 11_453_251_584, 32: 22_906_503_168}
WATCHDOG = "[METAL] Command buffer execution failed: Impacting Interactivity " \
           "(0000000e:kIOGPUCommandBufferCallbackErrorImpactingInteractivity)."


@pytest.mark.parametrize("memory_gb, cap_gb, said", [(8, 4.0, "4.3"), (16, 9.6, "10.3"), (32, 19.2, "20.6")])
def test_the_memory_cap_of_8_16_and_32_gb_macs(memory_gb, cap_gb, said):
    """Decision logic, since Metal is not available here: 90% of the GPU's working set, and never the last 4 GB
    macOS and the window need (which is what holds an 8 GB Mac to 4 GB)."""
    cap = gpu_guard.memory_cap(WORKING_SETS[memory_gb], memory_gb * GIB)
    assert gpu_guard.typical_working_set(memory_gb * GIB) == pytest.approx(WORKING_SETS[memory_gb], rel=1e-3)
    assert memory.mac_limit(memory_gb * GIB) == pytest.approx(cap, rel=1e-3)  # what the catalog judges other Macs by
    assert cap / GIB == pytest.approx(cap_gb, abs=0.05) and cap < WORKING_SETS[memory_gb]
    assert gpu_guard.cap_words(cap, memory_gb * GIB) == (
        f"Training may use up to {said} GB of your {memory_gb} GB; beyond that it stops safely instead of "
        "slowing the Mac down.")


def test_elsewhere_training_may_use_what_mlx_itself_allows():
    import mlx.core as mx

    assert mlx_device.machine_limit() == mx.get_memory_limit()  # the CPU backend's own: 80% of the memory


@pytest.mark.parametrize("system, version, relaxed", [
    ("darwin", "26.0", True), ("darwin", "26.1", True),
    ("darwin", "16.0", True),  # macOS 26 as it names itself to a Python built for an older macOS
    ("darwin", "15.5", False), ("darwin", "", False), ("linux", "26.1", False)])
def test_the_watchdog_workaround_is_in_a_workers_environment_on_macos_26_only(monkeypatch, system, version, relaxed):
    """Decision logic, since macOS is not available here: the environment jobs.start gives a worker, built for the
    platform and macOS version given."""
    monkeypatch.delenv(gpu_guard.WATCHDOG_VARIABLE, raising=False)
    env = jobs.worker_environment(system, version)
    assert env.get(gpu_guard.WATCHDOG_VARIABLE) == ("1" if relaxed else None)
    assert env["TAILOR_BLAS_CHECKED"] == "1"  # built on blas's environment, as before


def test_a_watchdog_setting_the_user_chose_is_kept(monkeypatch):
    """Decision logic, since macOS is not available here."""
    monkeypatch.setenv(gpu_guard.WATCHDOG_VARIABLE, "0")
    assert jobs.worker_environment("darwin", "26.1")[gpu_guard.WATCHDOG_VARIABLE] == "0"


@pytest.mark.parametrize("message, kind, words", [
    (WATCHDOG, "watchdog", "macOS stopped the training at step 7"),
    ("[METAL] Command buffer execution failed: Caused GPU Timeout Error "
     "(00000002:kIOGPUCommandBufferCallbackErrorTimeout).", "watchdog", "busy too long"),
    ("[METAL] Command buffer execution failed: Insufficient Memory "
     "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory).", "memory", "ran out of memory at step 7"),
    ("[malloc] Unable to allocate 8589934592 bytes.", "memory", "ran out of memory"),
    ("[metal::malloc] Attempting to allocate 40000000000 bytes which is greater than the maximum allowed buffer size "
     "of 17179869184 bytes.", "memory", "ran out of memory"),
    ("[METAL] Command buffer execution failed: Internal Error (0000000e:Internal Error).", "gpu",
     "The graphics processor failed at step 7")])
def test_metal_errors_become_the_plain_failure_with_resume(message, kind, words):
    """Decision logic, since Metal is not available here: the messages MLX 0.32 raises as RuntimeErrors (from
    mlx/backend/metal/allocator.cpp and device.cpp), with Metal's reasons as reported in mlx issue 3267 and mlx
    pull request 479."""
    assert gpu_guard.failure_kind(message) == kind
    failed = gpu_guard.failure(kind, 7, 5)
    assert words in str(failed) and "(step 5) is kept: the run can be resumed" in str(failed)
    assert "[METAL]" not in str(failed) and failed.fix
    if kind == "memory":
        assert all(setting in failed.fix for setting in ("batch size", "gradient checkpointing", "maximum length",
                                                         "QLoRA"))
    assert "start it again" in str(gpu_guard.failure(kind, 2, None))  # nothing saved yet: nothing to resume


def test_other_errors_are_not_taken_for_the_gpus():
    assert gpu_guard.failure_kind("[write] Unable to write 1024 bytes to file.") is None
    assert gpu_guard.failure_kind("[reshape] Cannot reshape array of size 6 into shape (4).") is None


def test_a_run_past_mlxs_memory_limit_stops_plainly_and_resumes_from_its_checkpoint(demo_data, tmp_path):
    """Real, on the demo model. MLX's CPU backend does not enforce its memory limit itself: its allocator never
    looks at it (mlx/backend/no_gpu/allocator.cpp), so an allocation past it succeeds, and one the system refuses
    ends the process. Metal's allocator does not refuse at the limit either. So Tailor checks each step's peak
    against the limit, and that check is what is tested here: the limit drops below the peak after step 4."""
    import mlx.core as mx

    normal = mx.get_memory_limit()
    events = []

    def report(event):
        events.append(event)
        if event["type"] == "train":
            mx.set_memory_limit(int(mx.get_peak_memory() // 2))

    try:
        beyond = mx.ones((1_000_000,))
        mx.set_memory_limit(1_000)
        mx.eval(beyond * 2)  # the CPU backend computes past its limit
        mx.set_memory_limit(normal)
        with pytest.raises(RunFailed) as caught:
            training.train(settings(demo_data, iters=12), tmp_path / "adapters", report,
                           checkpoint_dir=tmp_path / "checkpoints")
    finally:
        mx.set_memory_limit(normal)
    assert str(caught.value).startswith("Training needed more memory than the 0.0 GB it may use, at step 4, so "
                                        "Tailor stopped it before the computer slowed down.")
    assert "Its last checkpoint (step 4) is kept: the run can be resumed from there." in str(caught.value)
    assert "smaller batch size" in caught.value.fix
    assert [e["iteration"] for e in events if e["type"] == "checkpoint"] == [4]  # saved as it stopped
    assert not list(tmp_path.glob("adapters/.*tmp*"))
    resumed = training.train(settings(demo_data, iters=12), tmp_path / "adapters",
                             checkpoint_dir=tmp_path / "checkpoints", resume=True)
    assert resumed["resumed_from"] == 4 and resumed["iterations"] == 12


def test_a_metal_error_in_a_run_becomes_the_plain_failure(demo_data, tmp_path):
    """Metal is not available here: MLX's own exception type (RuntimeError) with Metal's real watchdog message is
    raised from within a real run's step (its report), where MLX raises it when the step is evaluated."""
    def report(event):
        if event["type"] == "train" and event["iteration"] == 8:
            raise RuntimeError(WATCHDOG)

    with pytest.raises(RunFailed) as caught:
        training.train(settings(demo_data, iters=12), tmp_path / "adapters", report,
                       checkpoint_dir=tmp_path / "checkpoints")
    assert str(caught.value).startswith("macOS stopped the training at step 8")
    assert "Its last checkpoint (step 5) is kept" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not list(tmp_path.glob("adapters/.*tmp*"))
