"""MediaTek SoCs as LiteRT's source lists them, with the product names LiteRT's docs give.

One row per SoC name any of these sources uses (google-ai-edge/LiteRT at commit
f67457790c9c2ab67347d6fe53270e8d3df20868, 2026-08-21):

* ``supported_soc.csv``: litert/vendors/mediatek/supported_soc.csv (NeuroPilot version per SoC,
  last changed in cedb2ee02446ad24e8f45bd31ccdb00bab93ea73): MT6895, MT6897, MT6983, MT6985,
  MT6989, MT6991, MT6993 (NeuroPilot v9 only), MT8171, MT8188, MT8189, MT8196. It has no MT6878.
* ``plugin``: kPluginSocModels in litert/vendors/mediatek/compiler/compiler_plugin.cc (what the
  compiler plugin accepts), the same names as SocModel in
  litert/python/aot/vendors/mediatek/target.py: MT6853, MT6877, MT6878, MT6879, MT6886, MT6893,
  MT6895, MT6897, MT6983, MT6985, MT6989, MT6991, MT6993, MT8171, MT8188, MT8189.
* ``docs``: https://ai.google.dev/edge/litert/next/mediatek ("Supported SoCs"): Dimensity 7300
  (MT6878), 8300 (MT6897), 9000 (MT6983), 9200 (MT6985), 9300 (MT6989), 9400 (MT6991) and
  9500 (MT6990). The docs disagree with the source twice: their Dimensity 9500 is MT6990, a name
  no source list has (the source's newest, NeuroPilot-v9-only SoC is MT6993), and their
  Dimensity 7300 (MT6878) is in the plugin's list but not in supported_soc.csv.

A name only the docs use (MT6990) stays readable: it maps to the source's name with an error that
says which to write. This is a bottom module of the quantize layer (standard library only).
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "google-ai-edge/LiteRT@f67457790c9c2ab67347d6fe53270e8d3df20868"


@dataclass(frozen=True)
class MediatekSoc:
    name: str  # as the compiler takes it
    product: str | None = None  # the marketing name LiteRT's docs give, where they give one
    soc_csv: bool = False  # listed in litert/vendors/mediatek/supported_soc.csv
    plugin: bool = False  # listed in the compiler plugin's kPluginSocModels (and target.py's SocModel)
    neuropilot: str | None = None  # supported_soc.csv's recommended NeuroPilot version
    #: a name only the docs use: the source's name for the same product
    source_name: str | None = None


#: The table (see the module's docstring for where each column comes from).
MEDIATEK_SOCS: dict[str, MediatekSoc] = {
    s.name: s
    for s in (
        MediatekSoc("MT6853", plugin=True),
        MediatekSoc("MT6877", plugin=True),
        MediatekSoc("MT6878", "Dimensity 7300", plugin=True),
        MediatekSoc("MT6879", plugin=True),
        MediatekSoc("MT6886", plugin=True),
        MediatekSoc("MT6893", plugin=True),
        MediatekSoc("MT6895", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT6897", "Dimensity 8300", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT6983", "Dimensity 9000", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT6985", "Dimensity 9200", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT6989", "Dimensity 9300", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT6991", "Dimensity 9400", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT6993", "Dimensity 9500", soc_csv=True, plugin=True, neuropilot="v9"),
        MediatekSoc("MT8171", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT8188", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT8189", soc_csv=True, plugin=True, neuropilot="v8"),
        MediatekSoc("MT8196", soc_csv=True, neuropilot="v8"),
        MediatekSoc("MT6990", "Dimensity 9500", source_name="MT6993"),  # the docs' name only
    )
}


def product_name(soc: str) -> str | None:
    """The product name of a MediaTek SoC (``MT6989`` -> ``Dimensity 9300``), where known."""
    row = MEDIATEK_SOCS.get(soc.strip().upper())
    return row.product if row else None


def is_mediatek(soc: str | None) -> bool:
    """Whether ``soc`` names a MediaTek SoC (``MT....``, or a row of the table)."""
    key = (soc or "").strip().upper().split(":")[-1].removeprefix("MEDIATEK_")
    return key in MEDIATEK_SOCS or key.startswith("MT")


def docs_only(soc: str) -> str | None:
    """Why ``soc`` cannot be used as written when it is a name only LiteRT's docs use (the
    sentence says which name the source uses), else None."""
    row = MEDIATEK_SOCS.get(soc.strip().upper())
    if row is None or row.source_name is None:
        return None
    return (
        f"{row.name} is the {row.product}'s name in LiteRT's docs (https://ai.google.dev/edge/litert/next/mediatek) "
        f"but not in LiteRT's source, whose MediaTek lists name it {row.source_name} "
        f"(litert/vendors/mediatek/supported_soc.csv, compiler_plugin.cc): write {row.source_name}"
    )


def source_note(soc: str) -> str | None:
    """A note when LiteRT's source lists disagree about ``soc`` (e.g. MT6878: in the compiler
    plugin's list, not in supported_soc.csv), else None."""
    row = MEDIATEK_SOCS.get(soc.strip().upper())
    if row is None or row.source_name is not None or row.soc_csv == row.plugin:
        return None
    if row.plugin:
        return (
            f"{row.name} is in LiteRT's compiler plugin list (compiler_plugin.cc) but not in "
            "litert/vendors/mediatek/supported_soc.csv (no NeuroPilot version is stated for it): the "
            "compile may work and the device's runtime may still refuse it"
        )
    return (
        f"{row.name} is in litert/vendors/mediatek/supported_soc.csv but not in the compiler plugin's "
        "list (compiler_plugin.cc): LiteRT's compiler cannot target it"
    )
