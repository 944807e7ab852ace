#!/usr/bin/env python3
"""Write config/schools.csv, the SAMPLE school registry for the province in
/work/shared/MISSION.md (a Central Highlands DoET, 17 district offices).

This is sample data, not the real registry: the school names are made up
("Sample Primary School 12, Chư Păh") and the per-school values are drawn
from a fixed-seed random generator. What it models, from the published plan:

- the 519 public schools in the province-wide school-management rollout,
  by owner: 471 district-owned, split between primary and lower-secondary
  as 219:235 (the province's primary:lower-secondary ratio), and 48 DoET-run
  (44 upper-secondary + 4 continuing-education centres), dealt round-robin
  over all 17 districts in the plan's order so that every district appears;
- 91.5 % of institutions on fixed broadband (written as `fibre`, contracted
  30-100 Mbit/s) and the rest on 4G at about 25 Mbit/s, the 4G schools drawn
  mostly from remote districts and never in Pleiku city;
- 382 of 504 schools teaching informatics in a computer lab; a lab is sized
  by level (primary 20 PCs, lower-secondary 25, upper-secondary 40,
  continuing 15) and a school without one expects 0 lab PCs.

The output is deterministic: run it again and the file is byte-identical.
Usage: python3 scripts/gen_sample_registry.py   (from anywhere)
"""

import csv
import random
from pathlib import Path

SEED = 20250519  # fixed: the sample must not change between runs

# The 17 districts in the plan's order; this order is also the round-robin
# order for DoET schools and the sort order for ids.
DISTRICTS = [
    "Pleiku", "An Khê", "Ayun Pa", "Chư Păh", "Chư Prông", "Chư Pưh",
    "Chư Sê", "Đak Đoa", "Đak Pơ", "Đức Cơ", "Ia Grai", "Ia Pa", "Kbang",
    "Kông Chro", "Krông Pa", "Mang Yang", "Phú Thiện",
]

# Schools owned by each district office (Chư Sê and Ia Grai own none in the
# rollout list).
DISTRICT_OWNED = {
    "Chư Păh": 39, "Chư Pưh": 31, "Ia Pa": 28, "Chư Prông": 56,
    "Đak Đoa": 19, "Đak Pơ": 3, "Đức Cơ": 17, "Kbang": 43, "Kông Chro": 30,
    "Krông Pa": 19, "Mang Yang": 36, "Phú Thiện": 39, "Pleiku": 66,
    "An Khê": 24, "Ayun Pa": 21,
}
PRIMARY, LOWER_SECONDARY = 219, 235  # province-wide 2020-21 counts

DOET_UPPER_SECONDARY, DOET_CONTINUING = 44, 4

TOTAL = sum(DISTRICT_OWNED.values()) + DOET_UPPER_SECONDARY + DOET_CONTINUING
FIXED_SHARE = 0.915
FIXED_COUNT = round(FIXED_SHARE * TOTAL)  # 475
FOUR_G_MBPS = 25
FIBRE_MBPS = [30, 50, 80, 100]

# Remote districts (ethnic-minority and border areas) are four times as
# likely to be on 4G as the others; Pleiku city never is.
REMOTE = {
    "Kông Chro", "Krông Pa", "Ia Pa", "Kbang", "Chư Pưh", "Mang Yang",
    "Phú Thiện", "Đức Cơ", "Chư Prông",
}
REMOTE_WEIGHT, OTHER_WEIGHT = 4.0, 1.0

LAB_SHARE = 382 / 504
LAB_PCS = {"primary": 20, "lower-secondary": 25, "upper-secondary": 40, "continuing": 15}

LEVEL_ORDER = ["primary", "lower-secondary", "upper-secondary", "continuing"]
LEVEL_NAME = {
    "primary": "Sample Primary School",
    "lower-secondary": "Sample Lower Secondary School",
    "upper-secondary": "Sample Upper Secondary School",
    "continuing": "Sample Continuing Education Centre",
}

HEADER = ["id", "name", "district", "level", "expected_lab_pcs", "link_kind", "contracted_mbps"]


def schools_by_district_and_level():
    """Counts per (district, level) before any random draw."""
    counts = {}
    for district, n in DISTRICT_OWNED.items():
        primary = round(n * PRIMARY / (PRIMARY + LOWER_SECONDARY))
        counts[(district, "primary")] = primary
        counts[(district, "lower-secondary")] = n - primary
    doet = ["upper-secondary"] * DOET_UPPER_SECONDARY + ["continuing"] * DOET_CONTINUING
    for i, level in enumerate(doet):
        key = (DISTRICTS[i % len(DISTRICTS)], level)
        counts[key] = counts.get(key, 0) + 1
    return counts


def main():
    rng = random.Random(SEED)
    counts = schools_by_district_and_level()

    schools = []
    for district in DISTRICTS:
        for level in LEVEL_ORDER:
            for k in range(1, counts.get((district, level), 0) + 1):
                schools.append({
                    "id": f"gl-{len(schools) + 1:04d}",
                    "name": f"{LEVEL_NAME[level]} {k}, {district}",
                    "district": district,
                    "level": level,
                })
    assert len(schools) == TOTAL == 519, len(schools)

    # 4G schools: weighted sampling without replacement (Efraimidis-Spirakis:
    # the k largest of u ** (1 / w)).
    def weight(s):
        if s["district"] == "Pleiku":
            return 0.0
        return REMOTE_WEIGHT if s["district"] in REMOTE else OTHER_WEIGHT

    keyed = []
    for i, s in enumerate(schools):
        u = rng.random()
        w = weight(s)
        keyed.append((u ** (1.0 / w) if w > 0 else -1.0, i))
    four_g = {i for _, i in sorted(keyed, reverse=True)[: TOTAL - FIXED_COUNT]}

    with_lab = set(rng.sample(range(TOTAL), round(LAB_SHARE * TOTAL)))

    for i, s in enumerate(schools):
        if i in four_g:
            s["link_kind"], s["contracted_mbps"] = "4g", FOUR_G_MBPS
        else:
            s["link_kind"], s["contracted_mbps"] = "fibre", rng.choice(FIBRE_MBPS)
        s["expected_lab_pcs"] = LAB_PCS[s["level"]] if i in with_lab else 0

    assert sum(s["link_kind"] == "fibre" for s in schools) == 475
    assert not any(s["district"] == "Pleiku" and s["link_kind"] == "4g" for s in schools)

    out = Path(__file__).resolve().parent.parent / "config" / "schools.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(schools)
    print(f"wrote {out}: {len(schools)} schools")


if __name__ == "__main__":
    main()
