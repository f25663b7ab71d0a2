-- No email: the marts name people only by their display name (a leaderboard shows it).
select
    u.user_id,
    coalesce(nullif(u.display_name, ''), 'user-' || left(u.user_id::text, 8)) as display_name,
    u.is_active,
    u.created_at,
    (select count(*) from {{ ref('stg_iam__team_members') }} m
      where m.user_id = u.user_id) as team_count
from {{ ref('stg_iam__users') }} as u
