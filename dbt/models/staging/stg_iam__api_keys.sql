with source as (
    select
        id,
        prefix,
        name,
        team_id,
        owner_user_id,
        service_account_id,
        status,
        created_at,
        revoked_at
    from {{ source('iam', 'api_keys') }}
),

renamed as (
    select
        id as key_id,
        prefix as key_prefix,
        name as key_name,
        team_id,
        owner_user_id as user_id,
        service_account_id,
        status = 'active' as is_active,
        created_at,
        revoked_at
    from source
)

select * from renamed
