with source as (
    select
        id,
        name,
        created_at
    from {{ source('iam', 'areas') }}
),

renamed as (
    select
        id as area_id,
        name as area_name,
        created_at
    from source
)

select * from renamed
