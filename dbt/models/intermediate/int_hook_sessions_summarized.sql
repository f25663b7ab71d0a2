-- What Claude Code's hooks say about each session: how often a person prompted, how many
-- tools ran, and the permission mode it ran in. On an incremental build only the sessions
-- that may have changed (macros/session_window.sql).
-- depends_on: {{ ref('stg_events__requests') }}
select
    's:' || coalesce(user_id, service_account_id, key_id)::text || ':' || session_id
        as session_key,
    count(*)::bigint as hook_event_count,
    (count(*) filter (where hook_event_name = 'UserPromptSubmit'))::bigint as hook_prompt_count,
    (count(*) filter (where hook_event_name = 'PreToolUse'))::bigint as hook_tool_use_count,
    (array_agg(permission_mode order by received_at desc)
        filter (where permission_mode is not null))[1] as permission_mode,
    min(received_at) as first_hook_at,
    max(received_at) as last_hook_at
from {{ ref('stg_events__hooks') }}
{% if session_scope_active() -%}
where session_id = any (array({{ session_ids_in_window() }}))
{% endif -%}
group by 1
