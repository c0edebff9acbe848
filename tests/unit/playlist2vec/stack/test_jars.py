"""`stack jars`: Maven runs once per descriptor, its failure is one line, the command reports counts.

Maven and Java are fakes here (PATH and subprocess): the real resolution is what every
integration test's session fixture does first.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from playlist2vec.cli import main
from playlist2vec.errors import StackError
from playlist2vec.settings import Settings
from playlist2vec.stack import jars


class FakeMaven:
    """Stands in for `subprocess.run` of mvn: records the call, writes a jar per module (or fails)."""

    def __init__(self, returncode: int = 0, output: str = "") -> None:
        self.returncode, self.output = returncode, output
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv)
        if self.returncode == 0:
            target = Path(next(a for a in argv if a.startswith("-Dp2v.jars=")).split("=", 1)[1])
            for module in jars.MODULES:
                (target / module).mkdir(parents=True, exist_ok=True)
                (target / module / f"{module}-1.0.jar").write_bytes(b"jar")
        return subprocess.CompletedProcess(argv, self.returncode, self.output, "")


@pytest.fixture
def maven(monkeypatch: pytest.MonkeyPatch) -> FakeMaven:
    fake = FakeMaven()
    monkeypatch.setattr(jars.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(jars.subprocess, "run", fake)
    return fake


def settings_at(home: Path) -> Settings:
    return Settings.load({}, home=home)


def test_the_first_run_resolves_every_module_and_the_next_reuses_them(tmp_path: Path,
                                                                      maven: FakeMaven) -> None:
    settings = settings_at(tmp_path)
    target = jars.ensure_jars(settings)
    assert target == settings.jars_dir
    assert len(maven.calls) == 1 and maven.calls[0][:2] == ["/usr/bin/mvn", "-B"]
    assert f"-Dp2v.jars={target.resolve()}" in maven.calls[0]
    assert jars.ensure_jars(settings) == target
    assert len(maven.calls) == 1, "resolved jars of the same descriptor are reused"


def test_a_changed_descriptor_or_a_missing_module_resolves_again(tmp_path: Path, maven: FakeMaven) -> None:
    settings = settings_at(tmp_path)
    jars.ensure_jars(settings)
    (settings.jars_dir / ".resolved").write_text("an older pom")
    jars.ensure_jars(settings)
    assert len(maven.calls) == 2
    for jar in (settings.jars_dir / "mongo").glob("*.jar"):
        jar.unlink()
    jars.ensure_jars(settings)
    assert len(maven.calls) == 3


def test_a_maven_failure_is_its_first_error_line(tmp_path: Path, maven: FakeMaven) -> None:
    maven.returncode, maven.output = 1, "[INFO] x\n[ERROR] Could not resolve org.example:thing\n[ERROR] more"
    with pytest.raises(StackError, match=r"^Maven could not resolve the JVM dependencies: "
                                         r"\[ERROR\] Could not resolve org\.example:thing$"):
        jars.ensure_jars(settings_at(tmp_path))
    assert not (tmp_path / "jars" / ".resolved").exists(), "a failed resolution is tried again"


def test_without_maven_the_error_says_what_to_install(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jars.shutil, "which", lambda tool: None)
    with pytest.raises(StackError, match="`mvn` not found on PATH: install a JDK 17\\+ and Maven"):
        jars.ensure_jars(settings_at(tmp_path))


def test_stack_jars_prints_the_jars_of_each_module(tmp_path: Path, maven: FakeMaven,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path), "stack", "jars"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"kafka: 1 jars  mongo: 1 jars  spark-kafka: 1 jars  in {tmp_path / 'jars'}")


def test_stack_jars_fails_in_one_line_when_maven_does(tmp_path: Path, maven: FakeMaven,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    maven.returncode, maven.output = 1, "[ERROR] offline"
    assert main(["--home", str(tmp_path), "stack", "jars"]) != 0
    assert capsys.readouterr().err.strip() == (
        "error: Maven could not resolve the JVM dependencies: [ERROR] offline")
