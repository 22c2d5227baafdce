"""Reads a SPAN panel's Homie v5 topics with the Home Assistant integration's own library (`span-panel-api` on PyPI:
its Homie accumulator and device consumer, the code that builds the integration's snapshots), for a side-by-side
check of Hearth's panel client on the same broker.

Usage: span_reference_reader.py HOST PORT USER PASSWORD SERIAL
Then, per line on stdin, `snapshot MAINS_W CIRCUITS`: waits (up to 10 s) until the library's snapshot shows the
upstream lugs at MAINS_W (within 0.05 W) and that many circuits (not counting the `unmapped_tab_N` entries the
library adds for unused spaces), and prints it as one JSON line.
"""

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from span_panel_api.mqtt.accumulator import HomiePropertyAccumulator
from span_panel_api.mqtt.homie import HomieDeviceConsumer


def main():
    host, port, user, password, serial = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    accumulator = HomiePropertyAccumulator(serial)
    consumer = HomieDeviceConsumer(accumulator, panel_size=32)
    lock = threading.Lock()

    def on_message(_client, _userdata, message):
        with lock:
            consumer.handle_message(message.topic, message.payload.decode("utf-8", "replace"))

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="span-reference-" + serial)
    client.username_pw_set(user, password)
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(f"ebus/5/{serial}/#", qos=0)
    client.connect(host, port)
    client.loop_start()
    print("READY", flush=True)

    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 3 or parts[0] != "snapshot":
            continue
        mains, circuits = float(parts[1]), int(parts[2])
        deadline = time.monotonic() + 10
        snapshot = None
        while time.monotonic() < deadline:
            with lock:
                if consumer.is_ready():
                    snapshot = consumer.build_snapshot()
            named = [c for c in (snapshot.circuits if snapshot else {}) if not c.startswith("unmapped_tab_")]
            if snapshot and abs(snapshot.instant_grid_power_w - mains) <= 0.05 and len(named) == circuits:
                break
            time.sleep(0.01)
        if snapshot is None:
            print(json.dumps({"error": "the library never saw the device ready"}), flush=True)
            continue
        print(
            json.dumps(
                {
                    "grid_power_w": snapshot.instant_grid_power_w,
                    "l1_a": snapshot.upstream_l1_current_a,
                    "l2_a": snapshot.upstream_l2_current_a,
                    "l1_v": snapshot.l1_voltage,
                    "breaker_a": snapshot.main_breaker_rating_a,
                    # The library adds an `unmapped_tab_N` circuit for each unused space: only the panel's own are compared.
                    "circuits": {
                        c.name: c.instant_power_w for k, c in snapshot.circuits.items() if not k.startswith("unmapped_tab_")
                    },
                }
            ),
            flush=True,
        )
    client.loop_stop()


if __name__ == "__main__":
    main()
