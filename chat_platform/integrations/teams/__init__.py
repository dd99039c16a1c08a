"""Microsoft Teams / Bot Framework integration over the thin protocol (httpx + PyJWT).

`auth` verifies inbound JWTs, `connector` obtains tokens and posts activities, `streaming`
writes one answer (streamed or not), `cards` builds the approval Adaptive Cards, `activities`
parses incoming activities, `bot` handles a verified activity, `webhook` holds the routes.
"""
