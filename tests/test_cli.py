"""Command line: `posebook train/eval` argument handling, SIGKILL + --resume equals an
uninterrupted run, config mismatch and unknown keys are clear errors."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import posebook
from posebook import checkpoint, cli, profiles

SMOKE = ["--profile", "smoke", "--no-progress", "--set", "checkpoint_every=10"]


def _env(runs: Path) -> dict:
    return {**os.environ, "POSEBOOK_RUNS": str(runs), "POSEBOOK_PROFILE": "smoke",
            "OMP_NUM_THREADS": "1"}


def _posebook(runs: Path, *args, check=True, python=(sys.executable,)):
    proc = subprocess.run([*python, "-m", "posebook", *args], env=_env(runs),
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"posebook {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_unknown_set_key_lists_valid_keys(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    code = cli.main(["train", "--name", "x", "--profile", "smoke", "--set", "stepz=3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown config key 'stepz'" in err and "'steps'" in err and "'lr_max'" in err
    assert not (tmp_path / "x").exists()


def test_bad_value_type(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    assert cli.main(["train", "--name", "x", "--profile", "smoke", "--set", "steps=abc"]) == 2
    assert "expects int" in capsys.readouterr().err


def test_resume_without_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    assert cli.main(["train", "--name", "nothing", "--resume", "--profile", "smoke"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_eval_missing_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEBOOK_RUNS", str(tmp_path))
    assert cli.main(["eval", str(tmp_path / "nope")]) == 2
    assert "no run" in capsys.readouterr().err


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    runs = tmp_path / "runs"
    _posebook(runs, "train", "--name", "whole", *SMOKE)

    proc = subprocess.Popen([sys.executable, "-m", "posebook", "train", "--name", "killed",
                             *SMOKE], env=_env(runs), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last = runs / "killed" / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (runs / "killed" / "metrics.json").exists(), "run finished before the kill"
    killed_at = checkpoint.load(last)["step"]
    assert 0 < killed_at < 120

    # resuming with a different config is an error listing the differing keys
    bad = _posebook(runs, "train", "--name", "killed", "--resume", *SMOKE, "--set", "lr_max=0.5",
                    "--set", "batch_size=8", check=False)
    assert bad.returncode == 2
    assert "differing keys" in bad.stderr and "lr_max" in bad.stderr and "batch_size" in bad.stderr
    # resuming without a profile takes the run's saved config
    _posebook(runs, "train", "--name", "killed", "--resume", "--no-progress")

    whole = json.loads((runs / "whole" / "metrics.json").read_text())
    resumed = json.loads((runs / "killed" / "metrics.json").read_text())
    for key in ("test", "test_occluded", "variants"):
        assert resumed[key] == whole[key]
    a = checkpoint.load(runs / "whole" / "checkpoints" / "last.pt")
    b = checkpoint.load(runs / "killed" / "checkpoints" / "last.pt")
    assert a["history"]["loss"] == b["history"]["loss"]
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name

    # a second plain `train` on an existing run refuses; eval works on it
    again = _posebook(runs, "train", "--name", "whole", *SMOKE, check=False)
    assert again.returncode == 2 and "--resume" in again.stderr
    out = _posebook(runs, "eval", str(runs / "whole"), "--no-flip", "--split", "test").stdout
    assert "MPJPE" in out and "flip=False" in out


def _all_parsers(parser):
    """`parser` and every subcommand's parser, with the command path that reaches it."""
    yield "posebook", parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"posebook {name}", sub


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"posebook {posebook.__version__}"


def test_help_is_plain_text_and_describes_every_option():
    parsers = list(_all_parsers(cli.build_parser()))
    assert [name for name, _ in parsers][1:] == [f"posebook {c}" for c in cli.COMMANDS]
    for name, parser in parsers:
        text = parser.format_help()
        assert "``" not in text and ":func:" not in text, f"{name} --help shows markup"
        undocumented = [a.option_strings or [a.dest] for a in parser._actions
                        if not a.help and not isinstance(a, argparse._SubParsersAction)]
        assert not undocumented, f"{name}: options without help text: {undocumented}"


def test_train_help_states_the_default_profile_rule_as_readme_does():
    words = " ".join(cli.build_parser()._subparsers._group_actions[0].choices["train"]
                     .format_help().split())
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    rule = " ".join(profiles.DEFAULT_RULE.split())
    assert "gpu_small" in rule and "Binder" in rule
    assert rule in words and rule in readme


def test_python_m_posebook_runs_the_same_command_line_and_answers_version_and_help_at_once(
        tmp_path):
    """``python -m posebook`` (posebook/__main__.py, a new process); ``--version`` and ``--help``
    import no command's module (torch, OpenCV: seconds), only the command typed is imported."""
    for args, expected in ((["--version"], f"posebook {posebook.__version__}"),
                           (["--help"], "Run 'posebook COMMAND --help' for a command's options.")):
        proc = _posebook(tmp_path, *args, python=[sys.executable, "-X", "importtime"])
        assert expected in " ".join(proc.stdout.split())
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()}
        assert not imported & {"torch", "cv2", *(m for m, _ in cli.COMMANDS.values())}, args

