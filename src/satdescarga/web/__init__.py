"""`satdescarga serve`: the web pages (Spanish, for accountants) and the HTTP API (`/api/v1`,
for ERPs) over one read model, behind real authentication.

- `app.py`: builds the application (routers, middleware, templates, static), nothing else.
- `context.py`: what every route reaches (`WebContext`: the read model, the accounts, the
  actions, the settings).
- `auth.py`: who is asking (sessions, tokens), roles and RFC scopes, CSRF, throttling: the
  dependencies every route uses.
- `accounts/`: people, sessions, API tokens and the audit log (PostgreSQL for a fleet, memory
  for a folder).
- `actions.py`: what changes the fleet (policy, run now, add, renew, remove), the same calls as
  `satdescarga fleet ...`, each checked and audited.
- `api.py`, `exports.py`: `/api/v1` and the streamed files.
- `pages.py`, `admin.py`, `templates/`, `static/`: the pages; htmx, no inline scripts.
- `headers.py`, `errors.py`: security headers, and errors as `{"error": {"code", "message"}}`.
"""
