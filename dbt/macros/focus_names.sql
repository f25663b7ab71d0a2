{#- FOCUS's provider, publisher and service names for the model registry's provider
    codes (policy.models.provider): who provides and invoices the service, who made the
    model, and what the service is called. -#}
{% macro focus_provider_name(provider) -%}
case {{ provider }}
    when 'anthropic' then 'Anthropic'
    when 'openai' then 'OpenAI'
    when 'azure' then 'Microsoft'
    when 'azure_ai' then 'Microsoft'
    when 'github' then 'GitHub'
    when 'gemini' then 'Google'
    when 'mock' then 'aigw mock provider'
    else initcap({{ provider }})
end
{%- endmacro %}

{% macro focus_service_name(provider) -%}
case {{ provider }}
    when 'anthropic' then 'Claude API'
    when 'openai' then 'OpenAI API'
    when 'azure' then 'Azure OpenAI'
    when 'azure_ai' then 'Azure AI Foundry'
    when 'github' then 'GitHub Models'
    when 'gemini' then 'Gemini API'
    when 'mock' then 'aigw mock provider'
    else initcap({{ provider }})
end
{%- endmacro %}

{% macro focus_publisher_name(model, provider) -%}
case
    when {{ model }} like 'claude%' then 'Anthropic'
    when {{ model }} ~ '^(azure-|copilot-)?(gpt|o[0-9]|text-embedding|dall-e|whisper)' then 'OpenAI'
    when {{ model }} like 'phi%' then 'Microsoft'
    when {{ model }} like 'deepseek%' then 'DeepSeek'
    when {{ model }} like 'llama%' then 'Meta'
    when {{ model }} like 'gemini%' then 'Google'
    when {{ model }} like 'mistral%' then 'Mistral AI'
    else {{ focus_provider_name(provider) }}
end
{%- endmacro %}
