-- The FinOps FOCUS export (api/finops.py): the dbt view analytics.focus_charges, read
-- by those who administer something, with the visibility of the cost marts
-- (sql/analytics.sql): a platform admin sees every team, an area owner or a team admin the
-- teams they manage. A developer's own cost is the portal's, not a billing export.

set local role aigw_owner;

create function api.focus_charges(p_from date, p_to date)
returns table (
    "BilledCost" numeric,
    "BillingAccountId" text,
    "BillingAccountName" text,
    "BillingAccountType" text,
    "BillingCurrency" text,
    "BillingPeriodEnd" timestamptz,
    "BillingPeriodStart" timestamptz,
    "ChargeCategory" text,
    "ChargeClass" text,
    "ChargeDescription" text,
    "ChargeFrequency" text,
    "ChargePeriodEnd" timestamptz,
    "ChargePeriodStart" timestamptz,
    "ConsumedQuantity" numeric,
    "ConsumedUnit" text,
    "ContractedCost" numeric,
    "EffectiveCost" numeric,
    "InvoiceIssuerName" text,
    "ListCost" numeric,
    "PricingCategory" text,
    "PricingQuantity" numeric,
    "PricingUnit" text,
    "ProviderName" text,
    "PublisherName" text,
    "ResourceId" text,
    "ResourceName" text,
    "ResourceType" text,
    "ServiceCategory" text,
    "ServiceName" text,
    "ServiceSubcategory" text,
    "SubAccountId" text,
    "SubAccountName" text,
    "SubAccountType" text,
    "Tags" text,
    "x_AreaId" text,
    "x_AreaName" text,
    "x_Model" text,
    "x_Deployment" text,
    "x_KeyId" text,
    "x_UserId" text,
    "x_ServiceAccountId" text,
    "x_PullRequest" text,
    "x_RequestCount" numeric,
    "x_InputTokens" numeric,
    "x_CachedInputTokens" numeric,
    "x_OutputTokens" numeric,
    "x_CacheSavedCost" numeric)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
begin
    perform iam.require_authenticated();
    if not iam.manages_anything() then
        raise exception 'the FOCUS export is for administrators' using errcode = 'AIG03',
            hint = 'A platform admin, an area owner or a team admin exports a month''s cost.';
    end if;
    if p_from is null or p_to is null or p_to <= p_from then
        raise exception 'an export needs a period: a first day and a later end day'
            using errcode = '22023';
    end if;
    if p_to - p_from > 366 then
        raise exception 'an export covers at most a year' using errcode = '22023',
            hint = 'Export one month at a time.';
    end if;
    return query
        select f."BilledCost", f."BillingAccountId", f."BillingAccountName",
               f."BillingAccountType", f."BillingCurrency", f."BillingPeriodEnd",
               f."BillingPeriodStart", f."ChargeCategory", f."ChargeClass",
               f."ChargeDescription", f."ChargeFrequency", f."ChargePeriodEnd",
               f."ChargePeriodStart", f."ConsumedQuantity", f."ConsumedUnit",
               f."ContractedCost", f."EffectiveCost", f."InvoiceIssuerName",
               f."ListCost", f."PricingCategory", f."PricingQuantity",
               f."PricingUnit", f."ProviderName", f."PublisherName", f."ResourceId",
               f."ResourceName", f."ResourceType", f."ServiceCategory",
               f."ServiceName", f."ServiceSubcategory", f."SubAccountId",
               f."SubAccountName", f."SubAccountType", f."Tags", f."x_AreaId",
               f."x_AreaName", f."x_Model", f."x_Deployment", f."x_KeyId",
               f."x_UserId", f."x_ServiceAccountId", f."x_PullRequest",
               f."x_RequestCount", f."x_InputTokens", f."x_CachedInputTokens",
               f."x_OutputTokens", f."x_CacheSavedCost"
          from analytics.focus_charges f
         where f.usage_day >= p_from and f.usage_day < p_to
           and (v_all or f.team_id = any (v_teams))
         order by f.usage_day, f."SubAccountName", f."ResourceId", f.charge_id;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.focus_charges(date, date) is
    'FinOps FOCUS 1.2 charges of UTC days p_from (inclusive) to p_to (exclusive) of the '
    'teams the caller manages. Example: select * from api.focus_charges(''2026-11-01'', ''2026-12-01'');';
