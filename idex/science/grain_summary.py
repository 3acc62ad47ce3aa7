"""What a cosmochemist reads off one grain: does each element show its natural isotope pattern, and which
reference composition (minerals, CI chondrite) is it nearest to, within its errors.

- **Isotope pattern.** An element's resolved lines must stand in its natural isotope ratios. The chi-square
  of the line areas against the pattern (one free scale) with their stated errors is a test of that: a small
  p-value says the lines carry signal from other ions the instrument cannot separate (C2+, C2H+, CN+ and
  hydrocarbons within 0.02 u of Mg 24/25/26), so the element's area and abundance are biased upward.
  :func:`pattern_verdict` turns the test into a status, ``ambiguous`` when the lines share their place with ions
  of the line list (named in the reason).
- **Nearest reference.** The grain's Mg/Si and Fe/Si (after RSFs, with their covariance, undetected Mg or Fe
  included at their measured value and error) against every composition of ``defs/ternary_references.yaml``:
  chi-square with two degrees of freedom; every reference with a p-value above ``match_pvalue`` is named,
  nearest first, otherwise ``no match``; empty unless Mg and Si are detected.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import yaml
from scipy.stats import chi2 as chi2_distribution

from idex.resources import data_dir
from idex.science.line_list import LineList

__all__ = [
    "NO_MATCH",
    "Matches",
    "grain_variables",
    "isotope_pattern",
    "match_references",
    "pattern_verdict",
    "references",
]

NO_MATCH = "no match"
PATTERN_PVALUE = 1e-3
"""Isotope pattern p-value below which an element's lines are said to carry other ions' signal."""
MATCH_PVALUE = 0.05
"""Smallest p-value of a reference match."""


class Matches(NamedTuple):
    """Per event: nearest reference (name, ``no match`` or empty), its chi-square and p-value, and the ratios'
    correlation."""

    name: np.ndarray
    chi2: np.ndarray
    pvalue: np.ndarray
    correlation: np.ndarray


@lru_cache(maxsize=1)
def references() -> tuple[dict[str, dict[str, float]], str]:
    """The reference compositions (atoms, any common scale) and their source, from ``defs/``."""
    doc = yaml.safe_load((data_dir("defs") / "ternary_references.yaml").read_text(encoding="utf-8"))
    return {name: {e: float(v) for e, v in atoms.items()} for name, atoms in doc["references"].items()}, doc["source"]


def isotope_pattern(area: np.ndarray, stderr: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square and p-value of ``(event, line)`` areas against ``pattern`` times a fitted scale.

    NaN where fewer than two lines have finite areas and errors.

    Examples
    --------
    >>> chi2, p = isotope_pattern(np.array([[79.0, 10.0, 11.0], [79.0, 10.0, 30.0]]), np.ones((2, 3)),
    ...                           np.array([0.79, 0.10, 0.11]))
    >>> chi2.round(2).tolist(), bool(p[0] > 0.5), bool(p[1] < 1e-6)
    ([0.0, 354.24], True, True)
    """
    good = np.isfinite(area) & np.isfinite(stderr) & (stderr > 0)
    with np.errstate(all="ignore"):
        weight = np.where(good, 1 / stderr**2, 0.0)
        scale = (weight * np.where(good, area, 0.0) * pattern).sum(axis=1) / (weight * pattern**2).sum(axis=1)
        chi2 = (weight * np.where(good, area - scale[:, None] * pattern, 0.0) ** 2).sum(axis=1)
    dof = good.sum(axis=1) - 1
    chi2 = np.where(dof >= 1, chi2, np.nan)
    return chi2, np.where(dof >= 1, chi2_distribution.sf(chi2, np.maximum(dof, 1)), np.nan)


def match_references(
    x: np.ndarray, covariance: np.ndarray, usable: np.ndarray, index: tuple[int, int, int], match_pvalue: float
) -> Matches:
    """Nearest reference of every event by the chi-square of (Mg/Si, Fe/Si): every reference within
    ``match_pvalue``, nearest first and joined by `` | `` (errors too large to tell them apart show as several).

    Parameters
    ----------
    x, covariance : numpy.ndarray
        ``(event, element)`` signals over RSFs and their ``(event, element, element)`` covariance.
    usable : numpy.ndarray
        ``(event,)`` whether to match (e.g. Mg and Si detected; Fe may be absent).
    index : (int, int, int)
        Columns of Mg, Si and Fe in ``x``.
    match_pvalue : float
        Smallest p-value (two degrees of freedom) of a match.
    """
    mg, si, fe = index
    with np.errstate(all="ignore"):
        ratios = np.stack([x[:, mg] / x[:, si], x[:, fe] / x[:, si]], axis=1)
        jacobian = np.zeros((x.shape[0], 2, x.shape[1]))
        jacobian[:, 0, mg], jacobian[:, 1, fe] = 1 / x[:, si], 1 / x[:, si]
        jacobian[:, :, si] = -ratios / x[:, si, None]
        ratio_cov = np.einsum("eij,ejk,elk->eil", jacobian, covariance, jacobian)
        correlation = ratio_cov[:, 0, 1] / np.sqrt(ratio_cov[:, 0, 0] * ratio_cov[:, 1, 1])
    table, _ = references()
    names = list(table)
    chi2 = np.full((x.shape[0], len(names)), np.nan)
    usable = usable & np.all(np.isfinite(ratio_cov.reshape(x.shape[0], -1)), axis=1) & (x[:, si] > 0)
    for event in np.flatnonzero(usable):
        try:
            inverse = np.linalg.inv(ratio_cov[event])
        except np.linalg.LinAlgError:
            continue
        for k, name in enumerate(names):
            atoms = table[name]
            difference = ratios[event] - np.array([atoms["Mg"], atoms["Fe"]]) / atoms["Si"]
            chi2[event, k] = difference @ inverse @ difference
    valid = np.isfinite(chi2).any(axis=1)
    order = np.argsort(np.where(np.isfinite(chi2), chi2, np.inf), axis=1)
    best_chi2 = np.where(valid, chi2[np.arange(x.shape[0]), order[:, 0]], np.nan)
    pvalue = np.where(valid, chi2_distribution.sf(np.nan_to_num(best_chi2), 2), np.nan)
    accepted = np.where(np.isfinite(chi2), chi2_distribution.sf(np.nan_to_num(chi2), 2), 0.0) >= match_pvalue
    nearest = np.array(
        [
            " | ".join(names[k] for k in order[e] if accepted[e, k]) or NO_MATCH if valid[e] else ""
            for e in range(x.shape[0])
        ],
        dtype=object,
    )
    return Matches(nearest, best_chi2, pvalue, correlation)


def pattern_verdict(
    labels: list[str],
    area: np.ndarray,
    stderr: np.ndarray,
    pattern: np.ndarray,
    pvalue: float,
    ambiguous: dict[str, tuple[str, ...]],
    threshold: float = PATTERN_PVALUE,
) -> tuple[str, str]:
    """Status and reason of one element's isotope pattern in one event: ``natural``, ``ambiguous`` (not natural,
    and its lines share their place with other ions of the line list, named in the reason), ``unnatural`` (not
    natural, no such ion listed) or empty (not tested).

    Examples
    --------
    >>> pattern_verdict(["Mg-24", "Mg-25", "Mg-26"], np.array([79.0, 10.0, 30.0]), np.ones(3),
    ...                 np.array([0.79, 0.10, 0.11]), 1e-9, {"Mg-26": ("CN-26",)})[0]
    'ambiguous'
    """
    if not np.isfinite(pvalue):
        return "", ""
    if pvalue >= threshold:
        return "natural", f"lines in natural proportions (p = {pvalue:.2g})"
    good = np.isfinite(area) & np.isfinite(stderr) & (stderr > 0)
    weight = np.where(good, 1 / np.where(good, stderr, 1.0) ** 2, 0.0)
    scale = np.sum(weight * np.nan_to_num(area) * pattern) / np.sum(weight * pattern**2)
    shares = ", ".join(f"{label} {a / (scale * q):.2f}x" for label, a, q in zip(labels, area, pattern, strict=True))
    shared = "; ".join(f"{label} with {' '.join(ambiguous[label])}" for label in labels if ambiguous.get(label))
    reason = f"p = {pvalue:.2g}; lines at {shares} of the natural pattern"
    if not shared:
        return "unnatural", reason + "; no other ion of the line list shares them"
    return "ambiguous", reason + f"; unresolved: {shared} (their signal varies from grain to grain)"


def grain_variables(
    lines: LineList,
    line_fit: tuple[np.ndarray, np.ndarray],
    x: np.ndarray,
    covariance: np.ndarray,
    detected: np.ndarray,
    attrs: dict[str, str],
    ambiguous: dict[str, tuple[str, ...]],
    pattern_pvalue: float = PATTERN_PVALUE,
    match_pvalue: float = MATCH_PVALUE,
) -> dict[str, tuple]:
    """The isotope-pattern test of every element and the nearest reference of every event, as variables.

    ``line_fit`` is the ``(event, line)`` areas and errors of every line of ``lines``; ``x``, ``covariance``
    and ``detected`` are per element (``lines.elements``) signals over RSFs, their covariance and detections;
    ``ambiguous`` names, per line label, the lines it cannot be told from (:func:`idex.science.line_list.ambiguities`).
    """
    elements = lines.elements
    n_events = x.shape[0]
    pattern_chi2, pattern_p = np.full((2, n_events, len(elements)), np.nan)
    status = np.full((n_events, len(elements)), "", dtype=object)
    reason = np.full((n_events, len(elements)), "", dtype=object)
    for k, element in enumerate(elements):
        members = [i for i in lines.fitted if lines.species[i] == element]
        if len(members) >= 2:
            area, error = line_fit[0][:, members], line_fit[1][:, members]
            chi2, p = isotope_pattern(area, error, lines.abundances[members])
            pattern_chi2[:, k], pattern_p[:, k] = (
                np.where(detected[:, k], chi2, np.nan),
                np.where(detected[:, k], p, np.nan),
            )
            labels = [lines.labels[i] for i in members]
            for event in range(n_events):
                status[event, k], reason[event, k] = pattern_verdict(
                    labels,
                    area[event],
                    error[event],
                    lines.abundances[members],
                    pattern_p[event, k],
                    ambiguous,
                    pattern_pvalue,
                )
    matches = match_references(
        x,
        covariance,
        detected[:, elements.index("Mg")] & detected[:, elements.index("Si")],
        (elements.index("Mg"), elements.index("Si"), elements.index("Fe")),
        match_pvalue,
    )
    _, source = references()
    return {
        "isotope_pattern_chi2": (
            ("event", "element"),
            pattern_chi2,
            {"long_name": "Chi-square of the element's line areas against its natural isotope pattern"},
        ),
        "isotope_pattern_pvalue": (
            ("event", "element"),
            pattern_p,
            {"long_name": "p-value of that chi-square (degrees of freedom: resolved lines - 1)"},
        ),
        "isotope_pattern_consistent": (
            ("event", "element"),
            ~(pattern_p < pattern_pvalue),
            {
                "long_name": f"Isotope pattern natural (p >= {pattern_pvalue}); false: other ions share the "
                "element's lines and its abundance is biased upward",
            },
        ),
        "isotope_pattern_status": (
            ("event", "element"),
            status.astype(str),
            {
                "long_name": "Isotope pattern: natural, ambiguous (not natural, its lines shared with unresolved "
                "ions of the line list), unnatural (no such ion listed), empty when not tested",
            },
        ),
        "isotope_pattern_reason": (
            ("event", "element"),
            reason.astype(str),
            {"long_name": "Why: p-value, each line's share of the natural pattern, the ions it cannot be told from"},
        ),
        "ratio_mg_si_fe_si_correlation": (
            "event",
            matches.correlation,
            {"long_name": "Correlation of the Mg/Si and Fe/Si errors (undetected elements at their measured value)"},
        ),
        "reference_match": (
            "event",
            matches.name.astype(str),
            {
                "long_name": f"Reference compositions within errors by (Mg/Si, Fe/Si), nearest first, '{NO_MATCH}' "
                f"when none has a chi-square p-value >= {match_pvalue}, empty unless Mg and Si are detected",
                "references": f"defs/ternary_references.yaml ({source})",
                **attrs,
            },
        ),
        "reference_chi2": (
            "event",
            matches.chi2,
            {"long_name": "Chi-square (2 degrees of freedom) of the nearest reference"},
        ),
        "reference_pvalue": ("event", matches.pvalue, {"long_name": "p-value of the nearest reference"}),
    }
