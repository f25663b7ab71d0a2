{#- One text key for a grain whose columns may be null (a service account's rows have no
    user): merge matches rows with `=`, which never matches null to null. -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|'
    {%- for column in columns %}, coalesce(({{ column }})::text, '~'){% endfor %}))
{%- endmacro %}
