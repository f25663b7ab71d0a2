-- Sign-in: sessions, password logins and their throttling, registration, invitations,
-- single sign-on, service-account key rotation.
--
-- Passwords are hashed and checked by the service (argon2 lives outside the database);
-- everything else is decided here. Session and invitation tokens are random strings made
-- by the service, stored only as their SHA-256 digest, like API keys.
--
-- The functions that run before anyone is signed in (logging in, accepting an
-- invitation, SSO, reading a session) are owned by aigw_internal: there is no principal
-- yet for row-level security to see. The ones an admin calls run as aigw_owner, under the
-- policies of iam.sql, like every other api.* function.

set local role aigw_owner;

grant select, insert, update (last_seen_at, revoked_at) on iam.sessions to aigw_internal;
grant select, insert, update, delete on iam.login_throttle to aigw_internal;
grant insert on iam.users, iam.user_roles, iam.team_members to aigw_internal;
grant update (oidc_subject, oidc_issuer) on iam.users to aigw_internal;
grant select, update (accepted_at, accepted_user_id) on iam.invitations to aigw_internal;
-- an account taken over by single sign-on loses its password and personal keys
grant delete on iam.user_credentials to aigw_internal;
grant update (status, revoked_at) on iam.api_keys to aigw_internal;
grant select, insert, delete on iam.sso_used_states to aigw_internal;

create policy "internal functions manage sessions" on iam.sessions
    for all to aigw_internal using (true) with check (true);
create policy "internal functions count failed sign-ins" on iam.login_throttle
    for all to aigw_internal using (true) with check (true);
create policy "internal functions create users" on iam.users
    for insert to aigw_internal with check (true);
create policy "internal functions grant the roles of invitations and sign-ups" on iam.user_roles
    for insert to aigw_internal with check (true);
create policy "internal functions add invited members" on iam.team_members
    for insert to aigw_internal with check (true);
create policy "internal functions remove the password of an account SSO takes over"
    on iam.user_credentials for delete to aigw_internal using (true);
create policy "internal functions redeem invitations" on iam.invitations
    for all to aigw_internal using (true) with check (true);
create policy "internal functions record used sign-on states" on iam.sso_used_states
    for all to aigw_internal using (true) with check (true);

-- ---------------------------------------------------------------------------
-- Throttling: per account and per client address. Subjects are the email as typed
-- (normalised), never a user id, so a throttled answer says nothing about whether the
-- account exists.
-- ---------------------------------------------------------------------------

set local role aigw_internal;

create or replace function iam.login_limits(p_subject text, out max_failures integer,
                                            out window_length interval, out block interval)
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    -- An account: 5 wrong passwords in 15 minutes, then 15 minutes of refusals. An address:
    -- more (offices and VPNs put many people behind one), but bounded.
    -- Sign-ups from an address: 10 (each answer says whether the email is taken, so this
    -- also bounds probing for accounts).
    select case when p_subject like 'ip:%' then 50 when p_subject like 'signup:%' then 10 else 5 end,
           interval '15 minutes', interval '15 minutes'
$$;

-- The throttle's subjects: the email as typed (normalised) and the client address.
create or replace function iam.email_subject(p_email text) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    select 'email:' || left(lower(btrim(p_email)), 254)
$$;

create or replace function iam.client_subject(p_client text) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    select 'ip:' || left(nullif(btrim(p_client), ''), 45)
$$;

create or replace function iam.login_subjects(p_email text, p_client text) returns text[]
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    select array_remove(array[iam.email_subject(p_email), iam.client_subject(p_client)], null)
$$;

-- How the audit log names an email nobody may read back (it may be a mistyped password).
create or replace function iam.email_digest(p_email text) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    select encode(sha256(convert_to(left(lower(btrim(p_email)), 254), 'UTF8')), 'hex')
$$;

-- Counts an attempt before its password is checked, so that guesses sent in parallel are
-- counted as they arrive (the row lock orders them); refuses the ones past the limit.
-- The attempt that reaches the limit is still checked, and blocks the subject.
create or replace function iam.count_login_attempt(p_subject text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    l record;
    t record;
    v_wait integer;
begin
    select * into l from iam.login_limits(p_subject);
    -- A finished block or counting window starts afresh.
    update iam.login_throttle th
       set failures = 0, window_started_at = now(), blocked_until = null
     where th.subject = p_subject
       and coalesce(th.blocked_until <= now(), th.window_started_at < now() - l.window_length);
    insert into iam.login_throttle as th (subject, failures, window_started_at)
    values (p_subject, 1, now())
    on conflict (subject) do update
        set failures = th.failures + case when th.blocked_until is null then 1 else 0 end
    returning th.failures, th.blocked_until into t;
    if t.blocked_until is not null or t.failures > l.max_failures then
        v_wait := greatest(1, ceil(extract(epoch from
                      coalesce(t.blocked_until, now() + l.block) - now())));
        if p_subject like 'signup:%' then
            raise exception 'too many sign-ups from this address: try again in % seconds', v_wait
                using errcode = 'AIG08', detail = v_wait::text;
        end if;
        raise exception 'too many failed sign-in attempts: try again in % seconds', v_wait
            using errcode = 'AIG08', detail = v_wait::text,
                  hint = 'Wait, or ask an administrator to reset your password.';
    elsif t.failures = l.max_failures then
        update iam.login_throttle set blocked_until = now() + l.block where subject = p_subject;
        perform audit.record('auth.login_blocked', 'login_subject',
                             case when p_subject like 'email:%'
                                  then 'email_sha256:' || iam.email_digest(substr(p_subject, 7))
                                  else p_subject end,
                             jsonb_build_object('for_seconds', extract(epoch from l.block)));
    end if;
end
$$;

-- A successful sign-in forgives the account's failures, and its own attempt from the
-- address (an office's many successful sign-ins must not lock the office out).
create or replace function iam.forgive_login(p_email text, p_client text) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
    delete from iam.login_throttle where subject = iam.email_subject(p_email);
    update iam.login_throttle set failures = greatest(failures - 1, 0)
     where subject = iam.client_subject(p_client) and blocked_until is null;
$$;

-- ---------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------

create or replace function iam.require_argon2id(p_hash text) returns void
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_hash is null or p_hash not like '$argon2id$%' then
        raise exception 'password hash must be an argon2id hash' using errcode = 'AIG06';
    end if;
end
$$;

create function api.begin_password_login(p_email text, p_client text)
returns table (user_id uuid, password_hash text)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    s text;
begin
    foreach s in array iam.login_subjects(p_email, p_client) loop
        perform iam.count_login_attempt(s);
    end loop;
    -- No row for an unknown email or an account without a password: the service then
    -- checks a dummy hash, so both take as long as a wrong password.
    return query
        select u.id, c.password_hash
        from iam.users u join iam.user_credentials c on c.user_id = u.id
        where u.email = lower(btrim(p_email));
end
$$;
comment on function api.begin_password_login(text, text) is
    'Step 1 of a password login or change (the auth service): count the attempt against '
    'the email and the client address and refuse it past their limits (AIG08, retry '
    'seconds in the detail), else return the account''s argon2 hash for the service to '
    'check. No row: unknown email.';

create function api.record_login_failure(p_email text, p_client text) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_user uuid;
begin
    -- Named by user id when the account exists, else by a digest: what was typed as an
    -- email is sometimes a password, and the audit log keeps everything forever.
    select u.id into v_user from iam.users u where u.email = lower(btrim(p_email));
    if v_user is not null then
        perform audit.record('auth.login_failed', 'iam.users', v_user::text,
                             jsonb_build_object('client', p_client));
    else
        perform audit.record('auth.login_failed', 'email_sha256', iam.email_digest(p_email),
                             jsonb_build_object('client', p_client, 'account', 'unknown'));
    end if;
end
$$;
comment on function api.record_login_failure(text, text) is
    'Record a failed sign-in in the audit log (the attempt was counted by '
    'api.begin_password_login).';

create function api.start_session(
    p_user_id uuid, p_token_digest bytea, p_stay_signed_in boolean, p_method text,
    p_client text default null
) returns table (session_id uuid, expires_at timestamptz, must_change_password boolean)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    u record;
    v_absolute interval := case when p_stay_signed_in then interval '30 days' else interval '24 hours' end;
    v_idle interval := case when p_stay_signed_in then interval '7 days' else interval '8 hours' end;
begin
    select us.id, us.email, us.status, us.must_change_password into u
      from iam.users us where us.id = p_user_id;
    if not found or u.status <> 'active' then
        raise exception 'this account cannot sign in' using errcode = 'AIG02',
            hint = 'It is suspended: ask a platform administrator.';
    end if;
    perform iam.forgive_login(u.email, p_client);
    perform audit.record('auth.login', 'iam.users', u.id::text,
                         jsonb_build_object('method', p_method, 'client', p_client,
                                            'stay_signed_in', coalesce(p_stay_signed_in, false)));
    return query
        insert into iam.sessions as s (user_id, token_digest, expires_at, idle_timeout,
                                       stay_signed_in, method)
        values (u.id, p_token_digest, now() + v_absolute, v_idle, coalesce(p_stay_signed_in, false),
                p_method)
        returning s.id, s.expires_at, u.must_change_password;
end
$$;
comment on function api.start_session(uuid, bytea, boolean, text, text) is
    'Open a session for a user the auth service has authenticated (password, SSO, '
    'invitation or registration): 24 h absolute and 8 h idle, or 30 days and 7 days idle '
    'with "stay signed in". Only the token''s SHA-256 digest is stored.';

create function api.session_user(p_token_digest bytea)
returns table (session_id uuid, user_id uuid, email text, display_name text,
               must_change_password boolean, expires_at timestamptz, stay_signed_in boolean)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    s record;
begin
    select se.id, se.user_id, se.expires_at, se.stay_signed_in, se.last_seen_at, se.idle_timeout,
           u.email, u.display_name, u.must_change_password
      into s
      from iam.sessions se join iam.users u on u.id = se.user_id
     where se.token_digest = p_token_digest and se.revoked_at is null
       and se.expires_at > now() and se.last_seen_at + se.idle_timeout > now()
       and u.status = 'active';
    if not found then
        raise exception 'not signed in, or the session has ended' using errcode = 'AIG01',
            hint = 'Sign in again: POST /auth/login.';
    end if;
    -- The idle clock needs only a minute's precision; most reads write nothing.
    update iam.sessions se set last_seen_at = now()
     where se.id = s.id and se.last_seen_at < now() - interval '1 minute';
    return query select s.id, s.user_id, s.email, s.display_name, s.must_change_password,
                        s.expires_at, s.stay_signed_in;
end
$$;
comment on function api.session_user(bytea) is
    'The signed-in user of a session token''s digest (AIG01 when it is unknown, revoked, '
    'expired, idle too long, or its user is suspended).';

create function api.end_session(p_token_digest bytea) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_user uuid;
begin
    update iam.sessions set revoked_at = now()
     where token_digest = p_token_digest and revoked_at is null
    returning user_id into v_user;
    if v_user is not null then
        perform audit.record('auth.logout', 'iam.users', v_user::text, '{}'::jsonb);
    end if;
end
$$;
comment on function api.end_session(bytea) is 'Sign out: revoke the session of this token.';

create function api.change_own_password(p_password_hash text) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_user uuid := iam.active_user_id();
begin
    if v_user is null then
        raise exception 'not signed in' using errcode = 'AIG01';
    end if;
    perform iam.require_argon2id(p_password_hash);
    insert into iam.user_credentials (user_id, password_hash) values (v_user, p_password_hash)
    on conflict (user_id) do update set password_hash = excluded.password_hash, updated_at = now();
    update iam.users set must_change_password = false where id = v_user;
    -- Every session ends, this one included: whoever knew the old password is out.
    update iam.sessions set revoked_at = now() where user_id = v_user and revoked_at is null;
    perform iam.forgive_login((select u.email from iam.users u where u.id = v_user), null);
    perform audit.record('auth.password_changed', 'iam.users', v_user::text, '{}'::jsonb);
end
$$;
comment on function api.change_own_password(text) is
    'Replace the signed-in user''s password (argon2id hash), clear must_change_password and '
    'end all of their sessions.';

-- ---------------------------------------------------------------------------
-- New accounts: self-service registration, invitations, single sign-on
-- ---------------------------------------------------------------------------

create or replace function iam.new_account(
    p_email text, p_display_name text, p_role text, p_area uuid, p_team uuid
) returns uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id uuid;
begin
    if p_email is null or lower(btrim(p_email)) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
        raise exception 'not an email address' using errcode = 'AIG06';
    end if;
    begin
        insert into iam.users (email, display_name)
        values (lower(btrim(p_email)), nullif(btrim(p_display_name), ''))
        returning id into v_id;
    exception
        when unique_violation then
            raise exception 'an account with this email already exists' using errcode = 'AIG05',
                hint = 'Sign in instead, or reset the password with an administrator.';
        when check_violation then
            raise exception 'invalid account: %', sqlerrm using errcode = 'AIG06';
    end;
    if p_role is not null then
        insert into iam.user_roles (user_id, role, area_id, team_id)
        values (v_id, p_role,
                case when p_role = 'area_owner' then p_area end,
                case when p_role = 'team_admin' then p_team end);
    end if;
    if p_team is not null then
        insert into iam.team_members (team_id, user_id) values (p_team, v_id);
    end if;
    return v_id;
end
$$;

-- Its own statement, before the sign-up: an attempt that fails (an email already taken)
-- still counts.
create function api.count_signup_attempt(p_client text) returns void
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    select iam.count_login_attempt('signup:' || coalesce(left(btrim(p_client), 45), 'unknown'))
$$;
comment on function api.count_signup_attempt(text) is
    'Count a self-service sign-up from a client address: at most 10 in 15 minutes (AIG08).';

create function api.register_user(p_email text, p_display_name text, p_password_hash text)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id uuid;
begin
    perform iam.require_argon2id(p_password_hash);
    v_id := iam.new_account(p_email, p_display_name, 'developer', null, null);
    insert into iam.user_credentials (user_id, password_hash) values (v_id, p_password_hash);
    return v_id;
end
$$;
comment on function api.register_user(text, text, text) is
    'Self-service sign-up (the auth service checks the email domain and password policy): a '
    'developer with no team yet; a team admin adds them to a team.';

-- Whether any account has this email, whoever may see it: for api.create_invitation,
-- which says there why telling its caller is no leak.
create or replace function iam.email_taken(p_email text) returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (select 1 from iam.users u where u.email = lower(btrim(p_email)))
$$;
grant execute on function iam.email_taken(text) to aigw_owner;

set local role aigw_owner;

create function api.create_invitation(
    p_email text, p_role text, p_scope text, p_token_digest bytea
) returns table (id uuid, expires_at timestamptz)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v_area uuid;
    v_team uuid;
begin
    perform iam.require_authenticated();
    if p_email is null or lower(btrim(p_email)) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
        raise exception 'not an email address: "%"', p_email using errcode = 'AIG06';
    end if;
    if p_role in ('developer', 'viewer') then
        -- Global roles; the scope, if any, is the team the new user joins.
        if p_scope is not null then
            v_team := iam.team_id(p_scope);
        end if;
    else
        select r.area_id, r.team_id into v_area, v_team from iam.role_scope(p_role, p_scope) r;
    end if;
    if exists (select 1 from iam.invitations i
                where i.email = lower(btrim(p_email)) and i.accepted_at is null
                  and i.revoked_at is null and i.expires_at > now()
                  and i.role = p_role and i.team_id is not distinct from v_team
                  and i.area_id is not distinct from v_area) then
        raise exception 'a pending invitation for this email and role exists' using errcode = 'AIG05',
            hint = 'Revoke it first (DELETE /auth/invitations/{id}) to send a new link.';
    end if;
    begin
        insert into iam.invitations as i (email, role, area_id, team_id, token_digest, invited_by)
        values (lower(btrim(p_email)), p_role, v_area, v_team, p_token_digest, iam.active_user_id())
        returning i.id, i.expires_at into id, expires_at;
    exception
        when insufficient_privilege then
            raise exception 'you may not invite to this role or team' using errcode = 'AIG03',
                hint = 'Team admins invite developers, viewers and team admins to their own teams.';
        when check_violation then
            raise exception 'invalid invitation: %', sqlerrm using errcode = 'AIG06';
    end;
    -- An email that has an account already gets no invitation: accepting it could only
    -- fail (iam.new_account), and what the person needs is the team or the role.
    -- Saying so tells whether an account exists, to an inviter who may not see it (a
    -- team admin sees only the members of teams they manage). It tells no more than that
    -- (not its roles, teams or status), and only to someone the insert above has let
    -- invite to this role and team: anyone else was refused there, whatever the email.
    -- Such an inviter learns nothing new: they hold the link and could open it
    -- themselves, which answers "an account with this email already exists" (as does
    -- registering, for anyone, where ALLOWED_EMAIL_DOMAINS allows it). The hint names
    -- the way in that the caller can use, by what they can already see.
    if iam.email_taken(p_email) then
        raise exception 'an account with this email already exists' using errcode = 'AIG05',
            hint = case
                when exists (select 1 from iam.users u where u.email = lower(btrim(p_email))) then
                    'Add it to the team with api.add_team_member(team, user id), its id from '
                    'api.list_users(); a platform admin grants a role with '
                    'POST /auth/users/{id}/roles.'
                else
                    'It is in no team you manage: ask a platform admin to add it to the team '
                    '(api.add_team_member) or grant it the role (POST /auth/users/{id}/roles).'
            end;
    end if;
    return next;
end
$$;
comment on function api.create_invitation(text, text, text, bytea) is
    'Invite an email to a role (48 h, single use; the service makes the token and passes its '
    'SHA-256 digest). Scope: area for area_owner, team for team_admin, the team to join for '
    'developer and viewer. Platform admins invite to anything; team admins to their teams. '
    'An email with an account is refused (AIG05): add that account to the team instead.';

create function api.list_invitations()
returns table (id uuid, email text, role text, area text, team text, invited_by text,
               status text, created_at timestamptz, expires_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_admin();
    return query
        select i.id, i.email, i.role, a.name, t.name, u.email,
               case when i.accepted_at is not null then 'accepted'
                    when i.revoked_at is not null then 'revoked'
                    when i.expires_at <= now() then 'expired'
                    else 'pending' end,
               i.created_at, i.expires_at
        from iam.invitations i
        left join iam.areas a on a.id = i.area_id
        left join iam.teams t on t.id = i.team_id
        left join iam.users u on u.id = i.invited_by
        order by i.created_at desc;
end
$$;
comment on function api.list_invitations() is 'Invitations of the caller''s scope (never tokens).';

create function api.revoke_invitation(p_id uuid) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_admin();
    update iam.invitations set revoked_at = now()
     where id = p_id and accepted_at is null and revoked_at is null;
    if not found then
        raise exception 'no pending invitation % that you may revoke', p_id using errcode = 'AIG04';
    end if;
end
$$;
comment on function api.revoke_invitation(uuid) is 'Revoke a pending invitation.';

set local role aigw_internal;

-- Whether a user may still grant (role, team) by invitation: the rules of the
-- invitations' insert policy, evaluated for that user rather than the caller.
create or replace function iam.may_still_invite(p_user uuid, p_role text, p_team uuid)
returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select exists (select 1 from iam.users u where u.id = p_user and u.status = 'active')
       and (
           exists (select 1 from iam.user_roles r
                    where r.user_id = p_user and r.role = 'platform_admin')
           or (p_role in ('developer', 'viewer', 'team_admin') and p_team is not null
               and exists (select 1 from iam.user_roles r
                           left join iam.teams t on t.id = p_team
                           where r.user_id = p_user
                             and ((r.role = 'team_admin' and r.team_id = p_team)
                                  or (r.role = 'area_owner' and r.area_id = t.area_id))))
       )
$$;

create function api.accept_invitation(
    p_token_digest bytea, p_display_name text, p_password_hash text
) returns table (user_id uuid, email text)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    i record;
    v_user uuid;
begin
    perform iam.require_argon2id(p_password_hash);
    -- FOR UPDATE: two redemptions of one token at once, one wins.
    select * into i from iam.invitations inv
     where inv.token_digest = p_token_digest for update;
    if not found or i.accepted_at is not null or i.revoked_at is not null or i.expires_at <= now() then
        raise exception 'this invitation is unknown, used, revoked or expired' using errcode = 'AIG04',
            hint = 'Ask the person who invited you for a new link.';
    end if;
    -- An invitation grants only what its inviter may still grant: a team admin who has
    -- since lost the team (or been suspended) cannot come back in through a link they
    -- kept. (No inviter: an operator made it.)
    if i.invited_by is not null and not iam.may_still_invite(i.invited_by, i.role, i.team_id) then
        raise exception 'this invitation is no longer valid: whoever sent it may no longer grant it'
            using errcode = 'AIG04', hint = 'Ask an administrator of the team for a new link.';
    end if;
    v_user := iam.new_account(i.email, p_display_name, i.role, i.area_id, i.team_id);
    insert into iam.user_credentials (user_id, password_hash) values (v_user, p_password_hash);
    update iam.invitations set accepted_at = now(), accepted_user_id = v_user where id = i.id;
    return query select v_user, i.email;
end
$$;
create function api.pending_invitation_email(p_token_digest bytea) returns text
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select i.email from iam.invitations i
     where i.token_digest = p_token_digest and i.accepted_at is null
       and i.revoked_at is null and i.expires_at > now()
$$;
comment on function api.pending_invitation_email(bytea) is
    'The email of a pending invitation (null: unknown, used, revoked or expired); checked '
    'before a password is hashed, so a made-up token costs no hashing.';

comment on function api.accept_invitation(bytea, text, text) is
    'Redeem an invitation token''s digest: create the account with the invited role and '
    'team and the chosen password (argon2id hash). Single use.';

create function api.sso_sign_in(
    p_issuer text, p_subject text, p_email text, p_display_name text,
    p_default_role text default 'developer', p_email_trusted boolean default false
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    u record;
    v_sessions integer;
    v_keys integer;
begin
    if p_issuer is null or p_subject is null or btrim(p_subject) = '' then
        raise exception 'the identity provider sent no subject' using errcode = 'AIG06';
    end if;
    select us.* into u from iam.users us where us.id = iam.sso_user(p_issuer, p_subject);
    if not found and p_email is not null then
        select us.* into u from iam.users us where us.email = lower(btrim(p_email));
        if found then
            if u.oidc_subject is not null then
                raise exception 'this email is linked to another SSO identity' using errcode = 'AIG03',
                    hint = 'Ask a platform administrator to check the account.';
            elsif not coalesce(p_email_trusted, false) then
                raise exception 'an account with this email exists, and the identity provider does not vouch for the address'
                    using errcode = 'AIG03',
                    hint = 'Ask a platform administrator to link the account.';
            end if;
            -- First SSO sign-in of an existing (invited, registered or bootstrapped)
            -- account. Nobody proved that whoever set its password owns the mailbox: the
            -- directory now does, so the account becomes SSO-only. Its password goes, and
            -- with it every session and personal key made while it was password-only.
            update iam.users set oidc_subject = p_subject, oidc_issuer = p_issuer,
                                 must_change_password = false
             where id = u.id;
            delete from iam.user_credentials where user_id = u.id;
            select e.sessions, e.keys into v_sessions, v_keys from iam.end_sessions_and_keys(u.id) e;
            perform audit.record('auth.sso_linked', 'iam.users', u.id::text,
                                 jsonb_build_object('issuer', p_issuer, 'sessions_ended', v_sessions,
                                                    'personal_keys_revoked', v_keys));
        end if;
    end if;
    if u.id is null then
        if p_default_role is null then
            raise exception 'no account for this identity' using errcode = 'AIG03',
                hint = 'Ask an administrator for an invitation.';
        end if;
        if p_email is null then
            raise exception 'the identity provider sent no email' using errcode = 'AIG06';
        end if;
        u.id := iam.new_account(p_email, p_display_name, p_default_role, null, null);
        update iam.users set oidc_subject = p_subject, oidc_issuer = p_issuer where id = u.id;
    elsif u.status <> 'active' then
        raise exception 'this account is suspended' using errcode = 'AIG02';
    end if;
    return u.id;
end
$$;
comment on function api.sso_sign_in(text, text, text, text, text, boolean) is
    'Map a verified SSO identity (issuer, subject = Entra oid, email) to a user: by subject; '
    'else, when the provider vouches for the email, take over the account with that email '
    '(it becomes SSO-only: password removed, sessions ended, personal keys revoked); else '
    'create one with p_default_role (null: refuse unknown identities).';

-- A login state may complete one sign-on only. Kept until p_expires_at (capped at an hour:
-- a state cookie lives ten minutes), when its cookie is refused for its age anyway.
create function api.use_sso_state(p_state_digest bytea, p_expires_at timestamptz)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_state_digest is null or octet_length(p_state_digest) <> 32 or p_expires_at is null then
        raise exception 'a state digest (32 bytes) and its expiry are required' using errcode = 'AIG06';
    end if;
    delete from iam.sso_used_states s where s.expires_at < now();
    insert into iam.sso_used_states (state_digest, expires_at)
    values (p_state_digest, least(p_expires_at, now() + interval '1 hour'))
    on conflict (state_digest) do nothing;
    return found;
end
$$;
comment on function api.use_sso_state(bytea, timestamptz) is
    'Record a single sign-on state (SHA-256 digest) as used: true the first time, false '
    'when it was used already (a replayed callback).';

-- ---------------------------------------------------------------------------
-- Service accounts: a key rotation keeps the old key alive for a grace period, so a
-- deployment can switch without an outage.
-- ---------------------------------------------------------------------------

set local role aigw_owner;

create function api.rotate_service_account_key(p_id uuid, p_grace_minutes integer default 0)
returns table (id uuid, key text, prefix text, old_keys_expire_at timestamptz)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    s record;
    v_until timestamptz := now() + make_interval(mins => coalesce(p_grace_minutes, 0));
begin
    perform iam.require_admin();
    if p_grace_minutes is null or p_grace_minutes not between 0 and 10080 then
        raise exception 'grace period must be 0 to 10080 minutes (a week)' using errcode = 'AIG06';
    end if;
    select sa.id, sa.name, sa.status, t.name as team into s
      from iam.service_accounts sa join iam.teams t on t.id = sa.team_id
     where sa.id = p_id;
    if not found then
        raise exception 'service account % not found', p_id using errcode = 'AIG04';
    elsif s.status <> 'active' then
        raise exception 'service account is %: reactivate it first', s.status using errcode = 'AIG06';
    end if;
    if p_grace_minutes = 0 then
        update iam.api_keys k set status = 'revoked', revoked_at = now()
         where k.service_account_id = p_id and k.status = 'active';
    else
        update iam.api_keys k set expires_at = least(coalesce(k.expires_at, v_until), v_until)
         where k.service_account_id = p_id and k.status = 'active';
    end if;
    return query
        select n.id, n.key, n.prefix, v_until
        from api.issue_key(s.team, left(s.name, 40) || '-' || to_char(clock_timestamp(), 'YYYYMMDD-HH24MISS-US'),
                           p_id) n;
    perform iam.principals_changed();
end
$$;
comment on function api.rotate_service_account_key(uuid, integer) is
    'Issue a new key for a service account and retire its active keys: at once (grace 0) '
    'or after p_grace_minutes. The new key''s plaintext is returned once.';

create function api.my_teams() returns text[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(array_agg(t.name order by t.name), '{}')
    from iam.teams t where t.id = any (iam.member_team_ids())
$$;
comment on function api.my_teams() is 'Names of the teams the signed-in user belongs to.';

create function api.list_all_users()
returns table (id uuid, email text, display_name text, status text,
               must_change_password boolean, roles text[], sso boolean, created_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if not iam.is_platform_admin() then
        raise exception 'only platform admins list all users' using errcode = 'AIG03',
            hint = 'Team admins see their members with api.list_users().';
    end if;
    return query
        select l.id, l.email, l.display_name, l.status, l.must_change_password, l.roles,
               u.oidc_subject is not null, l.created_at
        from api.list_users() l join iam.users u on u.id = l.id;
end
$$;
comment on function api.list_all_users() is
    'Every user with roles, status and whether they sign in by SSO (platform admins).';

set local role aigw_internal;

-- The way back in for a locked-out or forgetful user (operators: `aigw users
-- reset-password`): a one-time password, every session ended, the throttle lifted.
create function api.reset_password(p_email text, p_password_hash text) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_user uuid;
begin
    if not iam.is_platform_admin() then
        raise exception 'only platform admins reset passwords' using errcode = 'AIG03';
    end if;
    perform iam.require_argon2id(p_password_hash);
    select u.id into v_user from iam.users u where u.email = lower(btrim(p_email));
    if v_user is null then
        raise exception 'no user with email %', p_email using errcode = 'AIG04',
            hint = 'List users with: aigw users list';
    end if;
    insert into iam.user_credentials (user_id, password_hash) values (v_user, p_password_hash)
    on conflict (user_id) do update set password_hash = excluded.password_hash, updated_at = now();
    update iam.users set must_change_password = true where id = v_user;
    update iam.sessions set revoked_at = now() where user_id = v_user and revoked_at is null;
    delete from iam.login_throttle where subject = iam.email_subject(p_email);
    perform audit.record('auth.password_reset', 'iam.users', v_user::text, '{}'::jsonb);
    return v_user;
end
$$;
comment on function api.reset_password(text, text) is
    'Give a user a one-time password (argon2id hash) they must change at next sign-in; ends '
    'their sessions and lifts the sign-in throttle on their email (platform admins).';
