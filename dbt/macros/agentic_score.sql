{#- The agentic score, 0–100, from a period's session counts (README, "Analytics"):
      50 × share of sessions agent-driven (agentic or autonomous)
    + 20 × share of sessions autonomous
    + 30 × depth: model calls per human prompt, from 1 (chatting: 0) to
                  `score_calls_per_prompt_target` or more (1).
    Computed from counts, so a developer's and a team's scores are the same formula. -#}
{% macro agentic_score(session_count, agent_driven_count, autonomous_count, request_count,
                       human_prompt_count) -%}
    round(100 * (
        0.5 * ({{ agent_driven_count }})::numeric / nullif({{ session_count }}, 0)
      + 0.2 * ({{ autonomous_count }})::numeric / nullif({{ session_count }}, 0)
      + 0.3 * least(1, greatest(0,
            ({{ request_count }})::numeric / greatest({{ human_prompt_count }}, 1) - 1)
            / ({{ var('score_calls_per_prompt_target') }} - 1))
    ))::integer
{%- endmacro %}
