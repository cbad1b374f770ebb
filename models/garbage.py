"""A dropped fit is freed at once, not at the garbage collector's next full pass.

An ``xarray.DataTree``'s nodes point at each other (parent and children), so a DataTree that
is dropped is freed only by the collector's full pass, which may not come for many minutes
of a long command. At a million respondents the draws of each dropped fit (a LOO sub-model's
20,833 alliance effects at 8,000 draws, 2.7 GB; the run of a narrow gate miss before its
extension) stayed beside the next fit's (tests/benchmarks/README.md, "Issue 15 item 2 at
1,000,000 respondents (session 10, lead)").
"""

from __future__ import annotations

import gc

# a dropped DataTree at least this large is collected at once; smaller ones are left to the
# collector (a full pass costs ~0.1-0.3 s with the scientific stack imported)
LARGE_BYTES = 2**28


def free_dropped(nbytes: int) -> None:
    """Run the collector's full pass now when ``nbytes`` (a dropped DataTree's) are large."""
    if nbytes >= LARGE_BYTES:
        gc.collect()
