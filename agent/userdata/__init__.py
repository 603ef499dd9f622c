"""User data: decoding, dispatch, MIME multipart, content handlers and scripts.

``dispatch.process_user_data`` is the entry point the UserDataPlugin calls; the
``cloudconfig`` package and ``templating`` module are the cloud-config and Jinja parts.
"""
