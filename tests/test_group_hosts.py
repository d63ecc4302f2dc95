"""The Macs of `--hosts`: names or a host file in mlx.launch's format read with plain errors (anything but a Mac's name
or address refused), what keeps another Mac from training with this one, and ssh never reading a name as an option.
A second Mac cannot exist here: its answers are given as the facts it would send."""

import json
import shutil
import subprocess

import pytest

from macapp.engine.errors import InputError
from macapp.group import hosts

HERE = {"tailor": "0.1.0", "mlx": "0.32.4", "mlx_lm": "0.32.0", "rdma": True, "address": None, "caller": None,
        "system": "darwin", "macos": "15.6"}


def test_names_separated_by_commas_are_macs_to_reach_over_ssh():
    plan = hosts.read("studio.local, mini.local")
    assert plan == {"backend": "ring", "envs": [], "hosts": [{"ssh": "studio.local", "ips": [], "rdma": []},
                                                             {"ssh": "mini.local", "ips": [], "rdma": []}],
                    "given": "studio.local, mini.local"}
    with pytest.raises(InputError, match="a name is empty"):
        hosts.read("studio.local,,mini.local")


def test_a_host_file_in_mlx_launch_format_is_read(tmp_path):
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"backend": "jaccl", "envs": ["MLX_METAL_FAST_SYNCH=1"], "hosts": [
        {"ssh": "studio.local", "ips": ["10.0.0.1"], "rdma": [None, "rdma_en3"]},
        {"ssh": "mini.local", "ips": ["10.0.0.2"], "rdma": ["rdma_en3", None]}]}))
    plan = hosts.read(str(path))
    assert plan["backend"] == "jaccl" and plan["envs"] == ["MLX_METAL_FAST_SYNCH=1"]
    assert plan["hosts"][1] == {"ssh": "mini.local", "ips": ["10.0.0.2"], "rdma": ["rdma_en3", None]}
    path.write_text(json.dumps([{"ssh": "studio.local"}, {"ssh": "mini.local"}]))  # the list form
    assert [h["ssh"] for h in hosts.read(str(path))["hosts"]] == ["studio.local", "mini.local"]


@pytest.mark.parametrize("text, words", [
    ('{"hosts": [\n{"ssh": "a"},\n{"ssh": }]}', "hosts.json:3: this host file is not valid JSON"),
    ('{"macs": []}', 'lists the Macs under "hosts"'),
    ('{"hosts": [{"ssh": "a"}, {"name": "b"}]}', 'hosts[1]: each Mac needs "ssh"'),
    ('{"hosts": [{"ssh": "a", "ips": ["10.0.0.300"]}]}', "hosts[0].ips: '10.0.0.300' is not an IP address"),
    ('{"backend": "mpi", "hosts": [{"ssh": "a"}]}', "not 'mpi'"),
    ('{"backend": "jaccl", "hosts": [{"ssh": "a", "rdma": [null, "x"]}, {"ssh": "b", "rdma": ["x"]}]}',
     "hosts[1].rdma: with jaccl, each Mac lists one RDMA device per Mac"),
    ('{"envs": ["FAST"], "hosts": [{"ssh": "a"}]}', 'envs: give settings as a list of "NAME=value"'),
])
def test_a_host_file_that_cannot_be_used_says_where_and_how(tmp_path, text, words):
    path = tmp_path / "hosts.json"
    path.write_text(text)
    with pytest.raises(InputError) as raised:
        hosts.read(str(path))
    assert words in str(raised.value)


def test_a_missing_host_file_is_named():
    with pytest.raises(InputError, match="no such host file"):
        hosts.read("/nowhere/hosts.json")


def test_another_mac_with_other_versions_or_no_rdma_is_refused_with_its_fix():
    there = {**HERE, "mlx": "0.31.0", "rdma": False, "address": "10.0.0.2"}
    found = hosts.problems(HERE, there, "mini.local", "jaccl")
    assert [p["message"] for p in found] == [
        "mini.local has MLX 0.31.0 (this Mac: 0.32.4): Macs training together need the same versions.",
        "mini.local cannot use RDMA over Thunderbolt."]
    assert "same version of Tailor on mini.local" in found[0]["fix"] and "macOS 26.2" in found[1]["fix"]
    assert hosts.problems(HERE, {**HERE, "address": "10.0.0.2"}, "mini.local", "ring") == []
    assert hosts.problems(HERE, {**HERE, "rdma": False, "address": "10.0.0.2"}, "mini.local", "ring") == []
    assert "network address" in hosts.problems(HERE, HERE, "mini.local", "ring")[0]["message"]


def test_a_share_that_does_not_fit_a_macs_memory_is_refused_with_settings_that_fit():
    mac = hosts.Mac("mini.local", {})
    gb = 1024 ** 3
    tight = {"status": "tight", "predicted_bytes": 9 * gb, "limit_bytes": 10 * gb}
    assert hosts.memory_problem(mac, tight, 2, first=False) is None
    too_big = {"status": "too_big", "predicted_bytes": 14 * gb, "limit_bytes": 10 * gb,
               "suggestion": {"batch_size": 1, "grad_checkpoint": True, "max_seq_length": 512}}
    problem = hosts.memory_problem(mac, too_big, 2, first=False)
    assert problem["message"] == ("mini.local has room for 10.0 GB of training, and its share of each step needs "
                                  "about 14.0 GB.")
    assert problem["fix"] == ("In the settings, use a batch size of 2, turn on gradient checkpointing, keep examples "
                              "to 512 tokens. Or leave mini.local out.")  # the batch of all the Macs together
    mine = hosts.memory_problem(hosts.Mac("this Mac", {}), {**too_big, "suggestion": None}, 2, first=True)
    assert mine["fix"] == "Train a smaller model, or a 4-bit one."  # this Mac cannot be left out


def test_the_host_file_for_mlx_launch_puts_this_mac_first_on_the_address_the_others_reach():
    plan = {"backend": "ring", "envs": [], "hosts": [{"ssh": "mini.local", "ips": [], "rdma": []}]}
    macs = [hosts.Mac("this Mac", {"ssh": "this Mac", "ips": [], "rdma": []}, HERE),
            hosts.Mac("mini.local", plan["hosts"][0], {**HERE, "address": "10.0.0.2", "caller": "10.0.0.1"})]
    assert hosts.hostfile(macs, plan, "TAILOR_GROUP_NAMES=this Mac,mini.local") == {  # macOS 15: no workaround
        "backend": "ring", "envs": ["TAILOR_GROUP_NAMES=this Mac,mini.local"],
        "hosts": [{"ssh": "127.0.0.1", "ips": ["10.0.0.1"], "rdma": []},
                  {"ssh": "mini.local", "ips": ["10.0.0.2"], "rdma": []}]}


def test_with_rdma_each_macs_devices_follow_it_when_this_mac_becomes_the_first():
    entries = [{"ssh": "mini.local", "ips": ["10.0.0.2"], "rdma": [None, "en3"]},
               {"ssh": "studio.local", "ips": ["10.0.0.1"], "rdma": ["en5", None]}]
    plan = {"backend": "jaccl", "envs": [], "hosts": entries}
    macs = [hosts.Mac("this Mac", entries[1], HERE), hosts.Mac("mini.local", entries[0], HERE)]
    listed = hosts.hostfile(macs, plan, "TAILOR_GROUP_NAMES=this Mac,mini.local")["hosts"]
    assert [h["rdma"] for h in listed] == [[None, "en5"], ["en3", None]]
    assert [h["ips"] for h in listed] == [["10.0.0.1"], ["10.0.0.2"]]


def test_the_other_macs_get_the_gpu_watchdog_workaround_this_one_gets_when_one_runs_macos_26():
    # ssh passes none of this Mac's environment on: the host file carries it to every Mac
    plan = {"backend": "ring", "envs": [], "hosts": [{"ssh": "mini.local", "ips": ["10.0.0.2"], "rdma": []}]}
    macs = [hosts.Mac("this Mac", {"ssh": "this Mac", "ips": ["10.0.0.1"], "rdma": []}, HERE),
            hosts.Mac("mini.local", plan["hosts"][0], {**HERE, "macos": "26.1"})]
    envs = hosts.hostfile(macs, plan, "TAILOR_GROUP_NAMES=this Mac,mini.local")["envs"]
    assert envs == ["TAILOR_GROUP_NAMES=this Mac,mini.local", "AGX_RELAX_CDM_CTXSTORE_TIMEOUT=1"]


@pytest.mark.parametrize("name", ["mini.local", "sam@mini.local", "192.168.1.20", "sam@10.0.0.2", "fe80::1",
                                  "Sams-MacBook-Pro.local", "mac_mini"])
def test_names_and_addresses_of_macs_are_taken(name):
    assert hosts.read(f"studio.local,{name}")["hosts"][1]["ssh"] == name


@pytest.mark.parametrize("name", ["-oProxyCommand=touch pwned", "-p2222", "mini.local;touch pwned", "$(touch pwned)",
                                  "mini local", "@mini.local", "sam@-oProxyCommand=x", "-sam@mini", "mini..local",
                                  "mini-.local", "[fe80::1]", "m" * 300])
def test_anything_else_is_refused_naming_it_before_ssh_sees_it(name):
    with pytest.raises(InputError) as raised:
        hosts.read(f"studio.local,{name}")
    said = str(raised.value)
    assert said.startswith(f"--hosts: {name[:60]!r}"[:-1]) and "is not a Mac's name or address" in said
    assert "mini.local" in said.split("Give names")[1]  # what to write instead


def test_a_host_file_entry_that_is_not_a_name_is_refused_with_its_line(tmp_path):
    path = tmp_path / "hosts.json"
    path.write_text('{"hosts": [\n  {"ssh": "studio.local"},\n  {"ssh": "-oProxyCommand=touch pwned"}\n]}')
    with pytest.raises(InputError) as raised:
        hosts.read(str(path))
    assert str(raised.value).startswith(f"{path}:3: hosts[1].ssh: '-oProxyCommand=touch pwned' is not a Mac's name")
    path.write_text(json.dumps([{"ssh": "studio.local"}, {"ssh": "sam@mini.local", "ips": ["10.0.0.2"]}]))
    assert hosts.read(str(path))["hosts"][1]["ssh"] == "sam@mini.local"


def test_a_secret_in_a_host_files_settings_is_refused(tmp_path):
    # mlx.launch writes the settings into its ssh command line, which every user of either Mac sees in `ps`.
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps({"envs": ["HF_TOKEN=hf_abc"], "hosts": [{"ssh": "mini.local"}]}))
    with pytest.raises(InputError, match="envs: HF_TOKEN would show in the other Macs' list of processes") as raised:
        hosts.read(str(path))
    assert "hf_abc" not in str(raised.value)


def test_every_ssh_command_ends_ssh_options_before_the_mac(tmp_path, monkeypatch):
    """A stand-in ssh (another Mac cannot exist here) writes down the arguments of each command Tailor runs through
    ssh: asking a Mac's facts and sending it the run's files."""
    from tests.helpers import fake_commands

    said = tmp_path / "said"
    monkeypatch.setenv("PATH", fake_commands(tmp_path / "bin", ssh=f'printf "%s\\n" "$@" >> {said}; echo ---'
                                                                    f' >> {said}; cat > /dev/null; exit 255\n'))
    mac = hosts.Mac("mini.local", {"ssh": "mini.local", "ips": [], "rdma": []})
    hosts.check({"backend": "ring", "hosts": [mac.entry]}, {**HERE, "machine": "here"}, {})
    (tmp_path / "config.yaml").write_text("model: x\n")
    with pytest.raises(InputError, match="Copying the run's files to mini.local failed"):
        hosts.copy_to(mac, "run-1", [(tmp_path / "config.yaml", "runs/run-1/config.yaml")], lambda words: None)
    commands = [c.strip().split("\n") for c in said.read_text().split("---") if c.strip()]
    assert len(commands) == 2
    for arguments in commands:
        assert arguments[arguments.index("--") + 1] == "mini.local"
        assert all(a.startswith("-") or a.split("=")[0].isalpha() for a in arguments[:arguments.index("--")])


@pytest.mark.skipif(not shutil.which("ssh"), reason="needs OpenSSH's ssh")
def test_with_the_end_of_options_openssh_never_reads_a_name_as_an_option(tmp_path):
    # Names are checked before they get here; this shows the second guard alone holds: OpenSSH takes it as a host.
    command = hosts._agent(f"-oProxyCommand=touch {tmp_path / 'pwned'}", "facts")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 255 and not (tmp_path / "pwned").exists(), done.stderr
