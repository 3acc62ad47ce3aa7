"""Declarative packet schemas: load a YAML file, validate it, and expose it as frozen dataclasses.

A schema (``schemas/*.yaml``) describes one version of the IDEX science packet: framing, the
secondary header and science sub-header, every event-header field, the waveform channels, derived
quantities and housekeeping conversions. Validation runs in two passes and reports *every* problem
with its YAML path and line number: a structural pass against ``schemas/_meta.schema.json``
(JSON Schema) and a semantic pass (unique names, resolvable references, consistent bit layouts,
expressions that only use known names, attribute values that CDF and netCDF can store).

Layer 2, above the foundation modules (``idex.exceptions``, ``idex.resources``, ``idex._typing``): owns
the schema dataclasses (:mod:`~idex.schema.definitions`), finding and loading schema files
(:mod:`~idex.schema.loading`), the semantic pass (:mod:`~idex.schema.validation`), the expression
language of derived quantities (:mod:`~idex.schema.expressions`) and ``idex schema show/diff/new``
(:mod:`~idex.schema.report`). It imports nothing else from idex, with one exception: checking a ``fits``
section looks up the fit layer's registries of models and initial-guess rules (``idex.fit.models``,
``idex.fit.guesses``), at call time.
"""

from __future__ import annotations

from idex.schema.definitions import (
    Channel,
    ClassificationSpec,
    CompositionSpec,
    Conversion,
    Derived,
    DustSpec,
    Field,
    FitParameter,
    FitSpec,
    Housekeeping,
    MassSpec,
    MessageSpec,
    PeakSearch,
    Schema,
)
from idex.schema.loading import (
    SCHEMA_PATH_ENV,
    available_schemas,
    indistinguishable_overlaps,
    load_schema,
    loadable_schemas,
    registered_name,
    schema_dirs,
    schema_from_text,
    validate_schema,
)
from idex.schema.validation import fit_specs

__all__ = [
    "Channel",
    "ClassificationSpec",
    "CompositionSpec",
    "Conversion",
    "Derived",
    "DustSpec",
    "Field",
    "FitParameter",
    "FitSpec",
    "MassSpec",
    "MessageSpec",
    "PeakSearch",
    "Housekeeping",
    "SCHEMA_PATH_ENV",
    "Schema",
    "available_schemas",
    "fit_specs",
    "indistinguishable_overlaps",
    "load_schema",
    "loadable_schemas",
    "registered_name",
    "schema_dirs",
    "schema_from_text",
    "validate_schema",
]
