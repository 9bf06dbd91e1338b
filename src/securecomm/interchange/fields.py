"""Field mnemonics per record type, so every message can say "2.018 NAM", not "field 18".

Type-1 and the image records follow ANSI/NIST-ITL 1-2011; Type-2 follows the FBI
EBTS (the Type-2 content is defined by the implementation domain) plus the
securecomm user-defined fields documented in docs/formats.md (2.9xx).
"""

from __future__ import annotations

TYPE1 = {
    1: "LEN", 2: "VER", 3: "CNT", 4: "TOT", 5: "DAT", 6: "PRY", 7: "DAI", 8: "ORI", 9: "TCN",
    10: "TCR", 11: "NSR", 12: "NTR", 13: "DOM", 14: "GMT", 15: "DCS", 16: "APS", 17: "ANM",
    18: "GNS", 19: "GCS", 20: "ORN", 21: "ORS", 22: "ORF", 23: "ORR",
}

# FBI EBTS Type-2 element mnemonics (the ones securecomm reads, writes or shows),
# plus securecomm's own user-defined 2.9xx fields.
TYPE2 = {
    1: "LEN", 2: "IDC", 3: "FFN", 5: "RET", 6: "ATN", 7: "SCO", 9: "OCA", 10: "CIN", 11: "CIX",
    14: "FBI", 15: "SID", 16: "SOC", 17: "MNU", 18: "NAM", 19: "AKA", 20: "POB", 21: "CTZ",
    22: "DOB", 23: "AGR", 24: "SEX", 25: "RAC", 26: "SMT", 27: "HGT", 29: "WGT", 31: "EYE",
    32: "HAI", 35: "PPA", 36: "PHT", 37: "RFP", 38: "DPR", 41: "RES", 45: "DOA", 46: "DOS",
    47: "ASL", 48: "CSR", 51: "CSL", 53: "OFC", 54: "SSD", 55: "SLE", 56: "ICO", 59: "SRF",
    60: "MSG", 62: "IMT", 64: "CAN", 70: "RAP", 71: "ACN", 73: "CRI", 74: "FGP", 75: "ERS",
    84: "AMP", 87: "TAA", 98: "NDR",
    # securecomm user-defined (docs/formats.md)
    901: "NOC", 902: "CUS", 910: "ARR", 911: "CHG", 912: "DSP", 920: "FIN", 921: "ANU", 922: "ENC",
}

IMAGE_COMMON = {
    1: "LEN", 2: "IDC", 3: "IMP", 4: "SRC", 5: "FCD", 6: "HLL", 7: "VLL", 8: "SLC", 9: "THPS",
    10: "TVPS", 11: "CGA", 12: "BPX", 13: "FGP", 14: "PPD", 15: "PPC", 16: "SHPS", 17: "SVPS",
    18: "AMP", 20: "COM", 21: "SEG", 22: "NQM", 23: "SQM", 24: "FQM", 25: "ASEG", 26: "SCF",
    27: "SIF", 30: "DMM", 31: "FAP", 999: "DATA",
}

TYPE10 = {
    1: "LEN", 2: "IDC", 3: "IMT", 4: "SRC", 5: "PHD", 6: "HLL", 7: "VLL", 8: "SLC", 9: "THPS",
    10: "TVPS", 11: "CGA", 12: "CSP", 13: "SAP", 20: "POS", 21: "POA", 999: "DATA",
}

TYPE9 = {1: "LEN", 2: "IDC", 3: "IMP", 4: "FMT", 5: "OFR", 6: "FGP", 7: "FPC", 8: "CRP", 9: "DLT",
         10: "MIN", 11: "RDG", 12: "MRC"}

GENERIC = {1: "LEN", 2: "IDC", 999: "DATA"}

BY_TYPE: dict[int, dict[int, str]] = {
    1: TYPE1, 2: TYPE2, 9: TYPE9, 10: TYPE10, 13: IMAGE_COMMON, 14: IMAGE_COMMON, 15: IMAGE_COMMON,
    16: {**TYPE10, 3: "UDI", 12: "BPX"}, 17: {**TYPE10, 3: "ELR", 12: "BPX"},
}

# Binary (non-tagged) header items of Types 3-8, shown as "4.ISR" etc.
BINARY_HEADER = ("LEN", "IDC", "IMP", "FGP", "ISR", "HLL", "VLL", "GCA")


def label(rtype: int, number: int) -> str:
    """``"2.018 NAM"`` for a known field, ``"2.905"`` otherwise."""
    name = BY_TYPE.get(rtype, GENERIC).get(number) or GENERIC.get(number, "")
    tag = f"{rtype}.{number:03d}"
    return f"{tag} {name}" if name else tag


def binary_label(rtype: int, item: str) -> str:
    """Label of a binary header item, e.g. ``"4.GCA"``."""
    return f"{rtype}.{item}"
