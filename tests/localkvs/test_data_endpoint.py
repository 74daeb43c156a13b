"""GetDataEndpoint answers with the server's own URL, whatever Host header the client signed and sent.

The official C producer signs and sends ``Host`` without the port (its SigV4 code cuts the host at
``:``); a data endpoint built from that header would send it to port 80. Our independent client
does the same here, over real sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REGION, TEST_KEYS, client, make_endpoint, signing_credentials
from tests.localkvs.helpers import EndpointProcess, acks_by_timecode
from tests.mediagen import chunks, decode_indices, make_mkv
from tests.putmedia_client import PutMediaClient, post_json, sign_put_media


def data_endpoint(url: str, stream: str, host_header: str | None) -> str:
    status, headers, body = post_json(url, "/getDataEndpoint", {"StreamName": stream, "APIName": "PUT_MEDIA"},
                                      signing_credentials(), REGION, host_header=host_header)
    assert status == 200, (status, headers, body)
    return str(json.loads(body)["DataEndpoint"])


def test_port_less_host_header_gets_our_port_and_can_stream(endpoint) -> None:  # type: ignore[no-untyped-def]
    client("kinesisvideo", endpoint.url).create_stream(StreamName="c", DataRetentionInHours=1)
    host, port = endpoint.url.split("//")[1].split(":")
    assert int(port) not in (80, 443)
    url = data_endpoint(endpoint.url, "c", host_header=host)  # "127.0.0.1", no port, as the C producer
    assert url == endpoint.url
    assert data_endpoint(endpoint.url, "c", host_header=f"{host}:{port}") == endpoint.url
    # PutMedia on that URL, again signed and sent with the port-less Host header.
    head = sign_put_media(url, "c", signing_credentials(), REGION, relative=True, start_timestamp=time.time(),
                          host_header=host)
    assert ("host", host) in head
    result = PutMediaClient(url).put(head, chunks(make_mkv(30), 8192))
    assert result.status == 200
    assert list(acks_by_timecode(result).values()) == [["BUFFERING", "RECEIVED", "PERSISTED"]] * 2
    archived = client("kinesis-video-archived-media", url)
    frags = archived.list_fragments(StreamName="c")["Fragments"]
    media = archived.get_media_for_fragment_list(StreamName="c", Fragments=[f["FragmentNumber"] for f in frags])
    assert decode_indices(media["Payload"].read()) == list(range(30))


def test_listening_on_every_address_answers_with_the_name_the_client_used(data_dir: Path) -> None:
    ep = make_endpoint(data_dir, host="0.0.0.0")
    try:
        assert ep.url.startswith("http://127.0.0.1:")  # reachable from this machine, unlike 0.0.0.0
        port = ep.endpoint.port
        client("kinesisvideo", ep.url).create_stream(StreamName="w")
        assert data_endpoint(ep.url, "w", host_header="localhost") == f"http://localhost:{port}"
        # Through a port forward the client's port is not ours: ours is what the endpoint listens on.
        assert data_endpoint(ep.url, "w", host_header="127.0.0.1:8080") == f"http://127.0.0.1:{port}"
        assert data_endpoint(ep.url, "w", host_header="[::1]:8080") == f"http://[::1]:{port}"
        # A Host header that is no host name does not end up in the URL.
        assert data_endpoint(ep.url, "w", host_header="evil/path?x") == f"http://127.0.0.1:{port}"
    finally:
        ep.stop()


def test_advertise_url_for_a_server_behind_a_proxy(data_dir: Path) -> None:
    ep = make_endpoint(data_dir, advertise_url="https://kvs.example.test:8443/")
    try:
        kv = client("kinesisvideo", ep.url)
        kv.create_stream(StreamName="p")
        for api in ("PUT_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST"):
            assert kv.get_data_endpoint(StreamName="p", APIName=api)["DataEndpoint"] == "https://kvs.example.test:8443"
    finally:
        ep.stop()


def test_advertise_url_from_the_command_line(tmp_path: Path) -> None:
    ep = EndpointProcess(tmp_path / "d", "--advertise-url", "http://kvs.example.test:9000")
    try:
        kv = client("kinesisvideo", ep.url)
        kv.create_stream(StreamName="p")
        assert kv.get_data_endpoint(StreamName="p", APIName="PUT_MEDIA")["DataEndpoint"] == "http://kvs.example.test:9000"
    finally:
        assert ep.terminate() == 0
    bad = subprocess.run([sys.executable, "-m", "app", "local-endpoint", "--port", "0", "--data-dir",
                          str(tmp_path / "e"), "--advertise-url", "kvs.example.test:9000"],
                         capture_output=True, text=True, timeout=60,
                         env={"AWS_ACCESS_KEY_ID": TEST_KEYS.access_key, "AWS_SECRET_ACCESS_KEY": TEST_KEYS.secret_key,
                              "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2
    assert "must start with http:// or https://" in bad.stderr
