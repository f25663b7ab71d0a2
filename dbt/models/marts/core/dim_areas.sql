select
    area_id,
    area_name,
    created_at,
    (select count(*) from {{ ref('stg_iam__teams') }} t where t.area_id = a.area_id) as team_count
from {{ ref('stg_iam__areas') }} as a
