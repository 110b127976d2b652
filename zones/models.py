"""Tables of the district's geography: zones and the urban blocks inside them.

Geometry is stored as GeoJSON text in EPSG:4326 so the same schema runs on SQLite and on a
PostgreSQL without PostGIS; the spatial index is built in memory from it (see `zones.index`).
"""

from __future__ import annotations

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


class ZoneBase(SQLModel):
    name: str = Field(max_length=120, index=True)
    code: str | None = Field(default=None, max_length=40)


class Zone(ZoneBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    geometry: str = Field(sa_column=Column(Text, nullable=False))  # GeoJSON, EPSG:4326
    properties: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))


class ZonePublic(ZoneBase):
    id: int


class BlockBase(SQLModel):
    name: str = Field(max_length=120)
    zone_id: int = Field(foreign_key="zone.id", index=True)


class Block(BlockBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    geometry: str = Field(sa_column=Column(Text, nullable=False))  # GeoJSON, EPSG:4326
    # A point inside the block: where a neighbour sees an incident whose exact spot is hidden.
    center_lat: float
    center_lon: float


class BlockPublic(BlockBase):
    id: int
    center_lat: float
    center_lon: float
