"""The back-office console: static pages served by the api (``/console/``) and the one JSON
route they need that no other module gives (``/v1/stats/rails``). Routes in :mod:`.routes`; the
pages, scripts and the vendored Chart.js under ``static/``."""
