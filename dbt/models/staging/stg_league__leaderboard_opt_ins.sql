with source as (
    select
        user_id,
        on_team_board,
        on_company_board,
        updated_at
    from {{ source('league', 'leaderboard_opt_ins') }}
),

renamed as (
    select
        user_id,
        on_team_board as is_on_team_board,
        on_company_board as is_on_company_board,
        updated_at
    from source
)

select * from renamed
