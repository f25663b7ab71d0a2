with source as (
    select
        id,
        received_at,
        key_id,
        user_id,
        service_account_id,
        team_id,
        session_id,
        hook_event_name,
        tool_name,
        permission_mode
    from {{ source('events', 'hooks') }}
),

renamed as (
    select
        id as hook_event_id,
        received_at,
        key_id,
        user_id,
        service_account_id,
        team_id,
        session_id,
        hook_event_name,
        tool_name,
        permission_mode
    from source
)

select * from renamed
