select
    t.team_id,
    t.team_name,
    t.area_id,
    a.area_name,
    t.created_at,
    (select count(*) from {{ ref('stg_iam__team_members') }} m
      where m.team_id = t.team_id) as member_count
from {{ ref('stg_iam__teams') }} as t
left join {{ ref('stg_iam__areas') }} as a on a.area_id = t.area_id
