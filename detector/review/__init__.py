"""The review service: device ingest API, operator web page, audit trail and dataset export.

Needs the ``[review]`` extra (FastAPI, SQLAlchemy, Jinja2, OpenCV for image checks); never torch.
"""
