with source as (
    select
        team_id,
        user_id,
        added_at
    from {{ source('iam', 'team_members') }}
),

renamed as (
    select
        team_id,
        user_id,
        added_at
    from source
)

select * from renamed
