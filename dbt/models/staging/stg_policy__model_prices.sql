with source as (
    select
        model,
        input_usd_per_mtok,
        output_usd_per_mtok,
        cached_input_usd_per_mtok,
        updated_at
    from {{ source('policy', 'pricing') }}
),

renamed as (
    select
        model as model_name,
        input_usd_per_mtok,
        output_usd_per_mtok,
        cached_input_usd_per_mtok,
        updated_at
    from source
)

select * from renamed
