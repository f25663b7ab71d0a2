"""The admin and developer portals: server-rendered pages in the gateway's own process.

Pages live at the product's paths (/admin, /admin/teams, /portal, …), several of which are
also JSON API paths (GET /admin/teams lists teams for scripts). Which one answers is
decided per request, before routing, by `web.PortalRouting`:

- a GET or HEAD whose `Accept` header names `text/html` (every browser navigation does;
  curl, httpx and the SDKs send `*/*` or `application/json`), or that htmx sends
  (`HX-Request: true`), gets the page;
- a POST whose body is a form (`application/x-www-form-urlencoded`) gets the page's form
  handler; the JSON API takes JSON bodies only, so no script loses a route;
- everything else reaches the JSON API unchanged.

The page routes are registered under an internal prefix (`/_pages`) and left out of the
OpenAPI document, so the JSON API's routes, schema and tests are exactly as before.

Every page reads and writes through the same api.* functions as the JSON routes, in a
transaction that runs as the signed-in user: row-level security decides what each role
sees. What the templates hide (a form a viewer may not use) is courtesy; the database's
refusal is the rule.
"""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the portals on `app`: the routing middleware, the page routes, the assets."""
    from portals import admin_pages, analytics_pages, developer, developer_analytics, signin, web

    app.add_middleware(web.PortalRouting)
    app.mount(web.ASSETS_PATH, web.assets(), name="portal-assets")
    for module in (signin, admin_pages, analytics_pages, developer, developer_analytics):
        app.include_router(module.router, prefix=web.PAGES_PREFIX, include_in_schema=False)
    app.include_router(web.not_found_router(), prefix=web.PAGES_PREFIX, include_in_schema=False)
