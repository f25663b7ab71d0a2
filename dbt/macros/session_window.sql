{#- The session pipeline's incremental scope.

    A refresh must not rescan the whole event log, yet a session's class depends on all of
    its requests and hooks. So an incremental build recomputes whole sessions only: those
    that may have changed since the last build. The window starts `lookback_days` before
    the newest session end the sessions mart holds (late events land within it, as in the
    daily marts). Recomputed are
      - every named session (principal + client session id) with a request or a hook in
        the window, with all of its requests and hooks, however old;
      - per key, the unnamed requests from the start of the earliest unnamed session of
        that key still open within the window (it ended less than the idle gap before the
        window start), or from the window start; a session that straddles the window is
        thus recomputed whole, never split.
    An unnamed session's key is its key and its first request's time, so it is the same
    whichever session the computation starts from.

    The int_ views read the mart by name (not ref(): that would be a cycle). They are
    recreated on every build before the mart, so they see the previous build's sessions.
    No scope — the whole log — on the first build, under --full-refresh, or with
    `--vars '{full_scan: true}'` (`aigw analytics run --var full_scan=true`).
-#}
{% macro sessions_mart() -%}
    {{ return(adapter.get_relation(database=target.database, schema=target.schema,
                                   identifier='sessions')) }}
{%- endmacro %}

{% macro session_scope_active() -%}
    {%- if not execute or flags.FULL_REFRESH or var('full_scan', false) -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(sessions_mart() is not none) }}
{%- endmacro %}

{% macro session_window_start() -%}
    (select coalesce(max(ended_at), timestamptz '1970-01-01')
            - interval '{{ var("lookback_days") | int }} days'
       from {{ sessions_mart() }})
{%- endmacro %}

{#- The client session ids with a request or a hook in the window (any principal: a
    session of another principal that shares the id is recomputed too, which is only
    more work, never a wrong result). -#}
{% macro session_ids_in_window() -%}
    select session_id from {{ ref('stg_events__requests') }}
     where session_id is not null and started_at >= {{ session_window_start() }}
    union
    select session_id from {{ ref('stg_events__hooks') }}
     where received_at >= {{ session_window_start() }}
{%- endmacro %}

{#- After an incremental merge into the sessions mart: an unnamed session of a key whose
    requests were recomputed, that starts at or after the first recomputed session of its
    key and was not itself refreshed by this build, no longer exists (a late request
    joined it to an earlier one). refreshed_at is now(), the build transaction's time,
    the same for every row this build wrote. -#}
{% macro delete_superseded_sessions() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as old
     where old.session_id is null
       and old.refreshed_at < now()
       and exists (
           select 1 from {{ this }} as fresh
            where fresh.key_id = old.key_id
              and fresh.session_id is null
              and fresh.refreshed_at = now()
              and fresh.started_at <= old.started_at)
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
