-- Interactive, agentic or autonomous (README, "Analytics", for the reasoning):
--   agent-driven  at least `agentic_min_tool_result_share` of its requests answer a tool
--                 call, or it makes `agentic_min_calls_per_prompt` model calls or more
--                 per human prompt while calling tools;
--   unattended    at most `autonomous_max_human_prompts` human prompts, and either its
--                 requests follow each other faster than a person approves a tool
--                 (median gap) or permissions are bypassed;
--   autonomous = agent-driven and unattended; agentic = agent-driven; else interactive.
-- Human prompts come from the hooks (UserPromptSubmit) when the session has them: a
-- client's side requests (titles, summaries) look like human turns in the event log.
with sessions as (
    select * from {{ ref('int_sessions_aggregated') }}
),

signals as (
    select
        s.*,
        case when s.has_hooks then s.hook_prompt_count else s.human_turn_count end
            as human_prompt_count,
        s.tool_result_turn_count::double precision / nullif(s.request_count, 0)
            as tool_result_share,
        coalesce(s.permission_mode in ('bypassPermissions', 'dontAsk'), false)
            as is_permission_bypassed
    from sessions as s
),

judged as (
    select
        g.*,
        g.request_count::double precision / greatest(g.human_prompt_count, 1)
            as calls_per_prompt,
        (coalesce(g.tool_result_share, 0) >= {{ var('agentic_min_tool_result_share') }}
         or (g.request_count::double precision / greatest(g.human_prompt_count, 1)
                 >= {{ var('agentic_min_calls_per_prompt') }}
             and g.tool_call_count > 0)) as is_agent_driven,
        (g.human_prompt_count <= {{ var('autonomous_max_human_prompts') }}
         and (coalesce(g.median_gap_seconds <= {{ var('autonomous_max_median_gap_seconds') }},
                       false)
              or g.is_permission_bypassed)) as is_unattended
    from signals as g
)

select
    j.*,
    case
        when j.is_agent_driven and j.is_unattended then 'autonomous'
        when j.is_agent_driven then 'agentic'
        else 'interactive'
    end as session_class
from judged as j
