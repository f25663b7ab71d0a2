{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_model_id',
    indexes=[
        {'columns': ['daily_cost_by_model_id'], 'unique': True},
        {'columns': ['team_id', 'usage_day']},
        {'columns': ['usage_day']},
    ],
) }}

{{ cost_rollup(['team_id', 'model_served']) }}
