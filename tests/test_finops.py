"""The FinOps FOCUS 1.2 export: every mandatory column with its type, totals equal to the
cost mart's, each caller's rows only, an empty month a valid file, bad requests refused.

One dbt build per module, over a generated event log that spans two months.
"""

import csv
import io
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from api import analytics, finops
from api.app import create_app
from api.cli import app as cli_app
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from tests.analytics_data import EventLog, create_world
from tests.helpers import create_user, operator_call, serving, sign_in

pytestmark = pytest.mark.timeout(300)

# FOCUS 1.2's Mandatory columns (the specification's column library, feature level
# "Mandatory"), with the data type each must have.
FOCUS_MANDATORY = {
    "BilledCost": "Decimal",
    "BillingAccountId": "String",
    "BillingAccountName": "String",
    "BillingCurrency": "String",
    "BillingPeriodEnd": "Date/Time",
    "BillingPeriodStart": "Date/Time",
    "ChargeCategory": "String",
    "ChargeClass": "String",
    "ChargeDescription": "String",
    "ChargePeriodEnd": "Date/Time",
    "ChargePeriodStart": "Date/Time",
    "ContractedCost": "Decimal",
    "EffectiveCost": "Decimal",
    "InvoiceIssuerName": "String",
    "ListCost": "Decimal",
    "PricingQuantity": "Decimal",
    "PricingUnit": "String",
    "ProviderName": "String",
    "PublisherName": "String",
    "ServiceCategory": "String",
    "ServiceName": "String",
}
ARROW_TYPE = {
    "Decimal": pa.types.is_decimal,
    "String": pa.types.is_string,
    "Date/Time": lambda t: pa.types.is_timestamp(t) and t.tz == "UTC",
}
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


class Export:
    def __init__(self, db, world, month: str, other_month: str):
        self.db, self.world, self.month, self.other_month = db, world, month, other_month

    def charges(self, persona: str | None, month: str) -> list[tuple]:
        start, end = finops.month_range(month)
        with psycopg.connect(self.db.app) as conn, conn.transaction():
            principal = self.world.principal(persona) if persona else {}
            conn.execute("select set_config('app.principal', %s, true)", (json.dumps(principal),))
            return conn.execute(finops.PSYCOPG_QUERY, (start, end)).fetchall()


@pytest.fixture(scope="module")
def export(module_db, tmp_path_factory) -> Export:
    world = create_world(module_db.admin, module_db.app)
    log = EventLog(module_db.admin, world)
    now = datetime.now(UTC)
    log.generate(days=40, now=now)
    log.write()
    result = analytics.build(module_db.admin, work_dir=tmp_path_factory.mktemp("dbt"))
    assert result.ok, "\n".join(result.output_tail[-40:])
    month = now.strftime("%Y-%m")
    other_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return Export(module_db, world, month, other_month)


def test_the_reader_returns_the_columns_the_exporter_names(export):
    start, end = finops.month_range(export.month)
    with psycopg.connect(export.db.admin) as conn:
        cursor = conn.execute(finops.PSYCOPG_QUERY, (start, end))
        assert [c.name for c in cursor.description] == finops.NAMES


def test_every_mandatory_focus_column_is_there_with_its_type(export):
    rows = export.charges("admin", export.month)
    assert rows
    parquet = pq.read_table(io.BytesIO(finops.to_parquet(rows)))
    for name, kind in FOCUS_MANDATORY.items():
        assert name in parquet.schema.names, name
        assert ARROW_TYPE[kind](parquet.schema.field(name).type), (name, parquet.schema.field(name))
    assert set(FOCUS_MANDATORY) <= set(finops.MANDATORY)
    # custom columns carry the x_ prefix the specification asks for
    standard = {"BillingAccountType", "ChargeFrequency", "ConsumedQuantity", "ConsumedUnit",
                "PricingCategory", "ResourceId", "ResourceName", "ResourceType",
                "ServiceSubcategory", "SubAccountId", "SubAccountName", "SubAccountType",
                "Tags"}  # fmt: skip
    assert all(n in FOCUS_MANDATORY or n in standard or n.startswith("x_") for n in finops.NAMES)

    table = list(csv.DictReader(io.StringIO(finops.to_csv(rows).decode())))
    assert list(table[0]) == finops.NAMES and len(table) == len(rows)
    for row in table:
        for name, kind in FOCUS_MANDATORY.items():
            value = row[name]
            if kind == "Decimal":
                Decimal(value)
            elif kind == "Date/Time":
                datetime.strptime(value, ISO_UTC)
            if name != "ChargeClass":  # null: no row corrects an earlier period's
                assert value != "", (name, row)
        assert row["ChargeCategory"] == "Usage"
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["BillingCurrency"] == "USD" and row["ConsumedUnit"] == "Tokens"
        assert row["BillingPeriodStart"] == f"{export.month}-01T00:00:00Z"
        start = datetime.strptime(row["ChargePeriodStart"], ISO_UTC)
        assert datetime.strptime(row["ChargePeriodEnd"], ISO_UTC) - start == timedelta(days=1)
        assert Decimal(row["ListCost"]) >= Decimal(row["BilledCost"]) >= 0
        assert row["SubAccountId"] in export.world.teams.values()


def test_the_totals_equal_the_cost_mart_and_the_event_log(export):
    for month in (export.month, export.other_month):
        start, end = finops.month_range(month)
        rows = export.charges("admin", month)
        billed = sum(r[finops.NAMES.index("BilledCost")] for r in rows)
        tokens = sum(r[finops.NAMES.index("ConsumedQuantity")] for r in rows)
        requests = sum(r[finops.NAMES.index("x_RequestCount")] for r in rows)
        (mart,) = operator_call(
            export.db.admin,
            "select coalesce(sum(cost_usd), 0), coalesce(sum(input_tokens + output_tokens), 0),"
            " coalesce(sum(request_count), 0) from analytics.daily_cost"
            " where usage_day >= %s and usage_day < %s and team_id is not null"
            " and (model_served is not null or cost_usd <> 0)",
            (start, end),
        )
        (raw,) = operator_call(
            export.db.admin,
            "select coalesce(sum(cost_usd), 0) from events.requests"
            " where started_at >= %s and started_at < %s",
            (start, end),
        )
        assert rows and (billed, tokens, requests) == mart and billed == raw[0]
        # the Parquet file says the same
        table = pq.read_table(io.BytesIO(finops.to_parquet(rows)))
        assert sum(v.as_py() for v in table.column("BilledCost")) == billed


@pytest.mark.parametrize("persona", ["tadmin_n1", "owner_north"])
def test_each_administrator_exports_only_the_teams_they_manage(export, persona):
    world = export.world
    rows = export.charges(persona, export.month) + export.charges(persona, export.other_month)
    teams = {r[finops.NAMES.index("SubAccountId")] for r in rows}
    if persona == "tadmin_n1":
        assert teams == {world.teams["n1"]}
    else:
        assert teams == {world.teams["n1"], world.teams["n2"]}


@pytest.mark.parametrize(("persona", "sqlstate"), [("dev_n1", "AIG03"), ("viewer_n1", "AIG03"),
                                                   (None, "AIG01")])  # fmt: skip
def test_who_administers_nothing_exports_nothing(export, persona, sqlstate):
    """A developer's own cost is the portal's to show, not a billing export."""
    with pytest.raises(psycopg.DatabaseError) as failed:
        export.charges(persona, export.month)
    assert failed.value.sqlstate == sqlstate


def test_a_month_without_data_is_a_valid_empty_file(export):
    rows = export.charges("admin", "2001-01")
    assert rows == []
    assert finops.to_csv(rows).decode().strip() == ",".join(finops.NAMES)
    table = pq.read_table(io.BytesIO(finops.to_parquet(rows)))
    assert table.num_rows == 0 and table.schema.names == finops.NAMES


@pytest.fixture(scope="module")
def admin_api(export, redis_server):
    create_user(export.db.admin, "focus-admin@example.com", roles=(("platform_admin", None),))
    create_user(export.db.admin, "focus-tadmin@example.com", roles=(("team_admin", "n1"),))
    config = load_config(env={}, mock_provider_url="http://127.0.0.1:9")  # no model is called
    app = create_app(export.db.app, redis_server, gateway_config=config, events=MemorySink())
    with serving(app) as url:
        yield url


def test_the_admin_endpoint_serves_csv_and_parquet(export, admin_api):
    headers = sign_in(admin_api, "focus-admin@example.com")
    url = f"{admin_api}/admin/finops/focus"
    expected = export.charges("admin", export.month)
    response = httpx.get(url, params={"month": export.month}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f"aigw-focus-{export.month}.csv" in response.headers["content-disposition"]
    assert len(list(csv.DictReader(io.StringIO(response.text)))) == len(expected)
    response = httpx.get(url, params={"month": export.month, "format": "parquet"}, headers=headers)
    assert response.status_code == 200
    assert pq.read_table(io.BytesIO(response.content)).num_rows == len(expected)
    # a team admin's file holds their team only
    mine = httpx.get(
        url, params={"month": export.month}, headers=sign_in(admin_api, "focus-tadmin@example.com")
    )
    assert {r["SubAccountId"] for r in csv.DictReader(io.StringIO(mine.text))} == {
        export.world.teams["n1"]
    }


@pytest.mark.parametrize(
    "params",
    [{"month": "2026-13"}, {"month": "last"}, {"month": "2026-11", "format": "xlsx"}, {}],
)
def test_a_bad_export_request_is_a_clear_422(export, admin_api, params):
    headers = sign_in(admin_api, "focus-admin@example.com")
    response = httpx.get(f"{admin_api}/admin/finops/focus", params=params, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"]


def test_the_admin_endpoint_needs_a_signed_in_administrator(export, admin_api):
    response = httpx.get(f"{admin_api}/admin/finops/focus", params={"month": "2026-11"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    create_user(export.db.admin, "focus-dev@example.com", teams=("n1",))
    response = httpx.get(
        f"{admin_api}/admin/finops/focus",
        params={"month": "2026-11"},
        headers=sign_in(admin_api, "focus-dev@example.com"),
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_error"


def test_the_cli_writes_the_file(export, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", export.db.admin)
    target = tmp_path / "focus.parquet"
    result = CliRunner().invoke(
        cli_app,
        ["finops", "export", "--month", export.month, "--format", "parquet", "-o", str(target)],
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(target).num_rows == len(export.charges("admin", export.month))
    bad = CliRunner().invoke(cli_app, ["finops", "export", "--month", "11/2026"])
    assert bad.exit_code == 1 and "YYYY-MM" in bad.output
    assert not os.path.exists("aigw-focus-11/2026.csv")
