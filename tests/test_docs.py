"""Tests of the documentation site: the strict build, the page examples, the
numbers quoted in the derivations and the offline configuration.

The site is built once per test session into a temporary directory, in a
background process that runs while the page examples run here.
``test_docs_browser.py`` opens the same build in headless Chromium.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))  # the hooks module, for its study-table readers
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5" / "tex-svg.js"
PYTHON_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


@functools.cache
def start_build() -> tuple[subprocess.Popen, Path, Path]:
    """Start ``mkdocs build --strict`` in the background, once per session.

    The build runs while the page examples run in this process, which uses
    both cores of a two-core machine. Returns the process, the site directory
    and the file that receives the build's output.
    """
    if not MATHJAX.is_file():
        pytest.fail(f"{MATHJAX} is missing: run `npm ci` at the repository root")
    site = Path(tempfile.mkdtemp(prefix="site-"))
    output = site.with_name(site.name + ".log")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    with output.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mkdocs",
                "build",
                "--strict",
                "--site-dir",
                str(site),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    atexit.register(_clean_up, process, site, output)
    return process, site, output


@functools.cache
def build_site() -> Path:
    """Wait for the build of ``start_build`` and return the site directory."""
    process, site, output = start_build()
    returncode = process.wait(timeout=300)
    log = output.read_text(encoding="utf-8")
    assert returncode == 0, f"mkdocs build failed:\n{log[-5000:]}"
    return site


def _clean_up(process: subprocess.Popen, site: Path, output: Path) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    shutil.rmtree(site, ignore_errors=True)
    output.unlink(missing_ok=True)


@pytest.fixture(autouse=True, scope="module")
def build_in_background():
    start_build()


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def python_blocks(page: Path) -> list[str]:
    return PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


@pytest.mark.parametrize("page", [p for p in pages() if python_blocks(p)], ids=page_id)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}

    for number, block in enumerate(python_blocks(page), start=1):
        code = compile(block, f"{page_id(page)} block {number}", "exec")
        exec(code, namespace)


@pytest.mark.parametrize(
    "page",
    [*sorted((DOCS / "course").glob("*.md")), DOCS / "case-study.md"],
    ids=page_id,
)
def test_derivation_page_computes_its_claims(page):
    assert python_blocks(page), f"{page_id(page)} has no code block that checks it"


RERUN_STUDY = (
    "rerun `python -m foundations.optim.study --out DIR`, copy DIR/results.csv "
    "to docs/data/optimizer-study.csv and update the page's claims and date"
)


def study_rows(problem: str) -> dict[str, dict[str, str]]:
    import hooks

    rows = hooks.read_optimizer_study()
    return {row["optimizer"]: row for row in rows if row["problem"] == problem}


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
def test_optimizer_study_record_reproduces(problem):
    import hooks

    from foundations.optim import study

    built = study.PROBLEMS[problem](False)
    for label, (rule, _) in study.OPTIMIZERS.items():
        row = study_rows(problem)[label]
        settings = hooks.parse_hyperparameters(row["hyperparameters"])
        run = study.run_optimizer(built, rule, settings, label)

        steps = "" if run.steps_to_tolerance is None else str(run.steps_to_tolerance)
        stale = f"{label} differs from the record: {RERUN_STUDY}"
        assert steps == row["steps_to_tolerance"], stale
        assert str(run.diverged) == row["diverged"], stale
        assert f"{run.final_loss:.6g}" == row["final_loss"], stale


def test_optimizer_study_page_shows_every_problem():
    import hooks

    from foundations.optim import study

    page = (DOCS / "course" / "optimizers.md").read_text(encoding="utf-8")
    recorded = {row["problem"] for row in hooks.read_optimizer_study()}

    shown = set(hooks.STUDY_MARKER.findall(page))

    assert shown == recorded
    assert recorded == set(study.PROBLEMS), RERUN_STUDY


def test_optimizer_study_supports_page_claims():
    def steps(problem: str, label: str) -> float:
        value = study_rows(problem)[label]["steps_to_tolerance"]
        return float(value) if value else float("inf")

    # Quadratic: momentum and Adam need several times fewer steps than SGD.
    assert 3 * steps("quadratic", "SGD + momentum") < steps("quadratic", "SGD")
    assert 3 * steps("quadratic", "Adam") < steps("quadratic", "SGD")
    # Rosenbrock: momentum is the fastest; SGD and RMSProp never get there.
    first_order = ["SGD", "SGD + momentum", "AdaGrad", "RMSProp", "Adam"]
    fastest = min(first_order, key=lambda label: steps("rosenbrock", label))
    assert fastest == "SGD + momentum"
    assert steps("rosenbrock", "SGD") == float("inf")
    assert steps("rosenbrock", "RMSProp") == float("inf")
    # Sparse features: the per-coordinate methods are several times faster.
    for label in ("AdaGrad", "RMSProp", "Adam"):
        assert 3 * steps("sparse-logistic", label) < steps("sparse-logistic", "SGD")
    # Noisy gradients: every method ends about 1e-3 above the minimum.
    for row in study_rows("noisy-regression").values():
        assert 5e-4 < float(row["final_gap"]) < 5e-3, row["optimizer"]
    # Two spirals: Adam first, momentum second, all above 98 % test accuracy.
    by_steps = sorted(first_order, key=lambda label: steps("two-spirals", label))
    assert by_steps[:2] == ["Adam", "SGD + momentum"]
    for row in study_rows("two-spirals").values():
        assert float(row["test_accuracy"]) > 0.98, row["optimizer"]
    # The Taylor methods beat every first-order method on the quadratic.
    assert steps("quadratic", "Newton") == 1
    assert steps("quadratic", "Steepest descent, optimal step") < min(
        steps("quadratic", label) for label in first_order
    )


def test_build_strict_writes_every_page():
    site = build_site()

    for page in pages():
        html = site / page.relative_to(DOCS).with_suffix(".html")
        assert html.is_file(), f"{page_id(page)} was not built"


def test_build_contains_generated_files():
    site = build_site()

    assert (site / "assets/javascripts/mathjax/tex-svg.js").stat().st_size > 10**6
    assert (site / "assets/javascripts/iframe-worker/shim.js").is_file()
    figures = list((site / "figures").glob("*.png"))
    assert figures, "the build drew no figure"
    for figure in figures:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure.name


def test_build_references_no_outside_host():
    site = build_site()
    outside = re.compile(r"""(?:src|href)=["']?(?:https?:)?//""")

    for html in site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        for match in outside.finditer(text):
            line = text[max(0, match.start() - 80) : match.end() + 80]
            # Plain links that a reader clicks are allowed; nothing is loaded.
            assert "<a " in line, f"{html.relative_to(site)} loads {line!r}"


def test_build_renders_doctests_as_code():
    site = build_site()

    for html in site.rglob("*.html"):
        # Markdown reads ">>> " outside a fenced block as three nested quotes,
        # which is how a doctest outside a docstring's Examples section shows.
        text = html.read_text(encoding="utf-8")
        page = html.relative_to(site)
        assert "<blockquote>" not in text, f"{page}: a >>> example outside Examples"


def test_plots_redraw_with_other_arguments():
    from foundations import plots

    balls = plots.plot_unit_balls(ps=(1.0, 3.0, float("inf")))
    activations = plots.plot_activations(a=4.0, v_min=-2.0, v_max=2.0)

    assert len(balls.axes[0].lines) == 3
    assert [line.get_label() for line in balls.axes[0].lines][1] == "$p = 3$"
    assert activations.axes[0].lines[0].get_xdata()[0] == -2.0
    assert "a=4" in activations.axes[0].lines[0].get_label().replace(" ", "")


def test_plot_optimizer_study_rejects_unknown_problem():
    from foundations import plots

    with pytest.raises(ValueError, match="problem must be 'quadratic' or"):
        plots.plot_optimizer_study("spirals", {})


def test_no_figure_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "docs"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()

    binaries = [p for p in tracked if p.endswith((".png", ".jpg", ".svg", ".pdf"))]

    assert binaries == []


def test_config_loads_nothing_from_outside():
    config = yaml.load(
        (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader
    )

    assert config["theme"]["font"] == "false"
    assert "offline" in config["plugins"]
    for script in config["extra"]["polyfills"] + config["extra_javascript"]:
        assert "//" not in script, script
        assert (DOCS / script).is_file() or script.startswith("assets/"), script
