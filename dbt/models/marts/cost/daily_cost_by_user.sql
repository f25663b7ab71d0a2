{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_user_id',
    indexes=[
        {'columns': ['daily_cost_by_user_id'], 'unique': True},
        {'columns': ['team_id', 'usage_day']},
        {'columns': ['usage_day']},
        {'columns': ['user_id', 'usage_day']},
    ],
) }}

{{ cost_rollup(['team_id', 'user_id', 'service_account_id']) }}
