"""The endpoints, one router per concern: ``detect`` (inference), ``status`` (models, health, metrics), ``streams``
(MJPEG) and ``page`` (the web page). They need FastAPI: :func:`edgecv.serve.app.create_app` imports them."""
