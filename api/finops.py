"""The cost mart as FinOps FOCUS 1.2 rows: one file a FinOps tool reads like a cloud bill.

FOCUS (FinOps Open Cost and Usage Specification) is what cloud providers' cost exports
speak; exported in it, the organisation's AI spend joins its cloud spend in the same
tools (Azure Cost Management, FinOps toolkits, any FOCUS reader) with no adapter. Each
row is one row of the dbt mart `daily_cost` (a day, team, key, model, deployment and tag
set), built by the dbt model `focus_charges` and read through `api.focus_charges`, which
shows each caller only the teams they may see.

`COLUMNS` is the schema: every Mandatory column of FOCUS 1.2, the conditional ones that
apply to metered AI usage, and aigw's own dimensions as `x_` columns (the spec's rule
for custom columns). CSV renders times as ISO 8601 in UTC and decimals in full; Parquet
keeps the types (decimal128, timestamp in UTC, string).
"""

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

FOCUS_VERSION = "1.2"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # decimal | datetime | string | json
    mandatory: bool = False  # FOCUS 1.2 feature level "Mandatory"
    nullable: bool = True


def _c(name: str, kind: str, mandatory: bool = False, nullable: bool = True) -> Column:
    return Column(name, kind, mandatory, nullable)


COLUMNS: tuple[Column, ...] = (
    _c("BilledCost", "decimal", True, False),
    _c("BillingAccountId", "string", True, False),
    _c("BillingAccountName", "string", True),
    _c("BillingAccountType", "string"),
    _c("BillingCurrency", "string", True, False),
    _c("BillingPeriodEnd", "datetime", True, False),
    _c("BillingPeriodStart", "datetime", True, False),
    _c("ChargeCategory", "string", True, False),
    # null: no row is a correction of an earlier period's (FOCUS: "Correction" or null)
    _c("ChargeClass", "string", True),
    _c("ChargeDescription", "string", True),
    _c("ChargeFrequency", "string"),
    _c("ChargePeriodEnd", "datetime", True, False),
    _c("ChargePeriodStart", "datetime", True, False),
    _c("ConsumedQuantity", "decimal"),
    _c("ConsumedUnit", "string"),
    _c("ContractedCost", "decimal", True, False),
    _c("EffectiveCost", "decimal", True, False),
    _c("InvoiceIssuerName", "string", True, False),
    _c("ListCost", "decimal", True, False),
    _c("PricingCategory", "string"),
    _c("PricingQuantity", "decimal", True),
    _c("PricingUnit", "string", True),
    _c("ProviderName", "string", True, False),
    _c("PublisherName", "string", True, False),
    _c("ResourceId", "string"),
    _c("ResourceName", "string"),
    _c("ResourceType", "string"),
    _c("ServiceCategory", "string", True, False),
    _c("ServiceName", "string", True, False),
    _c("ServiceSubcategory", "string"),
    _c("SubAccountId", "string"),
    _c("SubAccountName", "string"),
    _c("SubAccountType", "string"),
    _c("Tags", "json"),
    _c("x_AreaId", "string"),
    _c("x_AreaName", "string"),
    _c("x_Model", "string"),
    _c("x_Deployment", "string"),
    _c("x_KeyId", "string"),
    _c("x_UserId", "string"),
    _c("x_ServiceAccountId", "string"),
    _c("x_PullRequest", "string"),
    _c("x_RequestCount", "decimal"),
    _c("x_InputTokens", "decimal"),
    _c("x_CachedInputTokens", "decimal"),
    _c("x_OutputTokens", "decimal"),
    _c("x_CacheSavedCost", "decimal"),
)
NAMES = [c.name for c in COLUMNS]
MANDATORY = [c.name for c in COLUMNS if c.mandatory]
FORMATS = ("csv", "parquet")

# api.focus_charges returns COLUMNS in their order (sql/finops.sql; a test compares them).
QUERY = "select * from api.focus_charges($1, $2)"
PSYCOPG_QUERY = "select * from api.focus_charges(%s, %s)"


class ExportError(ValueError):
    """A request for an export that cannot be made as asked (bad month, format)."""


def month_range(month: str) -> tuple[date, date]:
    """'2026-11' → (2026-11-01, 2026-12-01): the billing period, end exclusive."""
    try:
        start = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise ExportError(f"month must be YYYY-MM, got {month[:20]!r}") from None
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}, got {fmt[:20]!r}")
    return fmt


def _csv_value(column: Column, value) -> str:
    if value is None:
        return ""
    if column.kind == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if column.kind == "decimal":
        return format(Decimal(value), "f")
    if column.kind == "json":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return str(value)


def to_csv(rows: list[tuple]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    writer.writerow(NAMES)
    for row in rows:
        writer.writerow([_csv_value(c, v) for c, v in zip(COLUMNS, row, strict=True)])
    return out.getvalue().encode()


def arrow_schema():
    import pyarrow as pa

    kinds = {
        "decimal": pa.decimal128(38, 9),
        "datetime": pa.timestamp("us", tz="UTC"),
        "string": pa.string(),
        "json": pa.string(),  # FOCUS's KeyValueFormat: a JSON object, as text
    }
    return pa.schema(
        [pa.field(c.name, kinds[c.kind], nullable=c.nullable) for c in COLUMNS],
        metadata={"focus_version": FOCUS_VERSION, "generator": "aigw"},
    )


def _arrow_value(column: Column, value):
    if value is None:
        return None
    if column.kind == "decimal":
        return Decimal(value).quantize(Decimal("0.000000001"))
    if column.kind == "json":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if column.kind == "string":
        return str(value)
    return value


def to_parquet(rows: list[tuple]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    arrays = [
        pa.array([_arrow_value(c, v) for v in values], type=schema.field(c.name).type)
        for c, values in zip(COLUMNS, columns, strict=True)
    ]
    table = pa.Table.from_arrays(arrays, schema=schema)
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def render(rows: list[tuple], fmt: str) -> bytes:
    return to_parquet(rows) if check_format(fmt) == "parquet" else to_csv(rows)


MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def filename(month: str, fmt: str) -> str:
    return f"aigw-focus-{month}.{fmt}"
