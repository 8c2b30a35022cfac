"""MkDocs hooks: add the generated files of the site to the build.

Three kinds of file are made at build time and never committed:

- the figures, drawn by the public functions of ``foundations.plots`` (the
  table ``FIGURES`` names the function and the arguments of each);
- MathJax's ``tex-svg.js``, copied from ``node_modules`` (``npm ci`` installs
  it from ``package-lock.json``), so formulas render with no network;
- the iframe-worker shim, which lets search run when the site is opened from
  the file system, also from ``node_modules``.

Each figure is rendered in memory and added with ``File.generated``, so
``mkdocs build --strict`` still checks every link to it.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from foundations import plots

log = logging.getLogger("mkdocs.hooks.figures")

ROOT = Path(__file__).resolve().parent.parent

# The table that `python -m foundations.optim.study` writes as results.csv. The
# full study takes minutes, so the site shows this recorded run. The build
# redraws its 2-D figures at the learning rates that the study chose, and
# tests/test_docs.py reruns its deterministic rows.
OPTIMIZER_STUDY = ROOT / "docs" / "data" / "optimizer-study.csv"
STUDY_MARKER = re.compile(r"<!-- optimizer-study: ([a-z-]+) -->")

# Site path -> file in node_modules. The site paths are the ones mkdocs.yml
# names in extra_javascript and extra.polyfills.
VENDORED = {
    "assets/javascripts/mathjax/tex-svg.js": "mathjax/es5/tex-svg.js",
    "assets/javascripts/iframe-worker/shim.js": "iframe-worker/shim/index.js",
}


def read_optimizer_study() -> list[dict[str, str]]:
    """Return the rows of the recorded optimizer study."""
    with OPTIMIZER_STUDY.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def parse_hyperparameters(text: str) -> dict[str, float]:
    """Parse the study's ``"momentum=0.9 lr=0.01"`` into a dictionary."""
    pairs = (item.split("=", 1) for item in text.split())
    return {key: float(value) for key, value in pairs}


def study_learning_rates(problem: str) -> dict[str, float]:
    """Return optimizer label -> learning rate that the study chose on ``problem``."""
    return {
        row["optimizer"]: parse_hyperparameters(row["hyperparameters"])["lr"]
        for row in read_optimizer_study()
        if row["problem"] == problem and "lr=" in row["hyperparameters"]
    }


# Site path -> (plotting function, keyword arguments). Each page shows the call
# under its figure, so a reader can redraw it with other arguments.
FIGURES: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "figures/activations.png": (plots.plot_activations, {"a": 1.0}),
    "figures/output-gradients.png": (plots.plot_output_gradients, {"y": 1.0}),
    "figures/unit-balls.png": (plots.plot_unit_balls, {}),
    "figures/descent-paths.png": (plots.plot_descent_paths, {"lr": 0.1}),
    "figures/critical-points.png": (plots.plot_critical_points, {}),
    "figures/mahalanobis.png": (plots.plot_mahalanobis, {"correlation": 0.9}),
    "figures/study-quadratic.png": (
        plots.plot_optimizer_study,
        {"problem": "quadratic", "learning_rates": study_learning_rates("quadratic")},
    ),
    "figures/study-rosenbrock.png": (
        plots.plot_optimizer_study,
        {"problem": "rosenbrock", "learning_rates": study_learning_rates("rosenbrock")},
    ),
    "figures/problem-xor.png": (plots.plot_practice_problem, {"name": "xor"}),
    "figures/problem-spirals.png": (plots.plot_practice_problem, {"name": "spirals"}),
    "figures/problem-function.png": (
        plots.plot_practice_problem,
        {"name": "function"},
    ),
    "figures/problem-mackey-glass.png": (
        plots.plot_practice_problem,
        {"name": "mackey_glass"},
    ),
    "figures/problem-training.png": (plots.plot_training_curves, {}),
}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the vendored scripts and the figures to the files of the build."""
    for site_path, package_path in VENDORED.items():
        source = ROOT / "node_modules" / package_path
        if not source.is_file():
            raise PluginError(
                f"{source} is missing: run `npm ci` at the repository root "
                "(or `make docs`) to install the site's scripts"
            )
        files.append(File.generated(config, site_path, abs_src_path=str(source)))

    start = time.perf_counter()
    for site_path, (function, kwargs) in FIGURES.items():
        files.append(
            File.generated(config, site_path, content=_render(function, kwargs))
        )
    log.info("drew %d figures in %.1f s", len(FIGURES), time.perf_counter() - start)
    return files


# A Sphinx role such as :func:`name` in a NumPy-style docstring reaches the
# page as ":func:<code>name</code>", and the name alone reads as intended.
SPHINX_ROLE = re.compile(
    r":(?:py:)?(?:mod|func|class|meth|attr|data|obj|exc):(?=<code>)"
)


def on_page_markdown(markdown: str, page: Page, **kwargs: Any) -> str:
    """Replace each ``<!-- optimizer-study: PROBLEM -->`` by that problem's table."""
    return STUDY_MARKER.sub(lambda match: _study_table(match.group(1)), markdown)


def _study_table(problem: str) -> str:
    rows = [row for row in read_optimizer_study() if row["problem"] == problem]
    if not rows:
        raise PluginError(f"{OPTIMIZER_STUDY} has no rows for problem {problem!r}")
    # Problems with held-out data also record the test accuracy of each run.
    accuracy = any(row.get("test_accuracy") for row in rows)
    columns = ["optimizer", "chosen setting", "steps to tolerance"]
    columns += [r"final \(E - E^\star\)"] + (["test accuracy"] if accuracy else [])
    lines = [_table_row(columns), "|---|---|" + "---:|" * (len(columns) - 2)]
    for row in rows:
        cells = [
            row["optimizer"],
            row["hyperparameters"].replace(" ", ", "),
            row["steps_to_tolerance"] or "not reached",
            "diverged" if row["diverged"] == "True" else row["final_gap"],
        ]
        if accuracy:
            value = row.get("test_accuracy")
            cells.append(f"{100 * float(value):.1f} %" if value else "")
        lines.append(_table_row(cells))
    return "\n".join(lines)


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def on_page_content(html: str, page: Page, **kwargs: Any) -> str:
    """Drop the Sphinx role prefixes that docstrings may use before names."""
    return SPHINX_ROLE.sub("", html)


def _render(function: Callable[..., Any], kwargs: dict[str, Any]) -> bytes:
    figure = function(**kwargs)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
