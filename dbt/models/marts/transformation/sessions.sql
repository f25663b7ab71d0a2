{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='session_key',
    on_schema_change='append_new_columns',
    indexes=[
        {'columns': ['session_key'], 'unique': True},
        {'columns': ['team_id', 'started_at']},
        {'columns': ['user_id', 'started_at']},
        {'columns': ['ended_at']},
    ],
    post_hook=[
        "{{ delete_superseded_sessions() }}",
    ],
) }}

-- Every session, classified. Incremental: the int_ views hold, on an incremental build,
-- only the sessions that may have changed, each whole (macros/session_window.sql); they
-- are merged on session_key. An unnamed session that new or late requests join to
-- another one is recomputed under the earlier one's key; the post-hook deletes the row it
-- had on its own.
select
    {{ surrogate_key(['session_key']) }} as session_id_hash,
    session_key,
    session_id,
    key_id,
    team_id,
    user_id,
    service_account_id,
    started_at,
    ended_at,
    (started_at at time zone 'UTC')::date as usage_day,
    date_trunc('week', started_at at time zone 'UTC')::date as week_start,
    extract(epoch from ended_at - started_at)::double precision as duration_seconds,
    request_count,
    human_prompt_count,
    tool_result_turn_count,
    tool_call_count,
    max_tools_offered,
    tool_result_share,
    calls_per_prompt,
    median_gap_seconds,
    permission_mode,
    has_hooks as is_hook_reported,
    is_permission_bypassed,
    is_agent_driven,
    is_unattended,
    session_class,
    main_model,
    client,
    cost_usd,
    input_tokens,
    output_tokens,
    now() as refreshed_at
from {{ ref('int_sessions_classified') }}
