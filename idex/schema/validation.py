"""Second validation pass: semantic checks (names, references, bit layouts, expressions, storable attributes)
while the dataclasses are built; every problem with its YAML path and line."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from idex.resources import data_dir
from idex.schema.building import FieldBuilder
from idex.schema.ccsds import PRIMARY_HEADER_BITS
from idex.schema.defaults import with_defaults
from idex.schema.definitions import (
    Channel,
    ClassificationSpec,
    CompositionSpec,
    Conversion,
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
from idex.schema.expressions import MAX_INTEGER_BITS, Bound

__all__ = ["SchemaBuilder", "fit_specs"]


def fit_specs(
    entries: Mapping[str, dict], channels: set[str], error: Callable[[str, tuple, str], None]
) -> dict[str, FitSpec]:
    """Build the fit declarations of a ``fits`` section (packet schema or scope setup), reporting problems.

    Parameters
    ----------
    entries : mapping
        The ``fits`` section: channel -> {model, parameters, baseline_us, false_alarm_probability}.
    channels : set of str
        Channel names the section may refer to.
    error : callable
        Receives ``(code, path within the section, message)`` for each problem.
    """
    from idex.fit.guesses import RULES
    from idex.fit.models import MODELS

    out = {}
    for name, given in entries.items():
        entry = with_defaults("fits", given)
        if name not in channels:
            error("unknown-name", (name,), f"{name!r} is not a channel")
        model = MODELS.get(entry["model"])
        if model is None:
            error("unknown-name", (name, "model"), f"unknown model {entry['model']!r}; choose one of {sorted(MODELS)}")
            continue
        if list(entry["parameters"]) != list(model.parameters):
            error(
                "parameters",
                (name, "parameters"),
                f"model {model.name!r} needs parameters {list(model.parameters)} in this order",
            )
        parameters = []
        for key, spec in entry["parameters"].items():
            if spec["initial"] not in RULES:
                error(
                    "unknown-name",
                    (name, "parameters", key, "initial"),
                    f"unknown initial-guess rule {spec['initial']!r}; choose one of {sorted(RULES)}",
                )
            low, high = spec.get("min", -math.inf), spec.get("max", math.inf)
            if low >= high:
                error("bounds", (name, "parameters", key), f"min {low} is not below max {high}")
            parameters.append(FitParameter(key, spec["initial"], low, high, spec.get("units")))
        window = tuple(entry["baseline_us"])
        out[name] = FitSpec(
            name,
            model.name,
            (float(window[0]), float(window[1])),
            tuple(parameters),
            float(entry["false_alarm_probability"]),
        )
    return out


class SchemaBuilder(FieldBuilder):
    """Second validation pass: semantic checks while building the dataclasses."""

    def build(self) -> Schema:
        doc = self.doc
        if self.path.suffix in (".yaml", ".yml") and doc["name"] != self.path.stem:
            self.error(
                "name",
                ("name",),
                f"{doc['name']!r} differs from the file name {self.path.name!r}: a schema "
                "is found by its file name, so the two must agree",
            )
        constants = {k: float(v) for k, v in doc["constants"].items()}
        for key in constants:
            self.claim(key, ("constants", key))
        framing = doc["framing"]
        secondary = self.fields(
            [{"mnemonic": f["name"].upper(), **f} for f in framing["secondary_header"]],
            ("framing", "secondary_header"),
            PRIMARY_HEADER_BITS,
        )
        sci = doc["science"]
        sub_start = secondary[-1].offset + secondary[-1].bits if secondary else PRIMARY_HEADER_BITS
        subheader = self.fields(sci["subheader"], ("science", "subheader"), sub_start)
        header_start = subheader[-1].offset + subheader[-1].bits if subheader else sub_start
        header = self.fields(sci["event_header"]["fields"], ("science", "event_header", "fields"), header_start)
        sub_names = {f.name for f in subheader}
        for role, name in sci["roles"].items():
            if name not in sub_names:
                self.error("unknown-name", ("science", "roles", role), f"{name!r} is not a sub-header field")
        time = doc["time"]
        sec_names = {f.name for f in secondary}
        for key in ("packet_coarse", "packet_fine"):
            if time[key] not in sec_names:
                self.error(
                    "unknown-name",
                    ("time", key),
                    f"{time[key]!r} is not a secondary-header field ({sorted(str(n) for n in sec_names)})",
                )
        known = {name: Bound.of(value) for name, value in constants.items()}
        known.update({f.name: Bound(False, min(f.bits, MAX_INTEGER_BITS)) for f in (*subheader, *header) if f.name})
        event_coarse, event_fine = (
            self.expression(time[key], ("time", key), dict(known)) for key in ("event_coarse", "event_fine")
        )
        derived = self.derived(doc.get("derived", []), dict(known))
        fields_by_name = {f.name: f for f in header if f.name}
        housekeeping = self.housekeeping(doc.get("housekeeping", []), fields_by_name)
        channels = self.channels(
            doc["channels"], constants, {d.name for d in derived}, sci["event_header"]["type_code"]
        )
        valid_from = self.datetime(doc["valid_from"], ("valid_from",))
        met_epoch = self.datetime(time["met_epoch"], ("time", "met_epoch"))
        xtce = data_dir("defs") / doc["xtce"] if doc.get("xtce") else None
        if xtce is not None and not xtce.is_file():
            self.error("not-found", ("xtce",), f"{doc['xtce']!r} is not a file in {data_dir('defs')}")
        return Schema(
            name=doc["name"],
            description=doc["description"],
            source=self.path,
            xtce=xtce,
            valid_from=valid_from if valid_from is not None else np.datetime64("NaT"),
            valid_until=self.datetime(doc.get("valid_until"), ("valid_until",)),
            constants=MappingProxyType(constants),
            known_apids=frozenset(framing["known_apids"]) | {sci["apid"]},
            crc_apids=frozenset(framing["crc_apids"]),
            secondary_header=secondary,
            met_epoch=met_epoch if met_epoch is not None else np.datetime64("NaT"),
            fine_tick_s=float(time["fine_tick_s"]),
            event_coarse=event_coarse,
            event_fine=event_fine,
            packet_coarse=time["packet_coarse"],
            packet_fine=time["packet_fine"],
            science_apid=sci["apid"],
            trailer_bits=sci["trailer_bits"],
            fragment_offset_unit_bytes=sci["fragment_offset_unit_bytes"],
            roles=MappingProxyType(dict(sci["roles"])),
            subheader=subheader,
            header_type_code=sci["event_header"]["type_code"],
            header_fields=header,
            channels=MappingProxyType(channels),
            derived=derived,
            housekeeping=housekeeping,
            fits=MappingProxyType(self.fits(doc.get("fits", {}), channels)),
            mass=self.mass(doc.get("mass"), channels),
            composition=self.composition(doc.get("composition"), channels),
            classification=self.classification(
                doc.get("classification"), channels, {f.name for f in header if f.name} | {d.name for d in derived}
            ),
            messages=self.messages(doc.get("messages"), secondary),
            cdf_global_attributes=MappingProxyType(dict(doc.get("cdf", {}).get("global_attributes", {}))),
            attrs=MappingProxyType(self.attrs(doc, ())),
        )

    def housekeeping(self, entries: list[dict], fields: Mapping[str, Field]) -> tuple[Housekeeping, ...]:
        out = []
        used: dict[str, dict[int, tuple[str, set[int]]]] = {}  # word -> housekeeping index -> (name, bits)
        for index, entry in enumerate(entries):
            here = ("housekeeping", index)
            self.claim(entry["name"], here + ("name",))
            word = fields.get(entry["word"])
            if word is None:
                self.error("unknown-name", here + ("word",), f"{entry['word']!r} is not an event-header field")
            elif entry["lsb"] + entry["bits"] > word.bits:
                self.error(
                    "bit-range",
                    here,
                    f"bits {entry['lsb']}..{entry['lsb'] + entry['bits'] - 1} "
                    f"exceed the {word.bits}-bit word {entry['word']!r}",
                )
            bits = set(range(entry["lsb"], entry["lsb"] + entry["bits"]))
            for other, (other_name, other_bits) in used.get(entry["word"], {}).items():
                if bits & other_bits:
                    self.error(
                        "bit-range",
                        here,
                        f"bits {min(bits & other_bits)}..{max(bits & other_bits)} of "
                        f"{entry['word']!r} are also read by housekeeping[{other}] ({other_name})",
                    )
            used.setdefault(entry["word"], {})[index] = (entry["name"], bits)
            attrs = self.attrs(entry, here)
            enum = self.enumeration(entry, here, attrs)
            lookup = entry.get("lookup")
            if lookup and len(lookup["raw"]) != len(lookup["value"]):
                self.error("lookup", here + ("lookup",), "raw and value lists differ in length")
            if lookup and np.any(np.diff(lookup["raw"]) <= 0):
                self.error("lookup", here + ("lookup", "raw"), "raw values must increase strictly")
            conversion = Conversion(
                polynomial=tuple(entry["polynomial"]) if "polynomial" in entry else None,
                enumeration=MappingProxyType(enum) if enum else None,
                lookup=(tuple(lookup["raw"]), tuple(lookup["value"])) if lookup else None,
            )
            out.append(
                Housekeeping(
                    entry["name"], entry["word"], entry["lsb"], entry["bits"], conversion, MappingProxyType(attrs)
                )
            )
        return tuple(out)

    def messages(self, entry: dict | None, secondary: tuple[Field, ...]) -> MessageSpec | None:
        if entry is None:
            return None
        start = secondary[-1].offset + secondary[-1].bits if secondary else PRIMARY_HEADER_BITS
        fields = self.fields(entry["fields"], ("messages", "fields"), start, claim=False)
        names = {f.name for f in fields}
        for role in ("coarse", "fine", "id"):
            if entry[role] not in names:
                self.error("unknown-name", ("messages", role), f"{entry[role]!r} is not a message field")
        dictionaries = data_dir("defs") / entry["dictionaries"]
        if not dictionaries.is_file():
            self.error("not-found", ("messages", "dictionaries"), f"{entry['dictionaries']!r} is not in defs/")
        return MessageSpec(entry["apid"], fields, entry["coarse"], entry["fine"], entry["id"], dictionaries)

    def classification(
        self, entry: dict | None, channels: Mapping[str, Channel], values: set[str]
    ) -> ClassificationSpec | None:
        if entry is None:
            return None
        here = ("classification",)
        for key, name in (
            ("trigger_id", entry["trigger_id"]),
            ("pulser", entry["pulser"]["threshold_field"]),
            *(("trigger_modes", mode) for mode in entry["trigger_modes"].values()),
        ):
            if name not in values:
                self.error("unknown-name", here + (key,), f"{name!r} is not a header field or derived value")
        dust = entry["dust"]
        for key, names in (
            ("trigger_bits", entry["trigger_bits"]),
            ("trigger_modes", entry["trigger_modes"]),
            ("dust", dust["channels"]),
        ):
            for name in names:
                if name not in channels:
                    self.error("unknown-name", here + (key,), f"{name!r} is not a channel")
        gains = len(dust["channels"])
        if len(dust["reference_baseline_dn"]) != gains or len(dust["reference_sigma_dn"]) != gains:
            self.error("dimension", here + ("dust",), f"one reference baseline and sigma per channel ({gains})")
        return ClassificationSpec(
            entry["trigger_id"],
            MappingProxyType(dict(entry["trigger_bits"])),
            tuple(entry["software_bits"]),
            MappingProxyType(dict(entry["trigger_modes"])),
            entry["pulser"]["channel"],
            entry["pulser"]["mode"],
            entry["pulser"]["threshold_field"],
            entry["pulser"]["threshold"],
            float(entry["saturation_fraction"]),
            DustSpec(
                tuple(dust["channels"]),
                float(dust["baseline_us"]),
                float(dust["height_sigma"]),
                float(dust["prominence_sigma"]),
                float(dust["distance_us"]),
                float(dust["min_width_us"]),
                int(dust["min_peaks"]),
                float(dust["single_peak_width_us"]),
                float(dust["match_us"]),
                tuple(float(v) for v in dust["reference_baseline_dn"]),
                tuple(float(v) for v in dust["reference_sigma_dn"]),
                float(dust["truncation_dn"]),
            ),
        )

    def mass(self, given: dict | None, channels: Mapping[str, Channel]) -> MassSpec | None:
        if given is None:
            return None
        entry = with_defaults("mass", given)
        if entry["channel"] not in channels:
            self.error("unknown-name", ("mass", "channel"), f"{entry['channel']!r} is not a channel")
        if not (data_dir("defs") / entry["lines"]).is_file():
            self.error("not-found", ("mass", "lines"), f"{entry['lines']!r} is not a file in {data_dir('defs')}")
        low, high = entry["stretch_us_per_sqrt_u"]
        if low >= high:
            self.error("bounds", ("mass", "stretch_us_per_sqrt_u"), f"{low} is not below {high}")
        return MassSpec(
            entry["channel"],
            entry["lines"],
            (float(low), float(high)),
            _pair(entry["shift_from_trigger_us"]),
            float(entry["baseline_before_trigger_us"]),
            float(entry["match_tolerance_us"]),
            tuple(float(v) for v in entry["stretch_prior_us_per_sqrt_u"])  # type: ignore[arg-type]
            if "stretch_prior_us_per_sqrt_u" in entry
            else None,
            float(entry["prior_sigmas"]),
            PeakSearch(
                float(entry["peak_prominence_sigma"]),
                float(entry["peak_prominence_fraction"]),
                float(entry["peak_separation_us"]),
                int(entry["peak_smoothing_samples"]),
            ),
        )

    def composition(self, entry: dict | None, channels: Mapping[str, Channel]) -> CompositionSpec | None:
        if entry is None:
            return None
        gains = entry["gains"]
        for name in gains["channels"]:
            if name not in channels:
                self.error("unknown-name", ("composition", "gains", "channels"), f"{name!r} is not a channel")
            elif channels[name].calibration_factor is None:
                self.error("missing", ("composition", "gains", "channels"), f"{name!r} has no calibration factor")
        for key in ("lines", "rsf"):
            if not (data_dir("defs") / entry[key]).is_file():
                self.error("not-found", ("composition", key), f"{entry[key]!r} is not a file in {data_dir('defs')}")
        low, high = gains["saturation_dn"]
        return CompositionSpec(
            tuple(gains["channels"]),
            (float(low), float(high)),
            int(gains["guard_samples"]),
            float(gains["baseline_before_trigger_us"]),
            float(gains["ratio_min_sigma"]),
            float(gains["ratio_tolerance"]),
            entry["lines"],
            entry["rsf"],
            float(entry["line_sigma_us"]),
            (float(entry["line_tau_us"][0]), float(entry["line_tau_us"][1])),
            float(entry["line_shape_spread"]),
            float(entry["detection_sigma"]),
            float(entry["resolution_samples"]),
        )

    def fits(self, entries: Mapping[str, dict], channels: Mapping[str, Channel]) -> dict[str, FitSpec]:
        return fit_specs(
            entries, set(channels), lambda code, where, message: self.error(code, ("fits",) + where, message)
        )

    def channels(
        self, entries: Mapping[str, dict], constants: Mapping[str, float], derived: set[str], header_code: int
    ) -> dict[str, Channel]:
        out: dict[str, Channel] = {}
        codes: dict[int, str] = {header_code: "the event header"}
        dims: dict[str, tuple[int, float, str]] = {}
        for name, given in entries.items():
            entry = with_defaults("channels", given)
            here = ("channels", name)
            self.claim(name, here)
            if entry["type_code"] in codes:
                self.error(
                    "duplicate-code",
                    here + ("type_code",),
                    f"type code {entry['type_code']} is already used by {codes[entry['type_code']]}",
                )
            codes[entry["type_code"]] = f"channel {name!r}"
            if entry["sample_bits"] * entry["samples_per_word"] > entry["word_bits"]:
                self.error(
                    "bit-range",
                    here,
                    f"{entry['samples_per_word']} samples of {entry['sample_bits']} bits "
                    f"do not fit a {entry['word_bits']}-bit word",
                )
            rate = entry["sample_rate_mhz"]
            if isinstance(rate, str):
                if rate not in constants:
                    self.error("unknown-name", here + ("sample_rate_mhz",), f"{rate!r} is not a constant")
                rate = constants.get(rate, math.nan)
            if entry["trigger_time"] not in derived:
                self.error(
                    "unknown-name", here + ("trigger_time",), f"{entry['trigger_time']!r} is not a derived entry"
                )
            axis = (entry["n_samples"], float(rate), entry["time"])
            if dims.setdefault(entry["dim"], axis) != axis:
                self.error(
                    "dimension",
                    here,
                    f"dimension {entry['dim']!r} is shared with channels of a different "
                    "length, rate or time coordinate",
                )
            out[name] = Channel(
                name,
                entry["type_code"],
                entry["sample_bits"],
                entry["samples_per_word"],
                entry["word_bits"],
                entry["n_samples"],
                entry["drop_trailing"],
                float(rate),
                entry["dim"],
                entry["time"],
                entry["trigger_time"],
                entry["fill_value"],
                entry.get("compressed_samples"),
                entry.get("calibration", {}).get("factor"),
                entry.get("calibration", {}).get("units"),
                MappingProxyType(self.attrs(entry, here)),
            )
            if entry.get("compressed_samples", entry["n_samples"]) < entry["n_samples"]:
                self.error(
                    "bit-range",
                    here + ("compressed_samples",),
                    f"a compressed record of {entry['compressed_samples']} samples cannot fill "
                    f"n_samples = {entry['n_samples']}",
                )
        for dim, (_, _, time) in dims.items():
            self.claim(time, ("channels", f"<time coordinate of {dim}>"))
        return out


def _pair(values: Sequence[Any]) -> tuple[float, float]:
    low, high = values
    return float(low), float(high)
