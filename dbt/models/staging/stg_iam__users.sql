with source as (
    select
        id,
        display_name,
        status,
        created_at
    from {{ source('iam', 'users') }}
),

renamed as (
    select
        id as user_id,
        display_name,
        status = 'active' as is_active,
        created_at
    from source
)

select * from renamed
