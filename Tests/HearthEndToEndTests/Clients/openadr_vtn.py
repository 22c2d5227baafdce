"""An OpenADR 3.1 VTN stand-in for Hearth's VEN tests, whose programs, events, VEN objects and notifications are
built and serialised by an independent OpenADR 3 library (`openadr3` on PyPI, its raw Pydantic models), not by
hand-written JSON, and whose checks of what the VEN sends use the same models.

Serves on 127.0.0.1 (a port the kernel picks, printed as `PORT n`):
  GET  /auth/server                    -> tokenURL (at a path other than the usual /auth/token)
  POST /oauth/token                    client credentials -> bearer token
  GET  /programs, /events              paged with skip/limit (at most 50 a page, as many VTNs cap it)
  GET  /vens?venName=, POST /vens      VEN_VEN_REQUEST only; business logic grants the targets
  GET  /subscriptions, POST, DELETE /subscriptions/{id}
  POST /reports                        validated as a 3.1 report and kept
Test control (no token):
  POST /_test/events        {"events": [spec, ...], "raw": [dict, ...], "filler": n, "notify_base": url}
  GET  /_test/state         what the VEN did: registrations, subscriptions, reports, pages read, token requests
  GET  /_test/wait?what=reports&count=n&timeout=s   returns once that many are kept (or the timeout passed)
A spec: {"id", "program", "targets", "start_in", "duration", "randomize", "type", "value", "units",
         "report": [{"payloadType", "readingType", "units"}], "event_duration"}.
"""

import datetime
import json
import sys
import threading
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openadr3.entities.raw import (
    RawEvent,
    RawEventPayloadDescriptor,
    RawInterval,
    RawIntervalPeriod,
    RawNotification,
    RawProgram,
    RawReport,
    RawReportDescriptor,
    RawSubscription,
    RawValuesMap,
    RawVen,
)

CLIENT_ID = "hearth-ven"
CLIENT_SECRET = "s3cret"
PAGE_CAP = 50


def dump(model):
    return model.model_dump(by_alias=True, exclude_none=True)


def rfc3339(seconds_from_now):
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return at.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def seconds_duration(seconds):
    return f"PT{int(seconds)}S"


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.token = "token-" + uuid.uuid4().hex
        self.programs = [
            dump(RawProgram(id="program-1", program_name="feeder-relief", payload_descriptors=[])),
        ]
        self.events = []
        self.vens = []
        self.subscriptions = []
        self.reports = []
        self.pages = []
        self.token_requests = 0
        self.refused = []
        self.notified = []


STATE = State()


def build_event(spec):
    """One event, built with the library's models from a test's compact spec."""
    units = spec.get("units")
    payload_type = spec.get("type", "SIMPLE")
    descriptors = None
    if units:
        descriptors = [RawEventPayloadDescriptor(object_type="EVENT_PAYLOAD_DESCRIPTOR", payload_type=payload_type, units=units)]
    reports = None
    if spec.get("report"):
        reports = [RawReportDescriptor(**r) for r in spec["report"]]
    period = RawIntervalPeriod(
        start=rfc3339(spec.get("start_in", 0)),
        duration=seconds_duration(spec["duration"]) if "duration" in spec else None,
        randomize_start=seconds_duration(spec.get("randomize", 0)),
    )
    event = RawEvent(
        id=spec["id"],
        program_id=spec.get("program", "program-1"),
        event_name=spec.get("name", spec["id"]),
        targets=spec.get("targets"),
        payload_descriptors=descriptors,
        report_descriptors=reports,
        interval_period=period,
        duration=seconds_duration(spec["event_duration"]) if "event_duration" in spec else None,
        intervals=[RawInterval(id=0, payloads=[RawValuesMap(type=payload_type, values=[spec.get("value", 1)])])],
    )
    return dump(event)


def filler_event(index):
    """An event of the program that ended long ago: it only makes the list longer than a page."""
    return dump(
        RawEvent(
            id=f"past-{index}",
            program_id="program-1",
            event_name=f"past-{index}",
            targets=["nobody"],
            interval_period=RawIntervalPeriod(start="2020-01-01T00:00:00Z", duration="PT1H"),
            intervals=[RawInterval(id=0, payloads=[RawValuesMap(type="SIMPLE", values=[1])])],
        )
    )


def notify(objects):
    """Tells every subscription of the changed objects, as a 3.1 VTN does (a notification per object)."""
    with STATE.lock:
        subscriptions = list(STATE.subscriptions)
        base = STATE.notify_base if hasattr(STATE, "notify_base") else None
    for subscription in subscriptions:
        for operation in subscription["objectOperations"]:
            if "EVENT" not in operation["objects"] or "POST" not in operation["operations"]:
                continue
            url = operation["callbackUrl"]
            if base:
                # The VEN names itself by the URL a real VTN would use; the stand-in resolves it to the test's port.
                parts = urllib.parse.urlsplit(url)
                url = base.rstrip("/") + parts.path
            for obj in objects:
                body = RawNotification(object_type="EVENT", operation="POST", object=obj, targets=obj.get("targets"))
                data = json.dumps(body.model_dump(by_alias=True, exclude_none=True)).encode()
                request = urllib.request.Request(url, data=data, method="POST")
                request.add_header("Content-Type", "application/json")
                if operation.get("bearerToken"):
                    request.add_header("Authorization", "Bearer " + operation["bearerToken"])
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        status = response.status
                except urllib.error.HTTPError as error:
                    status = error.code
                with STATE.lock:
                    STATE.lock.notify_all()
                    STATE.notified.append({"url": url, "status": status, "event": obj.get("id")})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def authorised(self):
        if self.headers.get("Authorization") == "Bearer " + STATE.token:
            return True
        self.reply(401, {"title": "unauthorized", "status": 401})
        return False

    def page(self, items, query):
        skip = int(query.get("skip", ["0"])[0])
        limit = min(int(query.get("limit", [str(PAGE_CAP)])[0]), PAGE_CAP)
        return items[skip : skip + limit]

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        port = self.server.server_address[1]
        if url.path == "/auth/server":
            return self.reply(200, {"tokenURL": f"http://127.0.0.1:{port}/oauth/token"})
        if url.path == "/_test/wait":
            what = query.get("what", ["reports"])[0]
            count = int(query.get("count", ["1"])[0])
            timeout = min(float(query.get("timeout", ["20"])[0]), 60)
            with STATE.lock:
                STATE.lock.wait_for(lambda: len(getattr(STATE, what)) >= count, timeout=timeout)
                return self.reply(200, {"count": len(getattr(STATE, what))})
        if url.path == "/_test/state":
            with STATE.lock:
                return self.reply(
                    200,
                    {
                        "vens": STATE.vens,
                        "subscriptions": STATE.subscriptions,
                        "reports": STATE.reports,
                        "pages": STATE.pages,
                        "token_requests": STATE.token_requests,
                        "refused": STATE.refused,
                        "notified": STATE.notified,
                    },
                )
        if not self.authorised():
            return
        if url.path == "/programs":
            with STATE.lock:
                return self.reply(200, self.page(STATE.programs, query))
        if url.path == "/events":
            with STATE.lock:
                STATE.pages.append({"skip": query.get("skip", ["0"])[0], "limit": query.get("limit", [""])[0]})
                return self.reply(200, self.page(STATE.events, query))
        if url.path == "/vens":
            name = query.get("venName", [None])[0]
            with STATE.lock:
                return self.reply(200, [v for v in STATE.vens if name is None or v["venName"] == name])
        if url.path == "/subscriptions":
            name = query.get("clientName", [None])[0]
            with STATE.lock:
                return self.reply(200, [s for s in STATE.subscriptions if name is None or s["clientName"] == name])
        self.reply(404, {"title": "not found", "status": 404})

    def do_DELETE(self):
        if not self.authorised():
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/subscriptions/"):
            wanted = url.path.rsplit("/", 1)[1]
            with STATE.lock:
                STATE.subscriptions = [s for s in STATE.subscriptions if s.get("id") != wanted]
            return self.reply(200, {})
        self.reply(404, {"title": "not found", "status": 404})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.body()
        if url.path == "/oauth/token":
            form = urllib.parse.parse_qs(raw.decode())
            with STATE.lock:
                STATE.token_requests += 1
            if form.get("grant_type") != ["client_credentials"] or form.get("client_id") != [CLIENT_ID] or form.get(
                "client_secret"
            ) != [CLIENT_SECRET]:
                return self.reply(401, {"error": "invalid_client"})
            return self.reply(200, {"access_token": STATE.token, "token_type": "Bearer", "expires_in": 3600})
        if url.path == "/_test/events":
            return self.control_events(json.loads(raw or b"{}"))
        if not self.authorised():
            return
        try:
            body = json.loads(raw)
        except ValueError:
            return self.reply(400, {"title": "not JSON", "status": 400})
        if url.path == "/vens":
            # 3.1: a VEN registers itself with VEN_VEN_REQUEST, which carries no targets (only business logic grants them).
            if body.get("objectType") != "VEN_VEN_REQUEST" or "targets" in body:
                with STATE.lock:
                    STATE.refused.append({"path": "/vens", "body": body})
                return self.reply(400, {"title": "VEN_VEN_REQUEST expected, without targets", "status": 400})
            ven = RawVen(
                id="ven-" + uuid.uuid4().hex[:8],
                ven_name=body["venName"],
                client_id=CLIENT_ID,
                targets=["VEN_NAME:" + body["venName"], "TRANSFORMER:T-1"],
            )
            with STATE.lock:
                STATE.lock.notify_all()
                STATE.vens.append(dump(ven))
            return self.reply(201, dump(ven))
        if url.path == "/subscriptions":
            try:
                subscription = RawSubscription.model_validate(body)
            except Exception as error:  # noqa: BLE001 - the refusal is what the test reads
                with STATE.lock:
                    STATE.refused.append({"path": "/subscriptions", "error": str(error)[:300]})
                return self.reply(400, {"title": "not a subscription", "status": 400})
            stored = dump(subscription)
            stored["id"] = "sub-" + uuid.uuid4().hex[:8]
            with STATE.lock:
                STATE.lock.notify_all()
                STATE.subscriptions.append(stored)
            return self.reply(201, stored)
        if url.path == "/reports":
            try:
                report = RawReport.model_validate(body)
            except Exception as error:  # noqa: BLE001
                with STATE.lock:
                    STATE.refused.append({"path": "/reports", "error": str(error)[:300]})
                return self.reply(400, {"title": "not a report", "status": 400})
            stored = dump(report)
            stored["received"] = body
            with STATE.lock:
                STATE.lock.notify_all()
                STATE.reports.append(stored)
            return self.reply(201, stored)
        self.reply(404, {"title": "not found", "status": 404})

    def control_events(self, body):
        built = [build_event(spec) for spec in body.get("events", [])]
        filler = [filler_event(i) for i in range(body.get("filler", 0))]
        with STATE.lock:
            if "notify_base" in body:
                STATE.notify_base = body["notify_base"]
            # Fillers first, so the events under test sit past the first page.
            STATE.events = filler + list(body.get("raw", [])) + built
        if body.get("notify"):
            threading.Thread(target=notify, args=(built,), daemon=True).start()
        return self.reply(200, {"events": len(built) + len(filler) + len(body.get("raw", []))})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    # The test ends the stand-in by closing its stdin.
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
