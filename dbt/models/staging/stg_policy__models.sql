with source as (
    select
        name,
        provider,
        enabled,
        created_at
    from {{ source('policy', 'models') }}
),

renamed as (
    select
        name as model_name,
        provider,
        enabled as is_enabled,
        created_at
    from source
)

select * from renamed
