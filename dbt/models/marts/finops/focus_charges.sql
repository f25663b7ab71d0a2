{{ config(materialized='view') }}

-- The cost mart as FinOps FOCUS 1.2 charges (api/finops.py names and types each column):
-- one Usage charge per daily_cost row, a UTC day long, in USD. A view: an export is
-- rare, and a view can never disagree with the mart it reads.
--
-- Costs. BilledCost and EffectiveCost are what the requests cost at the prices the
-- gateway recorded them with (no commitment to amortise); ContractedCost is the same,
-- since the pricing table is what the organisation pays; ListCost is the same tokens at
-- list price without any cache discount.
with cost as (
    select * from {{ ref('daily_cost') }}
    -- A refusal before any key was read names no one; one before a model was chosen (a bad
    -- body, a limit) bought nothing: neither is a charge.
    where team_id is not null and (model_served is not null or cost_usd <> 0)
),

teams as (
    select * from {{ ref('dim_teams') }}
),

models as (
    select * from {{ ref('dim_models') }}
),

described as (
    select
        c.*,
        t.team_name,
        t.area_name,
        coalesce(m.provider, 'unknown') as provider,
        date_trunc('month', c.usage_day)::date as billing_month
    from cost as c
    left join teams as t on t.team_id = c.team_id
    left join models as m on m.model_name = c.model_served
)

select
    daily_cost_id as charge_id,
    usage_day,
    team_id,
    user_id,
    cost_usd as "BilledCost",
    {{ dbt.string_literal(var("focus_billing_account_id")) }}::text as "BillingAccountId",
    {{ dbt.string_literal(var("focus_billing_account_name")) }}::text as "BillingAccountName",
    'Organization'::text as "BillingAccountType",
    'USD'::text as "BillingCurrency",
    ((billing_month + interval '1 month')::timestamp at time zone 'UTC') as "BillingPeriodEnd",
    (billing_month::timestamp at time zone 'UTC') as "BillingPeriodStart",
    'Usage'::text as "ChargeCategory",
    null::text as "ChargeClass",
    concat(coalesce(model_served, 'unknown model'), ' on ', coalesce(deployment, 'no deployment'),
           ': ', input_tokens, ' input and ', output_tokens, ' output tokens in ',
           request_count, case when request_count = 1 then ' request' else ' requests' end)
        as "ChargeDescription",
    'Usage-Based'::text as "ChargeFrequency",
    ((usage_day + 1)::timestamp at time zone 'UTC') as "ChargePeriodEnd",
    (usage_day::timestamp at time zone 'UTC') as "ChargePeriodStart",
    (input_tokens + output_tokens)::numeric as "ConsumedQuantity",
    'Tokens'::text as "ConsumedUnit",
    cost_usd as "ContractedCost",
    cost_usd as "EffectiveCost",
    {{ focus_provider_name('provider') }} as "InvoiceIssuerName",
    list_cost_usd as "ListCost",
    'Standard'::text as "PricingCategory",
    (input_tokens + output_tokens)::numeric as "PricingQuantity",
    'Tokens'::text as "PricingUnit",
    {{ focus_provider_name('provider') }} as "ProviderName",
    {{ focus_publisher_name('model_served', 'provider') }} as "PublisherName",
    coalesce(deployment, model_served) as "ResourceId",
    model_served as "ResourceName",
    'Model deployment'::text as "ResourceType",
    'AI and Machine Learning'::text as "ServiceCategory",
    {{ focus_service_name('provider') }} as "ServiceName",
    'Generative AI'::text as "ServiceSubcategory",
    team_id::text as "SubAccountId",
    team_name as "SubAccountName",
    'Team'::text as "SubAccountType",
    case when tags = '{}'::jsonb then null else tags::text end as "Tags",
    area_id::text as "x_AreaId",
    area_name as "x_AreaName",
    model_served as "x_Model",
    deployment as "x_Deployment",
    key_id::text as "x_KeyId",
    user_id::text as "x_UserId",
    service_account_id::text as "x_ServiceAccountId",
    tags ->> 'pr' as "x_PullRequest",
    request_count::numeric as "x_RequestCount",
    input_tokens::numeric as "x_InputTokens",
    cached_input_tokens::numeric as "x_CachedInputTokens",
    output_tokens::numeric as "x_OutputTokens",
    saved_usd as "x_CacheSavedCost"
from described
