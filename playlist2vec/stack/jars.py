"""JVM dependencies of the local stack, resolved once from Maven Central by deploy/jvm/pom.xml."""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

from playlist2vec.errors import StackError
from playlist2vec.settings import Settings

log = logging.getLogger(__name__)

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
POM = DEPLOY_DIR / "jvm" / "pom.xml"
MODULES = ("kafka", "mongo", "spark-kafka")


def require(tool: str) -> str:
    """The path of `tool` on PATH, or a one-line StackError."""
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"`{tool}` not found on PATH: install a JDK 17+ and Maven")
    return path


def _descriptor_digest() -> str:
    digest = hashlib.sha256()
    for pom in sorted(POM.parent.rglob("pom.xml")):
        digest.update(pom.read_bytes())
    return digest.hexdigest()[:16]


def ensure_jars(settings: Settings) -> Path:
    """Resolve the jars into P2V_HOME/jars/<module>/ unless already done for this descriptor."""
    target = settings.jars_dir
    stamp = target / ".resolved"
    digest = _descriptor_digest()
    if (
        stamp.exists()
        and stamp.read_text() == digest
        and all(any((target / m).glob("*.jar")) for m in MODULES)
    ):
        return target
    mvn = require("mvn")
    require("java")
    log.info("resolving JVM dependencies with Maven into %s (first run only)", target)
    for module in MODULES:
        shutil.rmtree(target / module, ignore_errors=True)
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(POM), "package", f"-Dp2v.jars={target.resolve()}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "ERROR" in ln]
        raise StackError(f"Maven could not resolve the JVM dependencies: {(lines or ['see mvn output'])[0]}")
    stamp.write_text(digest)
    return target


def classpath(settings: Settings, module: str) -> str:
    return str((settings.jars_dir / module).resolve() / "*")
