-- Every model the registry knows or the event log has served (a model removed from the
-- registry keeps its history), with today's list prices.
with served as (
    select distinct model_served as model_name
    from {{ ref('stg_events__requests') }}
    where model_served is not null
),

names as (
    select model_name from {{ ref('stg_policy__models') }}
    union
    select model_name from served
)

select
    n.model_name,
    m.provider,
    coalesce(m.is_enabled, false) as is_enabled,
    m.model_name is not null as is_registered,
    p.input_usd_per_mtok,
    p.cached_input_usd_per_mtok,
    p.output_usd_per_mtok,
    p.updated_at as prices_updated_at
from names as n
left join {{ ref('stg_policy__models') }} as m on m.model_name = n.model_name
left join {{ ref('stg_policy__model_prices') }} as p on p.model_name = n.model_name
