{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_area_id',
    indexes=[
        {'columns': ['daily_cost_by_area_id'], 'unique': True},
        {'columns': ['area_id', 'usage_day']},
        {'columns': ['usage_day']},
    ],
) }}

{{ cost_rollup(['area_id']) }}
