"""Incident kinds, with their Spanish (first) and English labels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IncidentKind:
    """One kind of incident a volunteer can report."""

    code: str
    label_es: str
    label_en: str

    def label(self, locale: str) -> str:
        return self.label_en if locale.startswith("en") else self.label_es


KINDS: dict[str, IncidentKind] = {
    k.code: k
    for k in (
        IncidentKind("robbery", "Robo", "Robbery"),
        IncidentKind("assault", "Agresión", "Assault"),
        IncidentKind("gang_activity", "Actividad de pandillas", "Gang activity"),
        IncidentKind("drug_dealing", "Venta de drogas", "Drug dealing"),
        IncidentKind("domestic_violence", "Violencia familiar", "Domestic violence"),
        IncidentKind("sexual_harassment", "Acoso sexual", "Sexual harassment"),
        IncidentKind("prostitution", "Prostitución", "Prostitution"),
        IncidentKind("vandalism", "Vandalismo", "Vandalism"),
        IncidentKind("suspicious_activity", "Actividad sospechosa", "Suspicious activity"),
        IncidentKind("noise_disturbance", "Ruidos molestos", "Noise disturbance"),
        IncidentKind("other", "Otro", "Other"),
    )
}
