-- Admin registries: guardrail rules and MCP servers, plus the team operations of the
-- admin portal (rename, delete).
--
-- Who may do what, in one place:
--   read   a global row (team_id null): everyone signed in; a team's row: whoever sees
--          the team (its members, its admins, the area's owner, platform admins)
--   write  a global row: platform admins; a team's row: the owner of the team's area
-- Team admins and members only read: a rule that protects a team is not the team's to
-- switch off. The gateway enforces the guardrails (see below).

set local role aigw_owner;

-- Guardrails and MCP servers share one rule: a row without a team is shared by everyone
-- (only platform admins change those); a team's row is visible to whoever sees the team
-- and changed by the owner of the team's area.
do $policies$
declare
    t text;
    readable constant text := '(team_id is null and (select iam.is_authenticated())) '
        'or team_id = any ((select iam.readable_team_ids())::uuid[])';
    writable constant text := '(team_id is null and (select iam.is_platform_admin())) '
        'or team_id = any ((select iam.area_team_ids())::uuid[])';
begin
    foreach t in array array['policy.guardrails', 'policy.mcp_servers'] loop
        execute format('create policy "shared rows to all, a team''s to whoever sees the team" '
                       'on %s for select to aigw_owner using (%s)', t, readable);
        execute format('create policy "platform admins add shared rows, area owners their teams''" '
                       'on %s for insert to aigw_owner with check (%s)', t, writable);
        execute format('create policy "platform admins change shared rows, area owners their teams''" '
                       'on %s for update to aigw_owner using (%s) with check (%s)',
                       t, writable, writable);
        execute format('create policy "platform admins remove shared rows, area owners their teams''" '
                       'on %s for delete to aigw_owner using (%s)', t, writable);
    end loop;
end
$policies$;

-- ---------------------------------------------------------------------------
-- Guardrails: enforced by the gateway on every model call (api/guardrails/,
-- api/gateway/guardrails.py), which loads them with api.gateway_guardrails and reloads
-- them when api.set_guardrail or api.delete_guardrail notifies 'guardrails'.
--
--   kind              stages          actions               config
--   regex             input, output   block, redact, flag   {"pattern": "<RE2>", "case_sensitive": false}
--   block_pattern     input, output   block, flag           the same (the first kind, as it was)
--   deny_list         input, output   block, redact, flag   {"terms": [...], "case_sensitive": false,
--                                                            "whole_words": true}
--   pii_redact        input, output   redact, block, flag   {"entities": ["email", "credit_card", ...]}
--   secrets           input, output   block, redact, flag   {"types": ["aws_access_key", ...]} or {}
--   max_input_tokens  input           block, flag           {"max_tokens": 8000}
--
-- The admin API checks a rule with the gateway's own code first (api/guardrails/rules.py);
-- these checks say the same to psql, except that only RE2 itself compiles a pattern.
-- ---------------------------------------------------------------------------

-- Raises AIG06 naming the first thing wrong; a rule that passes can be enforced as written.
create or replace function policy.check_guardrail(
    p_stage text, p_kind text, p_config jsonb, p_action text
) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
    -- the config keys each kind understands, and the actions that make sense for it
    v_keys constant jsonb := '{"regex": ["pattern", "case_sensitive"],
                               "block_pattern": ["pattern", "case_sensitive"],
                               "deny_list": ["terms", "case_sensitive", "whole_words"],
                               "pii_redact": ["entities"],
                               "secrets": ["types"],
                               "max_input_tokens": ["max_tokens"]}';
    v_actions constant jsonb := '{"regex": ["block", "redact", "flag"],
                                  "block_pattern": ["block", "flag"],
                                  "deny_list": ["block", "redact", "flag"],
                                  "pii_redact": ["redact", "block", "flag"],
                                  "secrets": ["block", "redact", "flag"],
                                  "max_input_tokens": ["block", "flag"]}';
    v_unknown text[];
begin
    if p_stage is null or p_stage not in ('input', 'output') then
        raise exception 'unknown stage "%"', p_stage using errcode = 'AIG06',
            hint = 'Stages: input (the request), output (the answer).';
    elsif p_kind is null or not (v_keys ? p_kind) then
        raise exception 'unknown guardrail kind "%"', p_kind using errcode = 'AIG06',
            hint = 'Kinds: regex, block_pattern, deny_list, pii_redact, secrets, max_input_tokens.';
    elsif p_action is null or not ((v_actions -> p_kind) ? p_action) then
        raise exception 'action "%" does not apply to % rules', p_action, p_kind
            using errcode = 'AIG06', hint = format('Actions for %s: %s.', p_kind, v_actions -> p_kind);
    elsif p_kind = 'max_input_tokens' and p_stage <> 'input' then
        raise exception 'max_input_tokens rules apply to the input stage only'
            using errcode = 'AIG06';
    elsif p_config is null or jsonb_typeof(p_config) <> 'object' then
        raise exception 'config must be a JSON object' using errcode = 'AIG06',
            hint = format('Keys for %s: %s.', p_kind, v_keys -> p_kind);
    end if;
    -- A misspelt key would otherwise be a setting silently ignored.
    select array_agg(k order by k) into v_unknown
      from jsonb_object_keys(p_config) k where not ((v_keys -> p_kind) ? k);
    if v_unknown is not null then
        raise exception 'unknown config keys % for % rules', v_unknown, p_kind
            using errcode = 'AIG06', hint = format('Keys for %s: %s.', p_kind, v_keys -> p_kind);
    end if;
    case p_kind
        when 'regex', 'block_pattern' then perform policy.check_pattern_config(p_kind, p_config);
        when 'deny_list' then perform policy.check_terms_config(p_config);
        when 'max_input_tokens' then perform policy.check_max_tokens_config(p_config);
        when 'secrets' then perform policy.check_secrets_config(p_config);
        else perform policy.check_pii_config(p_config);
    end case;
end
$$;

drop function if exists policy.check_pattern_config(jsonb);  -- before it named the kind
create or replace function policy.check_pattern_config(p_kind text, p_config jsonb) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_pattern text := p_config ->> 'pattern';
    -- an escape or a character not escaped: what a construct must follow to be one
    v_unescaped constant text := '(^|[^\\])(\\\\)*';
    v_count text[];
    v_neutral text;
begin
    if jsonb_typeof(p_config -> 'pattern') is distinct from 'string'
       or char_length(v_pattern) not between 1 and 1000 then
        raise exception '% needs "pattern": a regular expression of 1 to 1000 characters', p_kind
            using errcode = 'AIG06';
    elsif jsonb_typeof(p_config -> 'case_sensitive') not in ('boolean', 'null') then
        raise exception '"case_sensitive" must be true or false' using errcode = 'AIG06';
    end if;
    -- The gateway matches with RE2, which refuses what needs backtracking to match.
    if v_pattern ~ (v_unescaped || '\(\?<?[=!]') then
        raise exception 'invalid regular expression: lookaround is not supported'
            using errcode = 'AIG06', hint = 'RE2 syntax: no lookaround, no backreferences.';
    elsif v_pattern ~ (v_unescaped || '\\([1-9]|k<)') then
        raise exception 'invalid regular expression: backreferences are not supported'
            using errcode = 'AIG06', hint = 'RE2 syntax: no lookaround, no backreferences.';
    elsif v_pattern ~ (v_unescaped || '(\(\?>|[*+?]\+|\{[0-9]+(,[0-9]*)?\}\+)') then
        raise exception 'invalid regular expression: atomic groups and possessive repetition are not supported'
            using errcode = 'AIG06', hint = 'RE2 syntax: no lookaround, no backreferences.';
    end if;
    for v_count in select regexp_matches(v_pattern, '\{([0-9]+)(,([0-9]*))?\}', 'g') loop
        if v_count[1]::numeric > 1000 or coalesce(nullif(v_count[3], ''), '0')::numeric > 1000 then
            raise exception 'invalid regular expression: invalid repetition size: {%}',
                concat_ws(',', v_count[1], v_count[3]) using errcode = 'AIG06',
                hint = 'RE2 syntax: repetition counts up to 1000.';
        end if;
    end loop;
    -- What is left is checked by compiling it as PostgreSQL's own syntax, with RE2's
    -- extensions (named groups, flags anywhere, Unicode classes, \x{…}, \z, \Q…\E, counts
    -- over 255) first replaced by equivalents that compile the same.
    v_neutral := regexp_replace(v_pattern, '\\Q.*?(\\E|$)', 'x', 'g');
    v_neutral := regexp_replace(v_neutral, '\(\?P?<[A-Za-z_][A-Za-z0-9_]*>', '(', 'g');
    v_neutral := regexp_replace(v_neutral, '\(\?[imsU-]+\)', '', 'g');
    v_neutral := regexp_replace(v_neutral, '\(\?[imsU-]+:', '(?:', 'g');
    v_neutral := regexp_replace(v_neutral, '\\[pP](\{\^?[A-Za-z_]+\}|[A-Za-z])', 'x', 'g');
    v_neutral := regexp_replace(v_neutral, '\\x\{[0-9A-Fa-f]+\}', 'x', 'g');
    v_neutral := regexp_replace(v_neutral, '\\z', '\Z', 'g');
    v_neutral := regexp_replace(v_neutral, '\{[0-9]+(,[0-9]*)?\}', '{1}', 'g');
    perform '' ~ v_neutral;
exception
    when invalid_regular_expression then
        raise exception 'invalid regular expression: %', sqlerrm using errcode = 'AIG06',
            hint = 'RE2 syntax: no lookaround, no backreferences, repetition counts up to 1000.';
end
$$;

create or replace function policy.check_terms_config(p_config jsonb) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    if jsonb_typeof(p_config -> 'terms') is distinct from 'array'
       or jsonb_array_length(p_config -> 'terms') not between 1 and 1000
       or exists (select 1 from jsonb_array_elements(p_config -> 'terms') t
                   where jsonb_typeof(t) <> 'string'
                      or char_length(btrim(t #>> '{}')) = 0
                      or char_length(t #>> '{}') > 200) then
        raise exception 'deny_list needs "terms": 1 to 1000 non-blank strings of at most 200 characters'
            using errcode = 'AIG06';
    elsif jsonb_typeof(p_config -> 'case_sensitive') not in ('boolean', 'null')
          or jsonb_typeof(p_config -> 'whole_words') not in ('boolean', 'null') then
        raise exception '"case_sensitive" and "whole_words" must be true or false'
            using errcode = 'AIG06';
    end if;
end
$$;

create or replace function policy.check_max_tokens_config(p_config jsonb) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_max numeric;
begin
    if jsonb_typeof(p_config -> 'max_tokens') = 'number' then
        v_max := (p_config ->> 'max_tokens')::numeric;
    end if;
    if v_max is null or v_max % 1 <> 0 or v_max not between 1 and 10000000 then
        raise exception 'max_input_tokens needs "max_tokens": a whole number from 1 to 10000000'
            using errcode = 'AIG06';
    end if;
end
$$;

-- The recognisers of api/guardrails/recognizers.py (PII and SECRETS), by name.
create or replace function policy.check_pii_config(p_config jsonb) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    if jsonb_typeof(p_config -> 'entities') is distinct from 'array'
       or jsonb_array_length(p_config -> 'entities') = 0
       or not ((p_config -> 'entities')
               <@ '["email", "credit_card", "iban", "us_ssn", "uk_nino", "phone",
                    "ip_address"]'::jsonb) then
        raise exception 'pii_redact needs "entities": a non-empty list of known PII kinds'
            using errcode = 'AIG06',
            hint = 'Entities: email, credit_card, iban, us_ssn, uk_nino, phone, ip_address.';
    end if;
end
$$;

create or replace function policy.check_secrets_config(p_config jsonb) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_config ? 'types'
       and (jsonb_typeof(p_config -> 'types') is distinct from 'array'
            or jsonb_array_length(p_config -> 'types') = 0
            or not ((p_config -> 'types')
                    <@ '["aws_access_key", "aws_secret_key", "private_key", "github_token",
                         "slack_token", "slack_webhook", "stripe_key", "openai_key",
                         "anthropic_key", "aigw_key", "jwt"]'::jsonb)) then
        raise exception 'secrets takes "types": a non-empty list of known secret kinds (or none: all)'
            using errcode = 'AIG06',
            hint = 'Types: aws_access_key, aws_secret_key, private_key, github_token, slack_token, '
                   'slack_webhook, stripe_key, openai_key, anthropic_key, aigw_key, jwt.';
    end if;
end
$$;

create function api.set_guardrail(
    p_team text, p_name text, p_stage text, p_kind text, p_config jsonb, p_action text,
    p_enabled boolean default true
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
    v_id uuid;
begin
    perform iam.require_authenticated();
    if p_team is not null then
        v_team := iam.team_id(p_team);
    end if;
    perform policy.check_guardrail(p_stage, p_kind, p_config, p_action);
    insert into policy.guardrails as g (team_id, name, stage, kind, config, action, enabled,
                                        created_by)
    values (v_team, p_name, p_stage, p_kind, p_config, p_action, coalesce(p_enabled, true),
            iam.active_user_id())
    on conflict (coalesce(team_id, '00000000-0000-0000-0000-000000000000'), name) do update
       set stage = excluded.stage, kind = excluded.kind, config = excluded.config,
           action = excluded.action, enabled = excluded.enabled, updated_at = now()
    returning g.id into v_id;
    -- Every gateway reloads its rules at commit (principals are unchanged).
    perform iam.principals_changed('guardrails');
    return v_id;
exception
    when check_violation or not_null_violation then
        raise exception 'invalid guardrail name "%"', p_name using errcode = 'AIG06',
            hint = 'Use lowercase letters, digits, ".", "_" or "-" (at most 63 characters).';
    when insufficient_privilege then
        raise exception 'you may not set %',
            case when p_team is null then 'global guardrails'
                 else format('the guardrails of team "%s"', p_team) end
            using errcode = 'AIG03',
            hint = 'Global rules are set by platform admins, a team''s by the owner of its area.';
end
$$;
comment on function api.set_guardrail(text, text, text, text, jsonb, text, boolean) is
    'Create or replace a guardrail by team and name (team null: a global rule); every '
    'gateway enforces it at once. Kinds: regex {"pattern" (RE2), "case_sensitive"}, '
    'block_pattern (the same, block or flag), deny_list {"terms", "case_sensitive", '
    '"whole_words"}, pii_redact {"entities"}, secrets {"types"} (none: all), '
    'max_input_tokens {"max_tokens"} (input only); actions block, redact, flag. Platform '
    'admins; area owners for their teams. Example: select api.set_guardrail(null, '
    '''no-secrets'', ''input'', ''secrets'', ''{}'', ''block'');';

create function api.list_guardrails(p_team text default null)
returns table (id uuid, team text, name text, stage text, kind text, config jsonb,
               action text, enabled boolean, created_by text, created_at timestamptz,
               updated_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v_team uuid;
begin
    -- A named team must be visible: the global rules alone would pass for its own.
    if p_team is not null then
        v_team := iam.team_id(p_team);
    end if;
    return query
        select g.id, t.name, g.name, g.stage, g.kind, g.config, g.action, g.enabled, u.email,
               g.created_at, g.updated_at
          from policy.guardrails g
          left join iam.teams t on t.id = g.team_id
          left join iam.users u on u.id = g.created_by
         where p_team is null or g.team_id is null or g.team_id = v_team
         order by t.name nulls first, g.stage, g.name;
end
$$;
comment on function api.list_guardrails(text) is
    'Guardrails the caller may see; with a team, the rules that apply to it (its own and the '
    'global ones).';

create function api.delete_guardrail(p_id uuid) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not exists (select 1 from policy.guardrails g where g.id = p_id) then
        raise exception 'guardrail % not found', p_id using errcode = 'AIG04',
            hint = 'List them with: select * from api.list_guardrails();';
    end if;
    delete from policy.guardrails where id = p_id;
    if not found then
        raise exception 'you may not delete guardrail %', p_id using errcode = 'AIG03',
            hint = 'Global rules are removed by platform admins, a team''s by the owner of its area.';
    end if;
    perform iam.principals_changed('guardrails');
end
$$;
comment on function api.delete_guardrail(uuid) is
    'Remove a guardrail (platform admins; area owners for their teams).';

-- What the gateway enforces, before any principal is known: every enabled rule of every
-- team, read once at start and again when a rule changes (no round trip per request).
grant select on policy.guardrails to aigw_internal;
create policy "internal functions read every guardrail" on policy.guardrails
    for select to aigw_internal using (true);

set local role aigw_internal;

create function api.gateway_guardrails()
returns table (id uuid, team_id uuid, name text, stage text, kind text, config jsonb,
               action text)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select g.id, g.team_id, g.name, g.stage, g.kind, g.config, g.action
      from policy.guardrails g
     where g.enabled
     -- global rules first, then each team's, each in a stable order
     order by g.team_id nulls first, g.stage, g.name
$$;
comment on function api.gateway_guardrails() is
    'The enabled guardrails of every team and the global ones, as the gateway enforces them.';

set local role aigw_owner;

-- ---------------------------------------------------------------------------
-- MCP servers
-- ---------------------------------------------------------------------------

create function api.register_mcp_server(
    p_name text, p_url text, p_description text default null, p_team text default null,
    p_enabled boolean default true
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
    v_id uuid;
    v_constraint text;
begin
    perform iam.require_authenticated();
    if p_team is not null then
        v_team := iam.team_id(p_team);
    end if;
    insert into policy.mcp_servers (name, url, description, team_id, enabled, created_by)
    values (p_name, p_url, p_description, v_team, coalesce(p_enabled, true), iam.active_user_id())
    returning id into v_id;
    return v_id;
exception
    when unique_violation then
        raise exception 'MCP server "%" is already registered', p_name using errcode = 'AIG05';
    when check_violation or not_null_violation then
        get stacked diagnostics v_constraint = constraint_name;
        if v_constraint = 'mcp_servers_url_is_https_or_local' or p_url is null then
            raise exception 'MCP server URL must be https, or http to localhost: "%"', p_url
                using errcode = 'AIG06',
                hint = 'e.g. https://mcp.example.com/sse or http://localhost:8931/mcp '
                       '(no user:password@ in the URL).';
        end if;
        raise exception 'invalid MCP server: %', sqlerrm using errcode = 'AIG06',
            hint = 'Name: lowercase letters, digits, ".", "_" or "-" (at most 63 characters); '
                   'description: at most 500 characters.';
    when insufficient_privilege then
        raise exception 'you may not register %',
            case when p_team is null then 'shared MCP servers'
                 else format('MCP servers for team "%s"', p_team) end
            using errcode = 'AIG03',
            hint = 'Shared servers are registered by platform admins, a team''s by the owner of its area.';
end
$$;
comment on function api.register_mcp_server(text, text, text, text, boolean) is
    'Register a Model Context Protocol server (https, or http to localhost) for one team or '
    '(team null) for all. Platform admins; area owners for their teams. Example: '
    'select api.register_mcp_server(''github'', ''https://mcp.example.com/github'');';

create function api.list_mcp_servers()
returns table (id uuid, name text, url text, description text, team text, enabled boolean,
               created_by text, created_at timestamptz, updated_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select s.id, s.name, s.url, s.description, t.name, s.enabled, u.email, s.created_at,
           s.updated_at
    from policy.mcp_servers s
    left join iam.teams t on t.id = s.team_id
    left join iam.users u on u.id = s.created_by
    order by s.name
$$;
comment on function api.list_mcp_servers() is
    'MCP servers the caller may see: the shared ones and those of teams they see.';

-- Visible but not writable is a refusal (AIG03); invisible is absent (AIG04).
create or replace function policy.require_visible_mcp_server(p_name text) returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if not exists (select 1 from policy.mcp_servers s where s.name = p_name) then
        raise exception 'MCP server "%" not found', p_name using errcode = 'AIG04',
            hint = 'List them with: select * from api.list_mcp_servers();';
    end if;
end
$$;

create function api.set_mcp_server_enabled(p_name text, p_enabled boolean) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if p_enabled is null then
        raise exception 'enabled must be true or false' using errcode = 'AIG06';
    end if;
    perform policy.require_visible_mcp_server(p_name);
    update policy.mcp_servers set enabled = p_enabled, updated_at = now() where name = p_name;
    if not found then
        raise exception 'you may not change MCP server "%"', p_name using errcode = 'AIG03',
            hint = 'Shared servers are changed by platform admins, a team''s by the owner of its area.';
    end if;
end
$$;
comment on function api.set_mcp_server_enabled(text, boolean) is
    'Enable or disable a registered MCP server (platform admins; area owners for their teams).';

create function api.delete_mcp_server(p_name text) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    perform policy.require_visible_mcp_server(p_name);
    delete from policy.mcp_servers where name = p_name;
    if not found then
        raise exception 'you may not remove MCP server "%"', p_name using errcode = 'AIG03',
            hint = 'Shared servers are removed by platform admins, a team''s by the owner of its area.';
    end if;
end
$$;
comment on function api.delete_mcp_server(text) is
    'Remove an MCP server from the registry (platform admins; area owners for their teams).';

-- ---------------------------------------------------------------------------
-- Teams: rename and delete (create and list are in sql/iam.sql)
-- ---------------------------------------------------------------------------

create function api.rename_team(p_name text, p_new_name text) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
begin
    perform iam.require_authenticated();
    v_team := iam.team_id(p_name);
    update iam.teams set name = p_new_name where id = v_team;
    if not found then
        raise exception 'you may not rename team "%"', p_name using errcode = 'AIG03',
            hint = 'Teams are renamed by the owner of their area or a platform admin.';
    end if;
    -- Gateways cache principals, team name included.
    perform iam.principals_changed();
exception
    when unique_violation then
        raise exception 'team "%" already exists', p_new_name using errcode = 'AIG05';
    when check_violation or not_null_violation then
        raise exception 'invalid team name "%"', p_new_name using errcode = 'AIG06',
            hint = 'Use lowercase letters, digits, ".", "_" or "-" (at most 63 characters).';
end
$$;
comment on function api.rename_team(text, text) is
    'Rename a team (area owners in their area, platform admins); its keys keep working.';

create function api.delete_team(p_name text) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
begin
    perform iam.require_authenticated();
    v_team := iam.team_id(p_name);
    delete from iam.teams where id = v_team;
    if not found then
        raise exception 'only platform admins delete teams' using errcode = 'AIG03',
            hint = 'Deleting a team deletes its keys, budgets and policies; revoke keys instead.';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.delete_team(text) is
    'Delete a team with its keys, service accounts, memberships, budgets, policies, guardrails '
    'and MCP servers (platform admins). Its request events are kept.';

-- Changes to guardrails and MCP servers are audited like every administrative table.
set local role aigw_owner;
select audit.track('policy.guardrails');
select audit.track('policy.mcp_servers');
