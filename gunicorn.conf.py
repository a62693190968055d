"""Settings every gunicorn start shares (`scripts/serve.sh`, the tests' live server, the bench):
gunicorn's own error responses are problem+json too."""


def post_worker_init(worker):
    """Once the app is loaded in a worker, render gunicorn's errors with its problem `type`."""
    from core.gunicorn_errors import install

    install(worker.wsgi.config["PROBLEM_TYPE_BASE"])
