with source as (
    select
        id,
        team_id,
        name,
        status,
        created_at
    from {{ source('iam', 'service_accounts') }}
),

renamed as (
    select
        id as service_account_id,
        team_id,
        name as service_account_name,
        status = 'active' as is_active,
        created_at
    from source
)

select * from renamed
