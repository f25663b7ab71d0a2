with source as (
    select
        id,
        name,
        area_id,
        created_at
    from {{ source('iam', 'teams') }}
),

renamed as (
    select
        id as team_id,
        name as team_name,
        area_id,
        created_at
    from source
)

select * from renamed
