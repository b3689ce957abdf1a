"""A deterministic generator of realistic landing feeds, with the faults real feeds have.

Same arguments, byte-identical files: every random draw comes from a generator seeded by
(seed, source, day, file, chunk), gzip headers carry no time stamp, and nothing depends on the
order work is done in. Rows are built column-wise with NumPy and Polars, one chunk of at most
`CHUNK_ROWS` at a time, so memory stays flat whatever the volume.

One module per source (`customers`, `products`, `events`, `orders`, `reviews`) draws healthy
rows, declares its faults as data (`FAULTS`, injected by `faults.inject`) and writes its files;
`volumes` decides how many rows each day and hour holds; `sample` runs them day by day and writes
the manifest. `review_frame` draws healthy reviews without files, as training data.
"""

from lakehouse.landing.generator.config import CHUNK_ROWS, GeneratorConfig
from lakehouse.landing.generator.events import UNKNOWN_EVENT_TYPE
from lakehouse.landing.generator.orders import (
    EXTRA_COLUMN,
    UNKNOWN_CURRENCY,
    UNKNOWN_CUSTOMER,
    UNKNOWN_PRODUCT,
)
from lakehouse.landing.generator.reviews import (
    UNKNOWN_REVIEW_PRODUCT,
    review_chunks,
    review_frame,
)
from lakehouse.landing.generator.sample import FAULT_RATES, MANIFEST_NAME, generate

__all__ = [
    "CHUNK_ROWS",
    "EXTRA_COLUMN",
    "FAULT_RATES",
    "MANIFEST_NAME",
    "UNKNOWN_CURRENCY",
    "UNKNOWN_CUSTOMER",
    "UNKNOWN_EVENT_TYPE",
    "UNKNOWN_PRODUCT",
    "UNKNOWN_REVIEW_PRODUCT",
    "GeneratorConfig",
    "generate",
    "review_chunks",
    "review_frame",
]
