"""Drives the real botocore Lambda client, as the aws CLI does.

  capture          print the signed requests as JSON, signed at a fixed
                   time and never sent (regenerates botocore_requests.json)
  send URL         send the same calls to URL at the current time

Both read KUMO_AK and KUMO_SK from the environment; region is "local".
"""
import base64
import datetime
import json
import os
import sys

import botocore.auth
import botocore.session
from botocore.config import Config

FIXED = datetime.datetime(2026, 11, 25, 8, 43, 7, tzinfo=datetime.timezone.utc)


class Captured(Exception):
    pass


def client(endpoint):
    sess = botocore.session.get_session()
    return sess.create_client(
        "lambda", region_name="local", endpoint_url=endpoint,
        aws_access_key_id=os.environ["KUMO_AK"],
        aws_secret_access_key=os.environ["KUMO_SK"],
        config=Config(retries={"max_attempts": 0}))


def calls(c):
    arn = "arn:aws:lambda:local:000000000000:function:hello"
    return [
        ("get", lambda: c.get_function(FunctionName=arn + ":$LATEST")),
        ("untag", lambda: c.untag_resource(Resource=arn, TagKeys=["a", "b"])),
        ("invoke", lambda: c.invoke(FunctionName="hello", Payload=b'{"name":"kumo"}', LogType="Tail")),
    ]


def capture():
    botocore.auth.get_current_datetime = lambda *a, **k: FIXED
    c = client("http://127.0.0.1:9001")
    out = []

    def grab(request, **kw):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        out.append({
            "name": current[0],
            "method": request.method,
            "url": request.url,
            "headers": [[k, v.decode() if isinstance(v, bytes) else v] for k, v in request.headers.items()],
            "body": base64.b64encode(body).decode(),
        })
        raise Captured()

    c.meta.events.register("before-send.lambda.*", grab)
    for name, call in calls(c):
        current = [name]
        try:
            call()
        except Captured:
            pass
    json.dump(out, sys.stdout, indent=1)
    print()


def send(url):
    c = client(url)
    for name, call in calls(c):
        call()
        print("ok", name)


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        capture()
    else:
        send(sys.argv[2])
